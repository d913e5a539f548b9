"""Pieces of their own for every spaCy token: where a piece crosses a token boundary, that
stretch of text is encoded again, split at the boundaries.

Real vocabularies merge across spaCy's token boundaries: Qwen's and Llama 3's encode "北京" as
one piece, while spaCy's Chinese tokenizer makes 北 and 京 two tokens; "don't" is "don" + "'t"
for byte-level BPE and "do" + "n't" for spaCy. Tokens that share a piece read the same vector and
so always get the same label. Each region of text covered by such pieces (with the whole tokens
they touch) is cut after every token's end, so whitespace goes with the token after it as the
tokenizers themselves do, and each segment is encoded on its own; the rest of the text keeps the
model's own tokenization. All functions here are pure (offsets in, offsets out).
"""

from __future__ import annotations

from bisect import bisect_left
from operator import itemgetter
from typing import List, Sequence, Tuple

Offsets = Tuple[int, int]


def shared_regions(
    tokens: Sequence[Offsets], pieces: Sequence[Offsets], aligned: Sequence[Sequence[int]]
) -> List[Offsets]:
    """Character regions [start, end) to encode again: each covers the pieces that belong to
    more than one token, every piece overlapping them and every token they touch; sorted,
    disjoint. Empty when no piece is shared."""
    owners: dict = {}
    for t, indices in enumerate(aligned):
        for p in indices:
            owners.setdefault(p, []).append(t)
    # A shared piece with every token that reads it (a token no piece overlaps reads a
    # neighbour's: a combining mark a normalizer joined to the character before it, say).
    spans = sorted(
        (min([pieces[p][0]] + [tokens[t][0] for t in ts]), max([pieces[p][1]] + [tokens[t][1] for t in ts]))
        for p, ts in owners.items()
        if len(ts) > 1
    )
    if not spans:
        return []
    # Grow each span to the whole tokens and pieces it overlaps until nothing more is added.
    regions: List[List[int]] = []
    for start, end in spans:
        if regions and start < regions[-1][1]:
            regions[-1][1] = max(regions[-1][1], end)
        else:
            regions.append([start, end])
    others = sorted([(s, e) for s, e in tokens if e > s] + [(s, e) for s, e in pieces if e > s])
    others_starts = [s for s, _ in others]
    longest = max((e - s for s, e in others), default=0)
    changed = True
    while changed:
        changed = False
        for region in regions:  # only what starts near it can overlap it: linear, not regions x pieces
            for k in range(bisect_left(others_starts, region[0] - longest), bisect_left(others_starts, region[1])):
                s, e = others[k]
                if s < region[1] and e > region[0] and (s < region[0] or e > region[1]):
                    region[0], region[1] = min(region[0], s), max(region[1], e)
                    changed = True
        merged: List[List[int]] = []
        for region in sorted(regions):
            if merged and region[0] < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], region[1])
            else:
                merged.append(region)
        regions = merged
    return [(s, e) for s, e in regions]


def region_segments(region: Offsets, tokens: Sequence[Offsets]) -> List[Offsets]:
    """`region` cut after the end of every token in it but the last: one segment per token,
    each holding its token and the whitespace before it."""
    start, end = region
    first, last = bisect_left(tokens, start, key=itemgetter(0)), bisect_left(tokens, end, key=itemgetter(0))
    cuts = [e for s, e in tokens[first:last] if start < e < end]  # tokens are in text order
    bounds = [start] + sorted(set(cuts)) + [end]
    return [(a, b) for a, b in zip(bounds, bounds[1:]) if b > a]


def splice(
    ids: Sequence[int],
    offsets: Sequence[Offsets],
    region: Offsets,
    new_ids: Sequence[int],
    new_offsets: Sequence[Offsets],
) -> Tuple[List[int], List[Offsets]]:
    """`ids`/`offsets` with the pieces overlapping `region` (and empty pieces between them)
    replaced by `new_ids`/`new_offsets`, which lie inside it."""
    start, end = region
    inside = [i for i, (s, e) in enumerate(offsets) if e > s and s < end and e > start]
    if not inside:
        first = next((i for i, (s, _) in enumerate(offsets) if s >= end), len(offsets))
        last = first - 1
    else:
        first, last = inside[0], inside[-1]
    return (
        list(ids[:first]) + list(new_ids) + list(ids[last + 1 :]),
        list(offsets[:first]) + list(new_offsets) + list(offsets[last + 1 :]),
    )
