"""NaN and inf: caught at the step where they appear, never trained on, saved or loaded.

A diverged update leaves most parameters NaN; the pipeline would then save, load and predict
nothing without a word. The tagger checks the loss and the gradients of every update, and
saving and loading refuse weights that are not finite.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, List, Tuple

FIX = (
    "lower the learning rate ([training.optimizer] learn_rate), clip gradients ([training.optimizer] "
    "grad_clip = 1.0), or compute in float32 or bfloat16 instead of float16 (compute_dtype)"
)


class NonFiniteError(FloatingPointError):
    """A loss, gradient or weight that is NaN or infinite."""


def non_finite(named: Iterable[Tuple[str, Any]]) -> List[str]:
    """Names of the tensors that hold a NaN or an infinity (one device sync for all of them)."""
    import torch

    named = [(n, t) for n, t in named if t is not None]
    if not named:
        return []
    flags = torch.stack([torch.isfinite(t).all() for _, t in named]).cpu().tolist()
    return [n for (n, _), ok in zip(named, flags) if not ok]


def check_loss(loss: float, name: str, step: int) -> None:
    if not math.isfinite(loss):
        raise NonFiniteError(f"{name}: the loss is {loss} at update {step}: training diverged. To fix: {FIX}.")


def check_gradients(trainable: Iterable[Tuple[str, Any]], name: str, step: int) -> None:
    """`trainable`: (name, parameter) of the parameters that were trained."""
    bad = non_finite((n, p.grad) for n, p in trainable)
    if bad:
        raise NonFiniteError(
            f"{name}: the gradients of {len(bad)} parameter(s) are NaN or infinite at update {step} (e.g. "
            f"{bad[:3]}): training diverged. To fix: {FIX}."
        )


def check_weights(state: dict, where: str) -> None:
    bad = non_finite(state.items())
    if bad:
        raise NonFiniteError(
            f"{len(bad)} trained parameter(s) {where} are NaN or infinite (e.g. {bad[:3]}): the training that "
            f"produced them diverged, and such a pipeline predicts nothing. Retrain: {FIX}."
        )
