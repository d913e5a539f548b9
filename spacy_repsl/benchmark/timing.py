"""Paired timing: several ways of processing the same batches, taking turns batch by batch.

On a shared machine, whole minutes run 10-25% slower at times. Alternating the contenders on
every batch puts them under the same conditions, and keeping each batch's fastest time over
several passes drops what noise adds (it only ever adds time).
"""

from __future__ import annotations

import time
from typing import Callable, Dict, List, Sequence

Runner = Callable[[int], object]  # processes batch `index`


def synchronize() -> None:
    """Wait for queued GPU work, so a timer reads the work's end (nothing to wait for on a CPU)."""
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def fastest_per_batch(
    runners: Sequence[Runner], n_batches: int, passes: int, clock: Callable[[], float] = time.perf_counter
) -> List[float]:
    """Per runner, the sum over batches of that batch's fastest time in `passes` passes."""
    if passes < 1 or n_batches < 1:
        raise ValueError(f"Need at least one pass and one batch (got {passes} and {n_batches}).")
    best = [[float("inf")] * n_batches for _ in runners]
    for _ in range(passes):
        for j in range(n_batches):
            for k, run in enumerate(runners):
                start = clock()
                run(j)
                best[k][j] = min(best[k][j], clock() - start)
    return [sum(times) for times in best]


def rates(times: Dict[str, List[float]], words: int) -> Dict[str, float]:
    """Words/s of each side's fastest round, and the median of the per-round ratios ours/hand
    (each round runs both back to back, so a round's ratio sees one machine load)."""
    paired = sorted(h / o for o, h in zip(times["ours"], times["hand"]))
    return {
        "ours": words / min(times["ours"]),
        "hand": words / min(times["hand"]),
        "median_ratio": paired[len(paired) // 2],
    }


def ratio_table(result: Dict[int, Dict[str, float]], theirs: str) -> List[str]:
    """Markdown rows of `rates` per r: ours and theirs in words/s, their ratio, the paired median."""
    return [
        f"| r | ours, words/s | {theirs}, words/s | ours / theirs (fastest rounds) | median of per-round ratios |",
        "|---|---|---|---|---|",
        *[
            f"| {r} | {v['ours']:.0f} | {v['hand']:.0f} | {v['ours'] / v['hand']:.2f} | {v['median_ratio']:.2f} |"
            for r, v in result.items()
        ],
    ]
