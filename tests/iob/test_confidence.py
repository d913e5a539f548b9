"""Entity confidence (pure): the path score is the probability of exactly that span."""

import itertools

import numpy
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_repsl.iob.confidence import iob_entities, path_score, span_scores
from spacy_repsl.iob.tags import strict_iob, strict_spans, tag_names

NAMES = tag_names(["LOC", "PER"])  # O, B-LOC, I-LOC, B-PER, I-PER


def random_probs(seed: int, n: int) -> numpy.ndarray:
    logits = numpy.random.default_rng(seed).normal(size=(n, len(NAMES))) * 2
    exp = numpy.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5))
def test_the_path_score_is_the_probability_that_strict_decoding_gives_exactly_the_span(seed, n):
    probs = random_probs(seed, n)
    exact = {}  # span -> total probability of the tag sequences whose strict reading contains it
    for ids in itertools.product(range(len(NAMES)), repeat=n):
        p = float(numpy.prod(probs[numpy.arange(n), ids]))
        for span in strict_spans([NAMES[i] for i in ids]):
            exact[span] = exact.get(span, 0.0) + p
    for (start, end, label), expected in exact.items():
        assert abs(path_score(probs, NAMES, (start, end, label)) - expected) < 1e-9


def test_scores_are_in_order_float32_and_in_range():
    probs = random_probs(0, 6)
    spans = [(0, 2, "PER"), (3, 4, "LOC"), (5, 6, "PER")]
    scores = span_scores(probs, NAMES, spans)
    assert scores.dtype == numpy.float32 and scores.shape == (3,)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert [float(x) for x in scores] == [numpy.float32(path_score(probs, NAMES, s)) for s in spans]
    assert span_scores(probs, NAMES, []).shape == (0,)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, len(NAMES) - 1), max_size=12))
def test_entities_from_iob_codes_are_the_strict_spans(ids):
    iob, label = strict_iob(numpy.array(ids, dtype=numpy.int64), [len(ids)])
    assert iob_entities(iob, label, ["LOC", "PER"]) == strict_spans([NAMES[i] for i in ids])
