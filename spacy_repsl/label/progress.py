"""Progress of a long labelling run: a bar with docs/s and an ETA on a terminal, a line every
`every` documents (and at the end) in logs, where a bar would be thousands of lines; inside a
batch with a long record (thousands of decoder passes), a line of tokens done and their rate."""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO


def duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


LONG_BATCH_TOKENS = 10_000  # a batch of at least this many tokens reports its passes
LONG_BATCH_SECONDS = 10.0  # at most one line this often per long batch (and one when it ends)


class Progress:
    def __init__(
        self,
        total: Optional[int],
        *,
        every: int = 10000,
        stream: TextIO = sys.stderr,
        bar: Optional[bool] = None,
        long_batch_tokens: Optional[int] = None,
        long_batch_seconds: Optional[float] = None,
    ):
        self.total, self.every, self.stream = total, every, stream
        self.long_batch_tokens = LONG_BATCH_TOKENS if long_batch_tokens is None else long_batch_tokens
        self.long_batch_seconds = LONG_BATCH_SECONDS if long_batch_seconds is None else long_batch_seconds
        self.done = 0
        self.start = time.perf_counter()
        self._batch: Optional[list] = None  # [first report's time, its tokens, last report's tokens, last line's time]
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
            self.write(self.line())

    def tokens(self, done: int, total: int) -> None:
        """After a decoder pass inside one batch (`spacy_repsl.models.passes`): `done` of the
        batch's `total` tokens labelled. Batches of `long_batch_tokens` or more get a line at most
        every `long_batch_seconds` and one when they end, with their rate since the first pass."""
        if total < self.long_batch_tokens:
            return
        now = time.perf_counter()
        if self._batch is None or done <= self._batch[2]:  # a new batch
            self._batch = [now, done, done, now]
            return
        self._batch[2] = done
        if done < total and now - self._batch[3] < self.long_batch_seconds:
            return
        self._batch[3] = now
        rate = (done - self._batch[1]) / max(now - self._batch[0], 1e-9)
        self.write(f"long batch: {done:,} of {total:,} tokens labelled, {rate:,.0f} tokens/s")
        if done >= total:
            self._batch = None

    def write(self, line: str) -> None:
        if self._bar is not None:
            self._bar.write(line, file=self.stream)
        else:
            self.stream.write(line + "\n")
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
