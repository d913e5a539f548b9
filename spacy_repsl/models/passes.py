"""Progress inside one forward: callbacks told after each decoder pass how many of the batch's
tokens are done.

A batch with a long document runs in many passes (its windows, `max_batch_tokens` at a time): a
5 MB record is minutes of work inside one `nlp.pipe` step, with nothing to show for it until the
end. `label` listens here to print a line per long batch (tokens done, rate). No torch here: the
listener's side imports nothing heavy.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, List

PassCallback = Callable[[int, int], None]  # (tokens done, tokens in the batch)
_CALLBACKS: List[PassCallback] = []


@contextmanager
def on_pass(callback: PassCallback) -> Iterator[None]:
    """Call `callback(done, total)` after every decoder pass of a batch run in more than one pass,
    while the context is open (this process only)."""
    _CALLBACKS.append(callback)
    try:
        yield
    finally:
        _CALLBACKS.remove(callback)


def listening() -> bool:
    return bool(_CALLBACKS)


def report_pass(done: int, total: int) -> None:
    """Tell every callback that `done` of the batch's `total` tokens are done."""
    for callback in list(_CALLBACKS):
        callback(done, total)
