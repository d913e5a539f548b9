"""Aligning subword pieces to spaCy tokens by character offsets.

The decoder's tokenizer runs on `doc.text` (tokenizing pre-split words in transformers 5
treats each word as a sentence start), and its offsets decide which pieces belong to which
token:

- A piece belongs to every token its character span overlaps. Offsets that include a leading
  space ("Ġlives" at 4..10 for the token "lives" at 5..10) still overlap; a piece that spans
  two tokens ("Paris." for "Paris" + ".") belongs to both; pieces of one multi-byte character
  repeat the character's offsets and all belong to its token.
- Pieces with empty offsets (BOS, EOS, other special tokens) belong to no token.
- A token that no piece overlaps (a whitespace token the tokenizer folded into a neighbour,
  for example) takes the last piece that starts before it, or, at the start of the text, the
  first piece. So every token gets at least one piece whenever the text has any piece.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import List, Sequence, Tuple

Offsets = Tuple[int, int]


def align_pieces(tokens: Sequence[Offsets], pieces: Sequence[Offsets]) -> List[List[int]]:
    """For each token (start, end) in text order, the indices of its pieces, in order."""
    aligned: List[List[int]] = [[] for _ in tokens]
    n = len(tokens)
    starts = [start for start, _ in tokens]
    ends = [end for _, end in tokens]
    # Tokenizers give pieces in text order; sort only when they do not (the sort then also
    # leaves each token's pieces out of order, so they are sorted at the end).
    in_order = all(pieces[p - 1][0] <= pieces[p][0] for p in range(1, len(pieces)))
    order = range(len(pieces)) if in_order else sorted(range(len(pieces)), key=lambda p: (pieces[p][0], p))
    real: List[int] = []  # pieces with text, by start
    first = 0  # the first token that can still overlap the current piece
    for p in order:
        start, end = pieces[p]
        if end <= start:
            continue
        real.append(p)
        while first < n and ends[first] <= start:
            first += 1
        t = first
        while t < n and starts[t] < end:
            if ends[t] > starts[t] and ends[t] > start:
                aligned[t].append(p)
            t += 1
    if not real:
        return aligned
    real_starts: List[int] = []
    for t in range(n):
        if not aligned[t]:
            real_starts = real_starts or [pieces[p][0] for p in real]
            before = bisect_left(real_starts, starts[t]) - 1
            aligned[t] = [real[before] if before >= 0 else real[0]]
        elif not in_order:
            aligned[t].sort()
    return aligned
