"""Running a stage of the grid (train, evaluate) on the chosen engine.

Runs whose outputs exist are skipped here, before any engine starts, so a rerun after an
interruption only does what is missing. The local engine is imported here; the Ray engine only
when it is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, List, Optional, Sequence

from ..engines.jobs import Job, Outcome
from .grid import Run


@dataclass(frozen=True)
class EngineOptions:
    engine: str = "local"
    address: Optional[str] = None
    cpus_per_run: Optional[float] = None  # local: torch threads if given; Ray: CPUs per run (default 1)
    gpus_per_run: Optional[float] = None  # Ray: GPUs per run (default 1 with a GPU id >= 0, else 0)
    max_failures: int = 2
    gpu_id: int = -1
    num_cpus: Optional[int] = None  # a local Ray instance's CPUs (default: all)

    @property
    def gpus(self) -> float:
        if self.gpus_per_run is not None:
            return self.gpus_per_run
        return 1.0 if self.gpu_id >= 0 else 0.0

    @property
    def cpus(self) -> float:
        return self.cpus_per_run if self.cpus_per_run is not None else 1.0

    @property
    def worker_gpu_id(self) -> int:
        """The GPU a run uses: Ray makes a task's GPUs visible as 0.. through CUDA_VISIBLE_DEVICES."""
        if self.engine == "ray":
            return 0 if self.gpus > 0 else -1
        return self.gpu_id

    @property
    def threads(self) -> Optional[int]:
        if self.cpus_per_run is not None:
            return max(1, int(self.cpus_per_run))
        return None if self.engine == "local" else 1


def run_stage(
    runs: Sequence[Run],
    label: str,
    action: Callable[..., bool],
    is_done: Callable[[Run], bool],
    root: Path,
    options: EngineOptions,
    requires: Sequence[Path] = (),
) -> List[Outcome]:
    """Apply `action(run)` to every run not yet done, on the chosen engine, with a line per run."""
    runs = list(runs)
    outcomes: List[Outcome] = []
    pending: List[Run] = []
    for run in runs:
        if is_done(run):
            outcomes.append(Outcome(run.name(), "skipped", log=None))
            print(f"[{label} {len(outcomes)}/{len(runs)}] {run.name()}: already done, skipped", flush=True)
        else:
            pending.append(run)
    step = label.split()[-1]
    # Only a worker elsewhere can miss the project's files; here the caller has checked them.
    needed = (root, *requires) if options.engine == "ray" else ()
    jobs = [Job(run.name(), partial(action, run), run.log_path(root, step), needed) for run in pending]
    if options.engine == "ray":
        from ..engines.ray_tasks import run_ray

        outcomes += run_ray(
            jobs,
            label,
            address=options.address,
            cpus=options.cpus,
            gpus=options.gpus,
            max_failures=options.max_failures,
            threads=options.threads,
            num_cpus=options.num_cpus,
            offset=len(outcomes),
            total=len(runs),
        )
    else:
        from ..engines.local import run_local

        outcomes += run_local(jobs, label, threads=options.threads, offset=len(outcomes), total=len(runs))
    return outcomes
