import numpy
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spacy_repsl.iob.tags import (
    allowed_transitions,
    biluo_to_iob2,
    decode,
    repair_iob2,
    spans_to_tags,
    strict_iob,
    strict_spans,
    tag_names,
    viterbi,
)

NAMES = tag_names(["PER", "LOC"])
tag_sequences = st.lists(st.sampled_from(NAMES), min_size=0, max_size=12)


def test_tag_ids_alternate_b_and_i_per_label():
    assert NAMES == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_spans_round_trip():
    spans = [(0, 2, "PER"), (3, 4, "LOC"), (4, 6, "LOC")]
    tags = spans_to_tags(7, spans)
    assert tags == ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O"]
    assert strict_spans(tags) == spans


def test_overlapping_spans_are_refused():
    with pytest.raises(ValueError, match="overlap"):
        spans_to_tags(4, [(0, 2, "PER"), (1, 3, "LOC")])


def test_strict_reading_drops_orphan_inside_tags():
    assert strict_spans(["I-PER", "I-PER", "O"]) == []
    assert strict_spans(["B-PER", "I-LOC", "I-LOC"]) == [(0, 1, "PER")]
    assert strict_spans(["O", "I-LOC", "B-LOC", "I-LOC"]) == [(2, 4, "LOC")]


def test_repair_turns_orphans_into_beginnings():
    assert repair_iob2(["I-PER", "I-PER", "O", "I-LOC", "B-PER", "I-LOC"]) == [
        "B-PER",
        "I-PER",
        "O",
        "B-LOC",
        "B-PER",
        "B-LOC",
    ]


@given(tag_sequences)
def test_repaired_sequences_are_valid_and_keep_strict_spans(tags):
    repaired = repair_iob2(tags)
    allowed = allowed_transitions(NAMES)
    ids = [NAMES.index(t) for t in repaired]
    assert all(not NAMES[i].startswith("I-") for i in ids[:1])
    assert all(allowed[a, b] for a, b in zip(ids, ids[1:]))
    assert set(strict_spans(tags)) <= set(strict_spans(repaired))


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 10), st.integers(0, 2**32 - 1))
def test_viterbi_is_valid_and_optimal(length, seed):
    rng = numpy.random.default_rng(seed)
    probs = rng.dirichlet(numpy.ones(len(NAMES)), size=length)
    best = viterbi(probs, NAMES)
    allowed = allowed_transitions(NAMES)
    assert not NAMES[best[0]].startswith("I-")
    assert all(allowed[a, b] for a, b in zip(best, best[1:]))
    if length <= 5:  # exhaustive check of optimality
        import itertools

        def score(seq):
            return sum(numpy.log(probs[t, s]) for t, s in enumerate(seq))

        valid = [
            seq
            for seq in itertools.product(range(len(NAMES)), repeat=length)
            if not NAMES[seq[0]].startswith("I-") and all(allowed[a, b] for a, b in zip(seq, seq[1:]))
        ]
        assert score(best) == pytest.approx(max(score(s) for s in valid))


def test_decode_modes():
    probs = numpy.array([[0.1, 0.2, 0.6, 0.1, 0.0], [0.1, 0.0, 0.8, 0.1, 0.0]])  # argmax I-PER I-PER
    assert decode(probs, NAMES, "strict") == []
    assert decode(probs, NAMES, "viterbi") == [(0, 2, "PER")]
    assert decode(numpy.zeros((0, 5)), NAMES, "viterbi") == []
    with pytest.raises(ValueError, match="'strict'.*'viterbi'"):
        decode(probs, NAMES, "greedy")


def test_biluo_conversion():
    assert [biluo_to_iob2(t) for t in ["U-PER", "B-LOC", "I-LOC", "L-LOC", "O", None, "-"]] == [
        "B-PER",
        "B-LOC",
        "I-LOC",
        "I-LOC",
        "O",
        None,
        None,
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.integers(0, 4), max_size=7), max_size=5))
def test_strict_iob_reads_a_batch_as_strict_spans_reads_each_sequence(sequences):
    names = tag_names(["A", "B"])
    iob, label = strict_iob(
        numpy.array([i for s in sequences for i in s], dtype=numpy.int64), [len(s) for s in sequences]
    )
    start = 0
    for ids in sequences:  # a span never runs on into the next sequence
        expected_iob, expected_label = [2] * len(ids), [-1] * len(ids)
        for begin, end, name in strict_spans([names[i] for i in ids]):
            expected_iob[begin:end] = [3] + [1] * (end - begin - 1)
            expected_label[begin:end] = [["A", "B"].index(name)] * (end - begin)
        assert iob[start : start + len(ids)].tolist() == expected_iob
        assert label[start : start + len(ids)].tolist() == expected_label
        start += len(ids)


def test_strict_iob_does_not_continue_across_sequences():
    iob, label = strict_iob(numpy.array([1, 2, 2, 2]), [2, 2])  # B-A I-A | I-A I-A
    assert iob.tolist() == [3, 1, 2, 2] and label.tolist() == [0, 0, -1, -1]
