"""`spacy-repsl.warmup_linear.v1`: the usual encoder fine-tuning schedule, sized by its run.

The learning rate rises linearly over the first `warmup_fraction` of `total_steps` and falls
linearly to 0 at `total_steps` (Devlin et al., 2019; transformers' `get_linear_schedule_with_warmup`
with `warmup_ratio`). thinc's `warmup_linear.v1` takes the warm-up as a step count; a fraction
lets one config serve runs of any length (`total_steps = ${training.max_steps}`).
"""

from __future__ import annotations

from typing import Any

from thinc.api import registry, warmup_linear


@registry.schedules("spacy-repsl.warmup_linear.v1")
def warmup_linear_v1(initial_rate: float, total_steps: int, warmup_fraction: float = 0.1) -> Any:
    """thinc's `warmup_linear` with warmup_steps = round(warmup_fraction * total_steps): the
    encoder recipe (`configs/encoder.cfg`).

    Args:
        initial_rate: the peak learning rate, > 0.
        total_steps: the run's steps, >= 1 (the rate decays to 0 at the last).
        warmup_fraction: the share of steps that warm up, in [0, 1).

    Returns:
        The schedule (thinc's).

    Raises:
        ValueError: total_steps < 1 (the rate would be 0 at every step: nothing trains), a warm-up
            that fills the run, a rate <= 0.
    """
    if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
        raise ValueError(
            f"The learning-rate schedule needs total_steps >= 1, got {total_steps!r}: with 0 the rate is 0 at every "
            "step and nothing trains. It is ${training.max_steps} in configs/encoder.cfg: set training.max_steps "
            "(e.g. 3 epochs of 14,041 sentences in batches of 8: 5265)."
        )
    if not 0.0 <= warmup_fraction < 1.0:
        raise ValueError(f"warmup_fraction must be in [0, 1), got {warmup_fraction!r}.")
    if not initial_rate > 0:
        raise ValueError(f"initial_rate must be > 0, got {initial_rate!r}.")
    warmup = round(warmup_fraction * total_steps)
    if warmup >= total_steps:
        raise ValueError(
            f"A warm-up of {warmup} of {total_steps} steps leaves no step to train at the full rate and decay: lower "
            "warmup_fraction or raise total_steps (training.max_steps)."
        )
    return warmup_linear(initial_rate, warmup, total_steps)
