"""Calibration of confidence scores: reliability bins, expected calibration error, temperature.

Pure NumPy. A score is calibrated when, of the spans scored about p, a fraction p is right.
ECE (Naeini et al. 2015; Guo et al. 2017, "On Calibration of Modern Neural Networks"):
    ECE = sum over bins b of (n_b / N) * |accuracy_b - mean score_b|,
with 10 equal-width bins over [0, 1] by default. Temperature scaling (Guo et al. 2017): the tag
probabilities become softmax(logits / T) with one T > 0 fitted on dev; T > 1 softens
over-confident predictions. It never changes which tag is most probable, so strict-decoded spans
stay the same; only scores move. Guo et al. fit T to the gold tags' likelihood (`fit_temperature`);
what users read are entity scores, so `calibrate` fits T to the log-loss of the spans' correctness
given their scores (`span_log_loss`, `minimize_temperature`) and reports both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Sequence

import numpy


@dataclass(frozen=True)
class ReliabilityBin:
    """Scores in [low, high): how many, their mean, and the fraction of them that were right."""

    low: float
    high: float
    count: int
    mean_score: float
    accuracy: float


def reliability_bins(scores: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> List[ReliabilityBin]:
    """Equal-width bins over [0, 1] (the last one closed); empty bins are left out.
    Raises ValueError when the two sequences differ in length."""
    score_array = numpy.asarray(scores, dtype=numpy.float64)
    correct_array = numpy.asarray(correct, dtype=bool)
    if score_array.shape != correct_array.shape:
        raise ValueError(f"{len(score_array)} scores but {len(correct_array)} correctness flags: pass one per span.")
    which = numpy.minimum((score_array * n_bins).astype(int), n_bins - 1)
    out = []
    for b in range(n_bins):
        inside = which == b
        if inside.any():
            out.append(
                ReliabilityBin(
                    b / n_bins,
                    (b + 1) / n_bins,
                    int(inside.sum()),
                    float(score_array[inside].mean()),
                    float(correct_array[inside].mean()),
                )
            )
    return out


def expected_calibration_error(scores: Sequence[float], correct: Sequence[bool], n_bins: int = 10) -> float:
    """ECE in [0, 1] (module docstring); 0.0 for no spans."""
    bins = reliability_bins(scores, correct, n_bins)
    total = sum(b.count for b in bins)
    return float(sum(b.count / total * abs(b.accuracy - b.mean_score) for b in bins)) if total else 0.0


def softmax(logits: numpy.ndarray, temperature: float = 1.0) -> numpy.ndarray:
    scaled = numpy.asarray(logits, dtype=numpy.float64) / temperature
    scaled -= scaled.max(axis=-1, keepdims=True)
    exp = numpy.exp(scaled)
    return exp / exp.sum(axis=-1, keepdims=True)


def tag_nll(logits: numpy.ndarray, gold: numpy.ndarray, temperature: float) -> float:
    """Mean negative log-likelihood of the gold tag ids [n] under softmax(logits [n, tags] / T)."""
    scaled = numpy.asarray(logits, dtype=numpy.float64) / temperature
    top = scaled.max(axis=1, keepdims=True)
    log_norm = numpy.log(numpy.exp(scaled - top).sum(axis=1)) + top[:, 0]
    return float(numpy.mean(log_norm - scaled[numpy.arange(len(gold)), gold]))


def span_log_loss(scores: Sequence[float], correct: Sequence[bool]) -> float:
    """Mean binary log-loss of span correctness given the span scores (clipped to [1e-7, 1 - 1e-7])."""
    p = numpy.clip(numpy.asarray(scores, dtype=numpy.float64), 1e-7, 1 - 1e-7)
    y = numpy.asarray(correct, dtype=numpy.float64)
    return float(-numpy.mean(y * numpy.log(p) + (1 - y) * numpy.log(1 - p))) if len(y) else 0.0


def minimize_temperature(
    objective: Callable[[float], float], low: float = 0.1, high: float = 10.0, steps: int = 61
) -> float:
    """The T in [low, high] minimising `objective`: a grid over log T, then a golden-section search
    between the best point's neighbours (the objective need not be convex in T)."""
    grid = numpy.exp(numpy.linspace(numpy.log(low), numpy.log(high), steps))
    values = [objective(float(t)) for t in grid]
    best = int(numpy.argmin(values))
    a, b = numpy.log(grid[max(best - 1, 0)]), numpy.log(grid[min(best + 1, steps - 1)])
    ratio = (numpy.sqrt(5) - 1) / 2
    while b - a > 1e-4:
        c, d = b - ratio * (b - a), a + ratio * (b - a)
        if objective(float(numpy.exp(c))) <= objective(float(numpy.exp(d))):
            b = d
        else:
            a = c
    return float(numpy.exp((a + b) / 2))


def fit_temperature(logits: numpy.ndarray, gold: numpy.ndarray, low: float = 0.02, high: float = 50.0) -> float:
    """Guo et al.'s temperature: the T in [low, high] minimising `tag_nll` of the gold tag ids.
    The NLL is convex in 1/T, so a ternary search over 1/T finds the minimum to 1e-6. Raises
    ValueError without tokens."""
    gold = numpy.asarray(gold, dtype=numpy.int64)
    if len(gold) == 0:
        raise ValueError("No gold-tagged tokens to fit a temperature on: pass annotated dev docs.")
    a, b = 1.0 / high, 1.0 / low
    while b - a > 1e-6:
        m1, m2 = a + (b - a) / 3, b - (b - a) / 3
        if tag_nll(logits, gold, 1.0 / m1) <= tag_nll(logits, gold, 1.0 / m2):
            b = m2
        else:
            a = m1
    return 1.0 / ((a + b) / 2)
