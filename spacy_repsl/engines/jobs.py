"""A job (one unit of work with its own log) and its outcome, shared by every engine.

A job's action must be picklable (a module-level function or a `functools.partial` of one) so
that a Ray worker can run it. `execute` is what every engine calls, in this process or in a
worker: it writes the job's output to its log (appending, one header per attempt), sets the
torch thread count when asked, and turns an exception into a failed outcome, so one bad run
never stops the others.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, List, Optional, Sequence, TextIO, Tuple

HEADER = "=== spacy-repsl job"


@dataclass(frozen=True)
class Job:
    name: str
    action: Callable[[], bool]  # returns False when the work was already done
    log: Optional[Path] = None
    # Paths a worker must see (the project directory, the config): checked before anything runs.
    requires: Tuple[Path, ...] = field(default_factory=tuple)
    submission: str = ""  # tells the attempts of one submission apart in the log


@dataclass
class Outcome:
    name: str
    status: str  # "done", "skipped", "failed" or "cancelled"
    seconds: float = 0.0
    error: Optional[str] = None
    log: Optional[Path] = None
    attempts: int = 1
    host: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("done", "skipped")

    def line(self) -> str:
        if self.status == "done":
            retried = f", after {self.attempts - 1} failed attempt(s)" if self.attempts > 1 else ""
            return f"done in {self.seconds:.1f}s{retried}"
        if self.status == "skipped":
            return "already done, skipped"
        if self.status == "cancelled":
            return "cancelled"
        return f"FAILED after {self.seconds:.1f}s: {error_summary(self.error)}" + (
            f" (log: {self.log})" if self.log else ""
        )


def error_summary(text: Optional[str]) -> str:
    """The `SomeError: message` line of a traceback (the last one), else its last line."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    named = [line for line in lines if re.match(r"^[\w.]*(Error|Exception|Interrupt|Exit)\b.*", line)]
    return (named or lines or ["unknown error"])[-1]


class _Tee(io.TextIOBase):
    """Writes to several streams: the job's log, and the console for the local engine."""

    def __init__(self, *streams: TextIO):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def captured(log: Optional[Path], echo: bool) -> Iterator[Optional[TextIO]]:
    """Send this process's Python-level stdout and stderr to `log` (and the console if `echo`)."""
    if log is None:
        yield None
        return
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf8", buffering=1) as handle:
        out = _Tee(handle, sys.stdout) if echo else handle
        err = _Tee(handle, sys.stderr) if echo else handle
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield handle


def attempt_number(log: Optional[Path], submission: str) -> int:
    if log is None or not submission or not log.is_file():
        return 1
    marker = f"[{submission}]"
    with open(log, encoding="utf8", errors="replace") as handle:
        return 1 + sum(1 for line in handle if line.startswith(HEADER) and marker in line)


def missing_paths(paths: Sequence[Path]) -> List[Path]:
    return [p for p in paths if not Path(p).exists()]


@contextlib.contextmanager
def torch_threads(threads: Optional[int]) -> Iterator[None]:
    """Run with this many torch threads, then restore the previous number. Results can differ in
    the last bits with the thread count, so both engines set it the same way when asked."""
    if not threads:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def execute(job: Job, threads: Optional[int] = None, echo: bool = True) -> Outcome:
    """Run one job here and now; never raises except for KeyboardInterrupt."""
    host = socket.gethostname()
    missing = missing_paths(job.requires)
    if missing:
        return Outcome(
            job.name,
            "failed",
            host=host,
            error=(
                f"{', '.join(map(str, missing))} not found on {host}: the worker cannot see the project's files. "
                "On a cluster of several machines every node needs the project at the same path (a shared file "
                "system such as NFS mounted on every node); see 'Scaling out' in the README."
            ),
        )
    attempt = attempt_number(job.log, job.submission)
    start = time.perf_counter()
    with captured(job.log, echo) as handle:
        if handle is not None:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            handle.write(
                f"{HEADER} {job.name} attempt {attempt} [{job.submission}] on {host} pid {os.getpid()} at {stamp} ===\n"
            )
        try:
            with torch_threads(threads):
                done = job.action()
        except KeyboardInterrupt:
            raise
        except BaseException:  # noqa: BLE001 - SystemExit from spaCy's CLI helpers counts as a failure too
            error = traceback.format_exc()
            if handle is not None:
                handle.write(error)
            return Outcome(job.name, "failed", time.perf_counter() - start, error, job.log, attempt, host)
    return Outcome(job.name, "done" if done else "skipped", time.perf_counter() - start, None, job.log, attempt, host)


def report_failures(outcomes: Sequence[Outcome], label: str) -> int:
    """Print what failed, with errors and logs; returns the number of failures."""
    failed = [o for o in outcomes if o.status == "failed"]
    if failed:
        print(f"\n[{label}] {len(failed)} of {len(outcomes)} run(s) failed:", flush=True)
        for outcome in failed:
            print(
                f"  - {outcome.name}: {error_summary(outcome.error)}"
                + (f"\n    log: {outcome.log}" if outcome.log else ""),
                flush=True,
            )
    return len(failed)
