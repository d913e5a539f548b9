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
    order = sorted(range(len(pieces)), key=lambda p: (pieces[p][0], p))
    first = 0  # the first token that can still overlap the current piece
    for p in order:
        start, end = pieces[p]
        if end <= start:
            continue
        while first < len(tokens) and tokens[first][1] <= start:
            first += 1
        t = first
        while t < len(tokens) and tokens[t][0] < end:
            if tokens[t][1] > tokens[t][0] and tokens[t][1] > start:
                aligned[t].append(p)
            t += 1
    real = [p for p in order if pieces[p][1] > pieces[p][0]]
    if not real:
        return aligned
    real_starts = [pieces[p][0] for p in real]
    for t, (start, _) in enumerate(tokens):
        if not aligned[t]:
            before = bisect_left(real_starts, start) - 1
            aligned[t] = [real[before] if before >= 0 else real[0]]
        else:
            aligned[t].sort()
    return aligned
