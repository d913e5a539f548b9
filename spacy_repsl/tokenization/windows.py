"""Windows over long piece sequences, so every token is labelled with context on both sides.

A doc of more than `max_length` pieces is cut into windows of at most `max_length` pieces.
Their cores (the pieces whose tokens a window labels) partition the doc; every window but the
first has `context` pieces of left context before its core and every window but the last has
`context` pieces of right context after it. A token is labelled by the window whose core holds
its first piece. Where sentence boundaries are known, cores end at a sentence start whenever one
falls in the second half of the core, so windows split between sentences rather than inside one.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from typing import List, Optional, Sequence


@dataclass(frozen=True)
class Window:
    """Pieces [start, end) are fed to the decoder; tokens whose first piece is in
    [core_start, core_end) take their labels from this window."""

    start: int
    end: int
    core_start: int
    core_end: int


def default_context(max_length: int) -> int:
    """`DecoderTagger.v1`'s and `Decoder.v1`'s default: a quarter of `max_length` (pieces)."""
    return max_length // 4


def default_context_v2(max_length: int) -> int:
    """`DecoderTagger.v2`'s and `Decoder.v2`'s default: a sixteenth of `max_length` (16 pieces at
    256). Measured on SmolLM2-135M (BENCHMARKS.md, "long documents"): a quarter made one long doc
    cost 1.8-1.9x its sentences, a sixteenth 1.05-1.12x. Document-level F1 did not fall with less
    context (CoNLL-2003 test as 231 documents: 78.00 at 256/64, 77.92 at 256/32, 78.73 at 128/16)."""
    return max_length // 16


def resolved_context(max_length: int, context: Optional[int]) -> int:
    """The pieces of context a window carries: the setting, or its default where it is None."""
    return default_context(max_length) if context is None else context


def plan_windows(
    n_pieces: int, max_length: int, context: Optional[int] = None, boundaries: Sequence[int] = ()
) -> List[Window]:
    """Windows covering `n_pieces` pieces; one window when they fit. `boundaries`: sorted piece
    indices where sentences start, preferred as core ends."""
    if max_length < 1:
        raise ValueError(f"max_length must be at least 1 subword, got {max_length}.")
    if context is None:
        context = default_context(max_length)
    if not 0 <= 2 * context < max_length:
        raise ValueError(
            f"window context {context} leaves no room to label: it must be below half of max_length ({max_length})."
        )
    if n_pieces <= max_length:
        return [Window(0, n_pieces, 0, n_pieces)]
    windows: List[Window] = []
    core_start = 0
    while core_start < n_pieces:
        start = max(0, core_start - context)
        end = min(n_pieces, start + max_length)
        if end == n_pieces:
            start = max(0, n_pieces - max_length)  # the last window: more left context
            core_end = n_pieces
        else:
            core_end = end - context
            at = bisect_right(boundaries, core_end) - 1
            if at >= 0 and boundaries[at] > core_start + (core_end - core_start) // 2:
                core_end = boundaries[at]
        windows.append(Window(start, end, core_start, core_end))
        core_start = core_end
    return windows
