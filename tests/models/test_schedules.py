"""spacy-repsl.warmup_linear.v1: warm-up over a fraction of the run, then linear decay to 0."""
import itertools

import pytest
from thinc.api import registry


def rates(total, fraction=0.1, initial=1.0):
    return list(itertools.islice(registry.schedules.get("spacy-repsl.warmup_linear.v1")(initial, total, fraction),
                                 total + 2))


def test_the_rate_rises_over_the_warm_up_and_falls_to_zero_at_the_last_step():
    values = rates(100)
    assert values[0] == 0.0 and values[10] == pytest.approx(1.0)
    assert values[5] == pytest.approx(0.5) and values[55] == pytest.approx(0.5)
    assert values[100] == 0.0 and values[101] == 0.0
    assert rates(1000, 0.05).index(max(rates(1000, 0.05))) == 50


@pytest.mark.parametrize("total,fraction,message", [(0, 0.1, "total_steps >= 1"), (100, 1.0, "warmup_fraction")])
def test_a_schedule_that_would_train_nothing_is_refused(total, fraction, message):
    with pytest.raises(ValueError, match=message):
        rates(total, fraction)
