"""The Ray engine for independent jobs (the experiment grid): one Ray task per job.

Each task asks for `cpus` CPUs and `gpus` GPUs, so as many run at once as the cluster holds. A
task whose worker process dies (killed, out of memory) is retried up to `max_failures` times; an
exception inside a job is not retried (it would fail again) but reported with its log, and the
other jobs go on. Ctrl-C cancels what is still queued or running; finished jobs stay finished.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import threading
import time
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .jobs import Job, Outcome, error_summary, execute
from .ray_cluster import cluster_resources, connected

WAIT_S = 0.5  # how long the driver waits for a run before it looks for Ctrl-C again


@contextlib.contextmanager
def ctrl_c_flag() -> Iterator[threading.Event]:
    """While waiting on Ray, Ctrl-C sets a flag instead of raising: raised inside Ray's blocking
    C++ calls, a KeyboardInterrupt can be lost (the runs then went on to the end); the wait loop
    polls the flag every WAIT_S seconds and stops itself. Outside the main thread (where Python
    delivers signals) nothing changes."""
    event = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield event
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: event.set())
    try:
        yield event
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_in_worker(job: Job, threads: Optional[int]) -> Outcome:
    return execute(job, threads=threads, echo=False)


def check_feasible(ray: Any, cpus: float, gpus: float) -> None:
    """Refuse a request that no node can ever satisfy (Ray would wait for it forever)."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    if any(n.get("CPU", 0) >= cpus and n.get("GPU", 0) >= gpus for n in nodes):
        return
    have = ", ".join(f"{n.get('CPU', 0):g} CPU/{n.get('GPU', 0):g} GPU" for n in nodes) or "no live nodes"
    raise ValueError(
        f"No node of the Ray cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s) for one run (nodes: {have}). "
        "Lower --cpus-per-run / --gpus-per-run (use --gpus-per-run 0 on machines without a GPU), or add nodes "
        "that have them."
    )


def run_ray(
    jobs: Sequence[Job],
    label: str,
    *,
    address: Optional[str] = None,
    cpus: float = 1,
    gpus: float = 0,
    max_failures: int = 2,
    threads: Optional[int] = None,
    num_cpus: Optional[int] = None,
    offset: int = 0,
    total: Optional[int] = None,
) -> List[Outcome]:
    """Run the jobs as Ray tasks; outcomes come back in the order of `jobs`.

    `offset` and `total` number the progress lines when the caller already reported some jobs."""
    if not jobs:
        return []
    total = total or offset + len(jobs)
    with connected(address, num_cpus=num_cpus) as ray:
        check_feasible(ray, cpus, gpus)
        task = ray.remote(_run_in_worker).options(
            num_cpus=cpus, num_gpus=gpus, max_retries=max_failures, retry_exceptions=False, name=label
        )
        submission = uuid.uuid4().hex[:12]
        submitted = [dataclasses.replace(job, submission=submission) for job in jobs]
        start = time.perf_counter()
        refs: Dict[Any, int] = {task.remote(job, threads or max(1, int(cpus))): i for i, job in enumerate(submitted)}
        print(
            f"[{label}] {len(jobs)} run(s) on Ray ({cluster_resources(ray)}), {cpus:g} CPU and {gpus:g} GPU "
            f"each; a dying worker is retried up to {max_failures} time(s)",
            flush=True,
        )
        outcomes: List[Optional[Outcome]] = [None] * len(jobs)
        pending = list(refs)
        finished = offset
        try:
            with ctrl_c_flag() as interrupted:
                while pending and not interrupted.is_set():
                    ready, pending = ray.wait(pending, num_returns=1, timeout=WAIT_S)
                    for ref in ready:
                        i = refs[ref]
                        try:
                            outcome = ray.get(ref)
                        except ray.exceptions.RayError as err:  # the worker died more often than allowed
                            outcome = Outcome(
                                jobs[i].name,
                                "failed",
                                time.perf_counter() - start,
                                error=(
                                    f"the worker died {max_failures + 1} time(s) ({type(err).__name__}); last error: "
                                    f"{error_summary(str(err) or repr(err))}"
                                ),
                                log=jobs[i].log,
                                attempts=max_failures + 1,
                            )
                        outcomes[i] = outcome
                        finished += 1
                        where = f" on {outcome.host}" if outcome.host else ""
                        print(f"[{label} {finished}/{total}] {jobs[i].name}: {outcome.line()}{where}", flush=True)
            if interrupted.is_set():
                raise KeyboardInterrupt
        except KeyboardInterrupt:
            for ref in pending:
                ray.cancel(ref, force=True)
            for ref in pending:
                outcomes[refs[ref]] = Outcome(jobs[refs[ref]].name, "cancelled", log=jobs[refs[ref]].log)
            print(
                f"\n[{label}] interrupted: {finished - offset} run(s) finished, {len(pending)} cancelled. "
                "Run the same command again to resume; finished runs are skipped.",
                flush=True,
            )
            raise
    return [o for o in outcomes if o is not None]
