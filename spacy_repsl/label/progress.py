"""Progress of a long labelling run: a bar with docs/s and an ETA on a terminal, a line every
`every` documents (and at the end) in logs, where a bar would be thousands of lines."""
from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: Optional[int], *, every: int = 10000, stream: TextIO = sys.stderr,
                 bar: Optional[bool] = None):
        self.total, self.every, self.stream = total, every, stream
        self.done = 0
        self.start = time.perf_counter()
        self._bar: Any = None
        if bar if bar is not None else getattr(stream, "isatty", lambda: False)():
            from tqdm import tqdm

            self._bar = tqdm(total=total, unit="doc", file=stream, smoothing=0.1, dynamic_ncols=True)

    def update(self, n: int = 1) -> None:
        before = self.done
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
        elif self.every and self.done // self.every > before // self.every:
            self.stream.write(self.line() + "\n")
            self.stream.flush()

    def line(self) -> str:
        elapsed = max(time.perf_counter() - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.done:,} docs" + (f" of {self.total:,}" if self.total else "")
        text += f", {rate:,.1f} docs/s, {duration(elapsed)} elapsed"
        if self.total and rate > 0 and self.done < self.total:
            text += f", about {duration((self.total - self.done) / rate)} left"
        return text

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
