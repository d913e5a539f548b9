"""Mean and 95% confidence interval over seeds, as the papers report (t * sd / sqrt(n))."""
from __future__ import annotations

import math
from typing import Optional, Sequence, Tuple

# Two-sided 95% quantiles of Student's t, df = 1..30 (beyond that, close to 1.96).
T_975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
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
