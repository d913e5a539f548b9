"""The config search's pure parts: candidates and their order, the summary, the table."""

from spacy_repsl.experiments.search import candidates, search_table, summarize


def test_candidates_expand_groups_and_start_with_the_expected_strongest():
    methods = candidates(["r0", "r1", "r2", "r4", "middle", "full", "groups"], groups=2)
    assert len(methods) == 6 + 4
    assert methods[0] == "r1" and methods[-1] in ("r0", "groups:00")
    assert methods.index("groups:01") < methods.index("groups:10")  # the top group unmasked first
    assert set(methods[-2:]) == {"r0", "groups:00"}  # both are the causal model
    assert candidates(["full", "r1", "r1"], groups=4) == ["r1", "full"]


def trial(method, status, last_step, best):
    return {
        "method": method,
        "status": status,
        "last_step": last_step,
        "best_dev_f1": best,
        "evaluations": 3,
        "error": None,
        "log": "x",
    }


def test_summary_counts_stopped_trials_and_the_fraction_of_steps():
    trials = [
        trial("r1", "completed", 200, 0.9),
        trial("full", "completed", 200, 0.95),
        trial("r0", "stopped", 50, 0.6),
        trial("r2", "failed", 0, None),
    ]
    result = summarize("demo", "m", 1, "asha", trials)
    assert result["best_method"] == "full" and result["best_dev_f1"] == 0.95
    assert result["stopped_early"] == 1 and result["failed"] == 1
    assert result["steps_spent"] == 450 and result["steps_if_all_completed"] == 800
    assert result["fraction_of_steps"] == 450 / 800
    assert "| demo | m | full (95.00) | 1 of 4 | 56% |" in search_table([result])


def test_summary_without_a_completed_trial_reports_no_fraction():
    result = summarize("demo", "m", 1, "asha", [trial("r0", "failed", 0, None)])
    assert result["best_method"] is None and result["fraction_of_steps"] is None
    assert "| demo | m | – | 0 of 1 | – |" in search_table([result])
