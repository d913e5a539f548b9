"""The local engine: jobs one after another in this process. Imports no Ray."""

from __future__ import annotations

from typing import List, Optional, Sequence

from .jobs import Job, Outcome, execute


def run_local(
    jobs: Sequence[Job], label: str, threads: Optional[int] = None, offset: int = 0, total: Optional[int] = None
) -> List[Outcome]:
    """Run every job here, printing a line as each ends; a failed job does not stop the rest.

    `offset` and `total` number the lines when the caller already reported some jobs."""
    total = total or offset + len(jobs)
    outcomes: List[Outcome] = []
    for i, job in enumerate(jobs, offset + 1):
        outcome = execute(job, threads=threads, echo=True)
        outcomes.append(outcome)
        print(f"[{label} {i}/{total}] {job.name}: {outcome.line()}", flush=True)
    return outcomes
