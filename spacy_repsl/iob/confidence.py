"""Entity confidence: the tagger's probability of a span, from its per-token tag probabilities.

A span of tokens [start, end) with label X scores

    P(B-X at start) * prod_{start < j < end} P(I-X at j) * (1 - P(I-X at end))

(the last factor only when a token follows the span). The tagger predicts each token's tag
independently (a softmax per token, no CRF), so this is exactly the probability that the tag
sequence, drawn from its per-token distributions and read under strict IOB2, contains this span
with these boundaries and this label: what a user asks when they ask "how sure is it about this
entity". Why not the mean or the minimum of the tokens' probabilities (also computed here, for
the calibration report): neither is a probability of the span (two confident tokens of a
three-token entity whose boundary is a coin flip still average high), and neither sees the right
boundary. Their calibration on real data is measured side by side (README, "Entity scores").
Scores are in [0, 1]; pure NumPy.
"""

from __future__ import annotations

from typing import Callable, Dict, Sequence, Tuple

import numpy

SpanTuple = Tuple[int, int, str]  # token start, token end (exclusive), label


def _tag_index(names: Sequence[str]) -> Dict[str, int]:
    return {name: i for i, name in enumerate(names)}


def _token_probabilities(probs: numpy.ndarray, index: Dict[str, int], span: SpanTuple) -> numpy.ndarray:
    """P(B-X) of the first token and P(I-X) of the others: the span's own tags."""
    start, end, label = span
    begin, inside = index[f"B-{label}"], index[f"I-{label}"]
    return numpy.concatenate([probs[start : start + 1, begin], probs[start + 1 : end, inside]])


def _path(probs: numpy.ndarray, index: Dict[str, int], span: SpanTuple) -> float:
    score = float(numpy.prod(_token_probabilities(probs, index, span), dtype=numpy.float64))
    start, end, label = span
    if end < len(probs):
        score *= 1.0 - float(probs[end, index[f"I-{label}"]])
    return min(max(score, 0.0), 1.0)


def _mean(probs: numpy.ndarray, index: Dict[str, int], span: SpanTuple) -> float:
    return float(numpy.mean(_token_probabilities(probs, index, span), dtype=numpy.float64))


def _min(probs: numpy.ndarray, index: Dict[str, int], span: SpanTuple) -> float:
    return float(numpy.min(_token_probabilities(probs, index, span)))


# formula -> score of one span given [n_tokens, n_tags] probabilities and tag name -> column
SCORE_FORMULAS: Dict[str, Callable[[numpy.ndarray, Dict[str, int], SpanTuple], float]] = {
    "path": _path,  # the one the component writes
    "mean": _mean,
    "min": _min,
}


def path_score(probs: numpy.ndarray, names: Sequence[str], span: SpanTuple) -> float:
    """The probability of exactly this span under the per-token distributions (module docstring)."""
    return _path(numpy.asarray(probs), _tag_index(names), span)


def span_scores(
    probs: numpy.ndarray, names: Sequence[str], spans: Sequence[SpanTuple], formula: str = "path"
) -> numpy.ndarray:
    """One score per span, in order: float32 [len(spans)], as spaCy's spancat stores them.

    probs: [n_tokens, n_tags] tag probabilities of one doc; names: the tag names ("O", "B-X",
    "I-X", ...). Raises KeyError for a span whose label has no tags."""
    score, index, probs = SCORE_FORMULAS[formula], _tag_index(names), numpy.asarray(probs)
    return numpy.asarray([score(probs, index, span) for span in spans], dtype=numpy.float32)


def iob_entities(iob: numpy.ndarray, label: numpy.ndarray, labels: Sequence[str]) -> list:
    """Spans of one doc from spaCy's per-token IOB codes (3 begins, 1 continues, 2 outside) and
    label indices (as `tags.strict_iob` gives them): [(start, end, label name)] in order."""
    begins = numpy.flatnonzero(numpy.asarray(iob) == 3)
    spans = []
    for i, first in enumerate(begins):
        end = int(first) + 1
        stop = int(begins[i + 1]) if i + 1 < len(begins) else len(iob)
        while end < stop and iob[end] == 1:
            end += 1
        spans.append((int(first), end, labels[int(label[first])]))
    return spans
