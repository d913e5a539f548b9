"""spacy-repsl.warmup_linear.v1: warm-up over a fraction of the run, then linear decay to 0."""

import itertools

import pytest
from thinc.api import registry


def rates(total, fraction=0.1, initial=1.0):
    return list(
        itertools.islice(registry.schedules.get("spacy-repsl.warmup_linear.v1")(initial, total, fraction), total + 2)
    )


def test_the_rate_rises_over_the_warm_up_and_falls_to_zero_at_the_last_step():
    values = rates(100)
    assert values[0] == 0.0 and values[10] == pytest.approx(1.0)
    assert values[5] == pytest.approx(0.5) and values[55] == pytest.approx(0.5)
    assert values[100] == 0.0 and values[101] == 0.0
    assert rates(1000, 0.05).index(max(rates(1000, 0.05))) == 50


@pytest.mark.parametrize(
    "total,fraction,initial,message",
    [
        (0, 0.1, 1.0, "total_steps >= 1"),
        (100, 1.0, 1.0, "warmup_fraction"),
        (1, 0.9, 1.0, "leaves no step"),
        (10, 0.96, 1.0, "leaves no step"),
        (100, 0.1, -1e-5, "initial_rate must be > 0"),
    ],
)
def test_a_schedule_that_would_train_nothing_is_refused(total, fraction, initial, message):
    with pytest.raises(ValueError, match=message):
        rates(total, fraction, initial)
