"""Spans set earlier in the pipeline (an entity_ruler, a span ruler) are kept unless the
component is told to overwrite them; predictions fill only the tokens they leave free."""

import pytest
from spacy.tokens import Span

from .helpers import TEXTS, make_nlp, ner_examples, span_examples, spans_of, train

PRESET = "RULE"


@pytest.fixture(scope="module")
def trained_ner(tiny_decoders):
    nlp = make_nlp(tiny_decoders["qwen3"], max_length=64)
    train(nlp, ner_examples(nlp), steps=6)
    return nlp


def preset(doc, key=None):
    """Mark the doc's second and third tokens as a preset span."""
    if len(doc) < 3:
        return doc
    span = Span(doc, 1, 3, label=PRESET)
    if key is None:
        doc.set_ents([span])
    else:
        doc.spans[key] = [span]
    return doc


def expected(predicted, kept):
    covered = {i for s, e, _ in kept for i in range(s, e)}
    return sorted(kept + [p for p in predicted if covered.isdisjoint(range(p[0], p[1]))])


def test_entities_set_earlier_are_kept_and_predictions_fill_the_rest(trained_ner):
    tagger = trained_ner.get_pipe("repsl_tagger")
    texts = [t for t in TEXTS if len(trained_ner.make_doc(t)) >= 3]
    plain = [spans_of(tagger(trained_ner.make_doc(t))) for t in texts]
    assert any(plain), "the model predicts nothing: the test would show nothing"
    for text, predicted in zip(texts, plain):
        doc = tagger(preset(trained_ner.make_doc(text)))
        kept = [(1, 3, PRESET)]
        assert sorted(spans_of(doc)) == expected(predicted, kept)
    tagger.overwrite = True
    try:
        for text, predicted in zip(texts, plain):
            assert spans_of(tagger(preset(trained_ner.make_doc(text)))) == predicted
    finally:
        tagger.overwrite = False


def test_overwrite_ents_is_a_component_setting(tiny_decoders):
    nlp = make_nlp(tiny_decoders["qwen3"])
    assert nlp.get_pipe("repsl_tagger").overwrite is False
    nlp.remove_pipe("repsl_tagger")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {"@architectures": "spacy-repsl.DecoderTagger.v1", "name": str(tiny_decoders["qwen3"])},
            "overwrite_ents": True,
        },
    )
    assert nlp.get_pipe("repsl_tagger").overwrite is True


def test_a_span_group_set_earlier_is_kept(tiny_decoders):
    nlp = make_nlp(tiny_decoders["qwen3"], target="spans:aspects", max_length=64)
    train(nlp, span_examples(nlp), steps=6)
    tagger = nlp.get_pipe("repsl_tagger")
    texts = [t for t in TEXTS if len(nlp.make_doc(t)) >= 3]
    plain = [spans_of(tagger(nlp.make_doc(t)), "spans:aspects") for t in texts]
    for text, predicted in zip(texts, plain):
        doc = tagger(preset(nlp.make_doc(text), "aspects"))
        assert sorted(spans_of(doc, "spans:aspects")) == expected(predicted, [(1, 3, PRESET)])
