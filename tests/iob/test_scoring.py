import pytest
import spacy
from hypothesis import given, settings
from hypothesis import strategies as st
from seqeval.metrics import classification_report, f1_score, precision_score, recall_score
from seqeval.scheme import IOB2
from spacy.tokens import Doc, Span
from spacy.training import Example

from spacy_repsl.iob.scoring import score_examples, score_tag_sequences
from spacy_repsl.iob.tags import tag_names

NAMES = tag_names(["PER", "LOC", "ORG"])
corpus = st.lists(st.lists(st.sampled_from(NAMES), min_size=1, max_size=10), min_size=1, max_size=6)


@settings(max_examples=300, deadline=None)
@given(corpus, st.randoms(use_true_random=False))
def test_equals_seqeval_strict_iob2(gold, rnd):
    predicted = [[t if rnd.random() < 0.6 else rnd.choice(NAMES) for t in seq] for seq in gold]
    ours = score_tag_sequences(gold, predicted)
    kwargs = dict(mode="strict", scheme=IOB2, zero_division=0)
    assert ours["p"] == pytest.approx(precision_score(gold, predicted, **kwargs))
    assert ours["r"] == pytest.approx(recall_score(gold, predicted, **kwargs))
    assert ours["f"] == pytest.approx(f1_score(gold, predicted, **kwargs))
    report = classification_report(gold, predicted, output_dict=True, **kwargs)
    for label, scores in ours["per_type"].items():
        if label in report:
            assert scores["f"] == pytest.approx(report[label]["f1-score"])
            assert scores["p"] == pytest.approx(report[label]["precision"])
            assert scores["r"] == pytest.approx(report[label]["recall"])


def _example(nlp, words, gold_ents, pred_ents, missing=()):
    reference = Doc(nlp.vocab, words=words)
    reference.set_ents([Span(reference, s, e, label=label) for s, e, label in gold_ents], default="outside")
    if missing:
        reference.set_ents([], missing=[reference[i : i + 1] for i in missing], default="unmodified")
    predicted = Doc(nlp.vocab, words=words)
    predicted.set_ents([Span(predicted, s, e, label=label) for s, e, label in pred_ents], default="outside")
    return Example(predicted, reference)


def test_ents_scores_per_type():
    nlp = spacy.blank("en")
    words = "John Smith met Mary in Paris".split()
    example = _example(nlp, words, [(0, 2, "PER"), (3, 4, "PER"), (5, 6, "LOC")], [(0, 2, "PER"), (5, 6, "PER")])
    scores = score_examples([example], target="ents")
    assert scores["ents_p"] == pytest.approx(0.5) and scores["ents_r"] == pytest.approx(1 / 3)
    assert scores["ents_per_type"]["LOC"] == {"p": 0.0, "r": 0.0, "f": 0.0}
    assert scores["ents_per_type"]["PER"]["p"] == pytest.approx(0.5)


def test_predictions_over_missing_gold_are_not_counted():
    nlp = spacy.blank("en")
    words = "John Smith met Mary in Paris".split()
    full = _example(nlp, words, [(0, 2, "PER")], [(0, 2, "PER"), (3, 4, "PER")])
    partial = _example(nlp, words, [(0, 2, "PER")], [(0, 2, "PER"), (3, 4, "PER")], missing=[3])
    assert score_examples([full])["ents_p"] == pytest.approx(0.5)
    assert score_examples([partial])["ents_p"] == pytest.approx(1.0)


def test_span_targets_and_empty_scores():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["great", "pizza", "slow", "service"])
    reference.spans["aspects"] = [Span(reference, 1, 2, "positive"), Span(reference, 3, 4, "negative")]
    predicted = Doc(nlp.vocab, words=["great", "pizza", "slow", "service"])
    predicted.spans["aspects"] = [Span(predicted, 1, 2, "positive"), Span(predicted, 3, 4, "positive")]
    scores = score_examples([Example(predicted, reference)], target="spans:aspects")
    assert scores["spans_aspects_f"] == pytest.approx(0.5)
    empty = score_examples([Example(Doc(nlp.vocab, words=["a"]), Doc(nlp.vocab, words=["a"]))], target="ents")
    assert empty["ents_f"] is None
