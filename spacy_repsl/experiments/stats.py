"""Mean and 95% confidence interval over seeds, as the papers report (t * sd / sqrt(n))."""

from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

# Two-sided 95% quantiles of Student's t, df = 1..30 (beyond that, close to 1.96).
T_975 = (
    12.706,
    4.303,
    3.182,
    2.776,
    2.571,
    2.447,
    2.365,
    2.306,
    2.262,
    2.228,
    2.201,
    2.179,
    2.160,
    2.145,
    2.131,
    2.120,
    2.110,
    2.101,
    2.093,
    2.086,
    2.080,
    2.074,
    2.069,
    2.064,
    2.060,
    2.056,
    2.052,
    2.048,
    2.045,
    2.042,
)


def t_quantile(df: int) -> float:
    if df < 1:
        raise ValueError("A confidence interval needs at least two values.")
    return T_975[df - 1] if df <= len(T_975) else 1.96


def mean_ci(values: Sequence[float]) -> Tuple[float, Optional[float]]:
    """(mean, half-width of the 95% CI); the half-width is None for a single value."""
    n = len(values)
    if n == 0:
        raise ValueError("No values to average.")
    mean = sum(values) / n
    if n == 1:
        return mean, None
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, t_quantile(n - 1) * sd / math.sqrt(n)


def format_mean_ci(values: Sequence[float], scale: float = 100.0) -> str:
    mean, half = mean_ci(values)
    return f"{mean * scale:.2f}" if half is None else f"{mean * scale:.2f} ± {half * scale:.2f}"


def bootstrap_f1_ci(counts: Sequence[Tuple[int, int, int]], samples: int = 1000, seed: int = 0) -> Tuple[float, float]:
    """95% percentile-bootstrap interval of micro-F1 over documents (Efron & Tibshirani 1993, ch. 13):
    `counts` holds each test document's (tp, fp, fn); documents are resampled with replacement
    `samples` times. This is the uncertainty of one trained model's score from the finite test set,
    not the seed-to-seed spread `mean_ci` measures. Raises ValueError for no documents."""
    import numpy

    if not len(counts):
        raise ValueError("A bootstrap interval needs at least one document.")
    f1 = _resampled_f1(counts, _picks(len(counts), samples, seed))
    low, high = numpy.percentile(f1, [2.5, 97.5])
    return float(low), float(high)


def paired_bootstrap_diff_ci(
    counts: Sequence[Tuple[int, int, int]],
    reference: Sequence[Tuple[int, int, int]],
    samples: int = 1000,
    seed: int = 0,
) -> Tuple[float, float, float]:
    """F1(counts) - F1(reference) on the same test documents, with its 95% paired-bootstrap interval
    (the same resampled documents for both systems; Koehn 2004, "Statistical significance tests for
    machine translation evaluation"). An interval that excludes 0 is a difference the test set shows.
    Raises ValueError when the two do not cover the same number of documents."""
    import numpy

    if len(counts) != len(reference) or not len(counts):
        raise ValueError(f"A paired comparison needs the same test documents ({len(counts)} vs {len(reference)}).")
    picks = _picks(len(counts), samples, seed)
    diff = _resampled_f1(counts, picks) - _resampled_f1(reference, picks)
    whole = _resampled_f1(counts, None)[0] - _resampled_f1(reference, None)[0]
    low, high = numpy.percentile(diff, [2.5, 97.5])
    return float(whole), float(low), float(high)


def _picks(n: int, samples: int, seed: int):
    import numpy

    return numpy.random.default_rng(seed).integers(0, n, size=(samples, n))


def _resampled_f1(counts: Sequence[Tuple[int, int, int]], picks):
    """Micro-F1 of each resample (rows of `picks` index documents); of all documents when None."""
    import numpy

    table = numpy.asarray(counts, dtype=numpy.float64)
    tp, fp, fn = (
        (table[:, i][picks].sum(axis=1) if picks is not None else table[:, i].sum(keepdims=True)) for i in range(3)
    )
    denominator = 2 * tp + fp + fn
    return numpy.divide(2 * tp, denominator, out=numpy.zeros_like(tp), where=denominator > 0)
