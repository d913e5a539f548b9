"""IOB2 tags: the tag set, spans <-> tags, strict decoding, repair and constrained Viterbi.

Tag ids are O = 0, then B-X = 1 + 2i and I-X = 2 + 2i for the i-th label. Names are always
derived from the ids by `tag_names`, never by a separate list: the reference code's scorer
maps ids to a list ordered O, all B-, all I-, while its ids alternate, so its span F1 on three
of the four datasets is not what it claims.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy

Span = Tuple[int, int, str]  # token start, token end (exclusive), label


def tag_names(labels: Sequence[str]) -> List[str]:
    """["O", "B-L0", "I-L0", "B-L1", "I-L1", ...]."""
    names = ["O"]
    for label in labels:
        names.extend((f"B-{label}", f"I-{label}"))
    return names


def spans_to_tags(length: int, spans: Sequence[Span]) -> List[str]:
    """IOB2 tags for non-overlapping spans; every other token is O."""
    tags = ["O"] * length
    for start, end, label in spans:
        if any(t != "O" for t in tags[start:end]):
            raise ValueError(f"Spans overlap at tokens {start}..{end}; IOB2 cannot encode overlapping spans.")
        tags[start] = f"B-{label}"
        for i in range(start + 1, end):
            tags[i] = f"I-{label}"
    return tags


def strict_spans(tags: Sequence[str]) -> List[Span]:
    """Spans under strict IOB2, as seqeval's strict mode reads them.

    A span is a B-X followed by any run of I-X. An I-X that does not continue an X span
    is not part of any span (the lenient conlleval reading would start a span there).
    """
    spans: List[Span] = []
    i = 0
    while i < len(tags):
        tag = tags[i]
        if tag.startswith("B-"):
            label = tag[2:]
            end = i + 1
            while end < len(tags) and tags[end] == f"I-{label}":
                end += 1
            spans.append((i, end, label))
            i = end
        else:
            i += 1
    return spans


def repair_iob2(tags: Sequence[str]) -> List[str]:
    """Make a tag sequence valid IOB2: an I-X that does not continue X becomes B-X."""
    repaired: List[str] = []
    previous = "O"
    for tag in tags:
        if tag.startswith("I-") and previous[2:] != tag[2:]:
            tag = "B-" + tag[2:]
        repaired.append(tag)
        previous = tag
    return repaired


def allowed_transitions(names: Sequence[str]) -> numpy.ndarray:
    """allowed[a, b]: whether tag b may follow tag a in valid IOB2."""
    n = len(names)
    allowed = numpy.ones((n, n), dtype=bool)
    for b, name in enumerate(names):
        if name.startswith("I-"):
            label = name[2:]
            for a, prev in enumerate(names):
                allowed[a, b] = prev[2:] == label and prev != "O"
    return allowed


def viterbi(probs: numpy.ndarray, names: Sequence[str]) -> List[int]:
    """The most probable tag sequence that is valid IOB2 (no I-X without B-X/I-X before it)."""
    n_tokens = probs.shape[0]
    if n_tokens == 0:
        return []
    log_probs = numpy.log(numpy.clip(probs.astype(numpy.float64), 1e-30, None))
    allowed = allowed_transitions(names)
    transition = numpy.where(allowed, 0.0, -numpy.inf)
    start = numpy.array([-numpy.inf if n.startswith("I-") else 0.0 for n in names])
    score = start + log_probs[0]
    back = numpy.zeros((n_tokens, len(names)), dtype=numpy.int64)
    for t in range(1, n_tokens):
        candidates = score[:, None] + transition
        back[t] = candidates.argmax(axis=0)
        score = candidates.max(axis=0) + log_probs[t]
    best = [int(score.argmax())]
    for t in range(n_tokens - 1, 0, -1):
        best.append(int(back[t, best[-1]]))
    return best[::-1]


def tag_ids(probs: numpy.ndarray, names: Sequence[str], mode: str = "strict") -> List[int]:
    """Per-token tag ids from tag probabilities: "strict" argmax, or "viterbi" (valid IOB2)."""
    if mode == "strict":
        return probs.argmax(axis=1).tolist() if len(probs) else []
    if mode == "viterbi":
        return viterbi(probs, names)
    raise ValueError(f"Unknown decoding {mode!r}: use 'strict' (the papers') or 'viterbi'.")


def decode(probs: numpy.ndarray, names: Sequence[str], mode: str = "strict") -> List[Span]:
    """Spans from per-token tag probabilities (see `tag_ids`), read under strict IOB2."""
    return strict_spans([names[i] for i in tag_ids(probs, names, mode)])


def strict_iob(ids: numpy.ndarray, lengths: Sequence[int]) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """`strict_spans` for many sequences at once, as per-token arrays: spaCy's IOB codes
    (3 begins a span, 1 continues one, 2 is outside) and the label index (-1 outside).

    `ids` are the tag ids of all sequences concatenated, `lengths` their lengths. Vectorized,
    so a batch of docs is decoded in a few array operations instead of a loop per token.
    """
    ids = numpy.asarray(ids, dtype=numpy.int64)
    n = len(ids)
    first = numpy.zeros(n, dtype=bool)
    offsets = numpy.cumsum([0, *lengths[:-1]]).astype(numpy.int64) if len(lengths) else numpy.zeros(0, numpy.int64)
    first[offsets[offsets < n]] = True
    begins = ids % 2 == 1
    # An I-X continues a span when the run of I-X it is in starts right after a B-X of its doc.
    previous = numpy.concatenate([[-1], ids[:-1]])
    run_start = numpy.maximum.accumulate(numpy.where(first | (ids != previous), numpy.arange(n), 0))
    before = numpy.maximum(run_start - 1, 0)
    continues = (ids > 0) & (ids % 2 == 0) & (run_start > 0) & ~first[run_start] & (ids[before] == ids - 1)
    iob = numpy.full(n, 2, dtype=numpy.uint64)
    iob[begins] = 3
    iob[continues] = 1
    label = numpy.where(begins | continues, (ids - 1) // 2, -1)
    return iob, label


def biluo_to_iob2(tag: Optional[str]) -> Optional[str]:
    """One spaCy BILUO tag as IOB2; None (missing) stays None, "-" becomes None."""
    if tag is None or tag == "-" or tag == "":
        return None
    if tag == "O":
        return "O"
    prefix, label = tag.split("-", 1)
    return ("B-" if prefix in ("B", "U") else "I-") + label
