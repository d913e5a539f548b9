"""Docs to decoder inputs: pieces per doc, windows, and where each token's vector comes from.

Everything here is plain Python (no torch), so the batch layout is testable on its own and
the torch module only turns the index lists into tensors.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.attrs import IDX, LENGTH

from .alignment import Offsets, align_pieces
from .boundaries import region_segments, shared_regions, splice
from .encoding import PieceEncoder, encoder_for
from .windows import plan_windows

POOLING_MODES = ("first", "mean")


@dataclass
class DocPieces:
    """A doc's piece ids (no special tokens) and, per spaCy token, its piece indices."""

    ids: List[int]
    token_pieces: List[List[int]]
    sentence_starts: List[int] = field(default_factory=list)  # first pieces of sentences 2..n

    @property
    def n_tokens(self) -> int:
        return len(self.token_pieces)


@dataclass
class PieceBatch:
    """Decoder sequences (one per window) and, per token of all docs in order, where to read
    its vector: `token_window[t]` and `token_first[t]` (position in that window), plus for
    mean pooling each (window, position) of its pieces, with `piece_token` the token index."""

    sequences: List[List[int]] = field(default_factory=list)
    token_window: List[int] = field(default_factory=list)
    token_first: List[int] = field(default_factory=list)
    piece_window: List[int] = field(default_factory=list)
    piece_position: List[int] = field(default_factory=list)
    piece_token: List[int] = field(default_factory=list)
    doc_lengths: List[int] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return len(self.token_window)

    @property
    def padded_size(self) -> int:
        """Pieces the decoder processes after padding (before repetition)."""
        return len(self.sequences) * max((len(s) for s in self.sequences), default=0)


def tokenize_docs(tokenizer: Any, docs: Sequence[Any], placeholder_id: int) -> List[DocPieces]:
    """Encode each doc's text with offsets and give every spaCy token pieces of its own.

    The model's own tokenization is kept except where a piece crosses a token boundary: that
    stretch is encoded again split at the boundaries (`boundaries`). Added tokens typed in the
    text are read as characters (`encoding`). A token whose first piece is whitespace only (a lone
    "▁" or "Ġ" before a character the vocabulary cannot join to it) reads its first piece with
    text instead. A token left with no piece of its own (its text encodes to nothing) gets a
    `placeholder_id` piece; a doc whose whole text encodes to nothing gets one placeholder piece
    that all its tokens share.
    """
    encoder = encoder_for(tokenizer)
    texts = [doc.text for doc in docs]
    non_empty = [i for i, text in enumerate(texts) if text]
    encoded = dict(zip(non_empty, encoder.encode([texts[i] for i in non_empty])))
    tokens = [
        [(start, start + length) for start, length in doc.to_array([IDX, LENGTH]).tolist()] if len(doc) else []
        for doc in docs
    ]
    aligned: List[List[List[int]]] = []
    redo: List[Tuple[int, List[Offsets]]] = []  # docs with pieces shared by tokens, and where
    for i in range(len(docs)):
        offsets = encoded.get(i, ([], []))[1]
        aligned.append(align_pieces(tokens[i], offsets) if tokens[i] else [])
        if tokens[i] and all(aligned[i]):
            regions = shared_regions(tokens[i], offsets, aligned[i])
            if regions:
                redo.append((i, regions))
    if redo:
        jobs = [(texts[i], tokens[i], *encoded[i], regions) for i, regions in redo]
        for (i, _), redone in zip(redo, own_pieces(encoder, jobs, placeholder_id)):
            encoded[i] = redone
            aligned[i] = align_pieces(tokens[i], redone[1])
    result: List[DocPieces] = []
    for i, doc in enumerate(docs):
        ids, token_pieces = list(encoded.get(i, ([], []))[0]), aligned[i]
        if tokens[i] and not all(token_pieces):
            ids = [placeholder_id]
            token_pieces = [[0] for _ in tokens[i]]
        elif tokens[i]:
            token_pieces = [_skip_blank_lead(pieces, ids, encoder) for pieces in token_pieces]
        starts = []
        if tokens[i] and len(ids) > 1 and doc.has_annotation("SENT_START"):
            starts = sorted({token_pieces[s.start][0] for s in doc.sents if s.start > 0})
        result.append(DocPieces(ids=ids, token_pieces=token_pieces, sentence_starts=starts))
    return result


Job = Tuple[str, Sequence[Offsets], Sequence[int], Sequence[Offsets], Sequence[Offsets]]


def own_pieces(
    encoder: PieceEncoder, jobs: Sequence[Job], placeholder_id: int
) -> List[Tuple[List[int], List[Offsets]]]:
    """For each (text, tokens, ids, offsets, regions), the pieces with every region encoded again,
    one segment per token (all segments of all docs in one call to the tokenizer); a token whose
    segment encodes to no piece overlapping it gets a `placeholder_id` piece over its text."""
    segments = [
        (j, region, segment)
        for j, (_, tokens, _, _, regions) in enumerate(jobs)
        for region in regions
        for segment in region_segments(region, tokens)
    ]
    encoded: List[Any] = [None] * len(segments)
    for prefix_space in (True, False):  # only a segment at the very start of a text gets a prefix space
        chosen = [k for k, (_, _, (s, _)) in enumerate(segments) if (s == 0) == prefix_space]
        texts = [jobs[segments[k][0]][0][slice(*segments[k][2])] for k in chosen]
        for k, result in zip(chosen, encoder.encode(texts, prefix_space=prefix_space)):
            encoded[k] = result
    replaced: Dict[Tuple[int, Offsets], Tuple[List[int], List[Offsets]]] = {}
    starts = [[start for start, _ in tokens] for _, tokens, _, _, _ in jobs]  # tokens are in text order
    for (j, region, (s, e)), (seg_ids, seg_offsets) in zip(segments, encoded):
        new_ids, new_offsets = replaced.setdefault((j, region), ([], []))
        seg_ids, placed = list(seg_ids), [(a + s, b + s) for a, b in seg_offsets]
        tokens = jobs[j][1]
        for t in range(bisect_left(starts[j], s), bisect_left(starts[j], e)):  # the segment's tokens
            token = tokens[t]
            if token[1] <= e and token[1] > token[0]:  # one its own segment left without a piece
                if not any(a < token[1] and b > token[0] for a, b in placed):
                    seg_ids, placed = seg_ids + [placeholder_id], placed + [token]
        order = sorted(range(len(placed)), key=lambda k: placed[k][0])
        new_ids.extend(seg_ids[k] for k in order)
        new_offsets.extend(placed[k] for k in order)
    results = []
    for j, (_, _, ids, offsets, regions) in enumerate(jobs):
        ids, offsets = list(ids), list(offsets)
        for region in reversed(regions):
            ids, offsets = splice(ids, offsets, region, *replaced[(j, region)])
        results.append((ids, offsets))
    return results


def _skip_blank_lead(pieces: List[int], ids: Sequence[int], encoder: PieceEncoder) -> List[int]:
    """A token's pieces from its first one with text on (all of them for a whitespace token)."""
    for k, p in enumerate(pieces):
        if not encoder.is_blank(ids[p]):
            return pieces[k:] if k else pieces
    return pieces


def build_batch(
    docs: Sequence[DocPieces], max_length: int, context: Optional[int] = None, pooling: str = "first"
) -> PieceBatch:
    """Windows for every doc, and the read-out positions of every token."""
    if pooling not in POOLING_MODES:
        raise ValueError(f"Unknown pooling {pooling!r}: use 'first' (the papers') or 'mean'.")
    batch = PieceBatch()
    token_offset = 0
    for doc in docs:
        batch.doc_lengths.append(doc.n_tokens)
        if doc.n_tokens == 0:
            continue
        windows = plan_windows(len(doc.ids), max_length, context, doc.sentence_starts)
        window_ids = []
        for window in windows:
            window_ids.append(len(batch.sequences))
            batch.sequences.append(doc.ids[window.start : window.end])
        if len(windows) == 1 and pooling == "first":  # most docs: one window from piece 0
            batch.token_window.extend([window_ids[0]] * doc.n_tokens)
            batch.token_first.extend([pieces[0] for pieces in doc.token_pieces])
            token_offset += doc.n_tokens
            continue
        w = 0
        for t, pieces in enumerate(doc.token_pieces):
            first = pieces[0]
            while first >= windows[w].core_end:
                w += 1
            while first < windows[w].core_start:  # tokens sharing a piece may step back
                w -= 1
            window = windows[w]
            batch.token_window.append(window_ids[w])
            batch.token_first.append(first - window.start)
            if pooling == "mean":
                for p in pieces:
                    if window.start <= p < window.end:
                        batch.piece_window.append(window_ids[w])
                        batch.piece_position.append(p - window.start)
                        batch.piece_token.append(token_offset + t)
        token_offset += doc.n_tokens
    return batch


def split_batch(batch: PieceBatch, max_windows: int) -> List[Any]:
    """`batch` cut into sub-batches of at most `max_windows` windows each, with, for each, the
    indices of the batch's tokens it reads out (in its own row order). Concatenating the
    sub-batches' rows and putting them back at those indices gives the whole batch's rows, so a
    long doc's windows can run in several forward passes."""
    n = len(batch.sequences)
    if n <= max_windows:
        return [(batch, list(range(batch.n_tokens)))]
    # One pass over the tokens and pieces, each put in its part's bucket: linear in the batch, so a
    # document of a million tokens (thousands of parts) is cut in well under a second.
    n_parts = -(-n // max_windows)
    tokens_of: List[List[int]] = [[] for _ in range(n_parts)]
    pieces_of: List[List[int]] = [[] for _ in range(n_parts)]
    for t, w in enumerate(batch.token_window):
        tokens_of[w // max_windows].append(t)
    for k, w in enumerate(batch.piece_window):
        pieces_of[w // max_windows].append(k)
    parts = []
    for index, (tokens, pieces) in enumerate(zip(tokens_of, pieces_of)):
        w0 = index * max_windows
        w1 = min(n, w0 + max_windows)
        local = {t: i for i, t in enumerate(tokens)}
        part = PieceBatch(
            sequences=batch.sequences[w0:w1],
            token_window=[batch.token_window[t] - w0 for t in tokens],
            token_first=[batch.token_first[t] for t in tokens],
            piece_window=[batch.piece_window[k] - w0 for k in pieces],
            piece_position=[batch.piece_position[k] for k in pieces],
            piece_token=[local[batch.piece_token[k]] for k in pieces],
            doc_lengths=[len(tokens)],
        )
        parts.append((part, tokens))
    return parts
