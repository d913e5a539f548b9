import pytest

from spacy_repsl.benchmark.timing import fastest_per_batch


class FakeClock:
    """Time advances only when a runner 'works'."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_each_batch_keeps_its_fastest_pass_and_runners_take_turns():
    clock = FakeClock()
    calls = []
    # pass-dependent costs: runner a is slow on pass 0 (a noisy spell), runner b on pass 1
    costs = {("a", 0): [5.0, 5.0], ("a", 1): [1.0, 2.0], ("b", 0): [3.0, 1.0], ("b", 1): [9.0, 9.0]}
    passes = {"a": 0, "b": 0}

    def runner(name):
        def run(j):
            calls.append((name, j))
            clock.now += costs[(name, passes[name])][j]
            if j == 1:
                passes[name] += 1

        return run

    totals = fastest_per_batch([runner("a"), runner("b")], n_batches=2, passes=2, clock=clock)
    assert totals == [1.0 + 2.0, 3.0 + 1.0]
    assert calls[:4] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]  # alternating batch by batch


def test_needs_a_pass_and_a_batch():
    with pytest.raises(ValueError, match="at least one pass"):
        fastest_per_batch([lambda j: None], n_batches=1, passes=0)


def test_rates_keep_each_sides_fastest_round_and_the_median_paired_ratio():
    from spacy_repsl.benchmark.timing import rates

    out = rates({"ours": [2.0, 1.0, 4.0], "hand": [3.0, 1.0, 2.0]}, words=100)
    assert out["ours"] == 100.0 and out["hand"] == 100.0
    assert out["median_ratio"] == 1.0  # ratios hand/ours per round: 1.5, 1.0, 0.5
