"""Gold tags read directly from the reference equal spaCy's alignment, whatever the annotation."""

import random
from pathlib import Path

import pytest
import spacy
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import filter_spans

from spacy_repsl.iob.tags import biluo_to_iob2, spans_to_tags
from spacy_repsl.pipeline.gold import ner_tags, same_tokens, span_tags

WORDS = ["John", "lives", "in", "Paris", ".", "Acme", "Corp", " ", "\n", "said", "New", "York", "!"]
LABELS = ["PER", "LOC", "ORG"]


def spacy_ner(example):
    return [biluo_to_iob2(t) for t in example.get_aligned_ner()]


def spacy_spans(example, key):
    group = example.reference.spans[key] if key in example.reference.spans else []
    spans = filter_spans(example.get_aligned_spans_y2x(group, allow_overlap=True))
    return spans_to_tags(len(example.predicted), [(s.start, s.end, s.label_) for s in spans])


def random_reference(nlp, rng):
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 14))]
    spaces = [rng.random() < 0.8 for _ in words]
    doc = Doc(nlp.vocab, words=words, spaces=spaces)
    kind = rng.choice(["ents", "ents", "biluo-missing", "none"])
    if kind == "ents":
        spans, i = [], 0
        while i < len(doc):
            if rng.random() < 0.3:
                end = min(len(doc), i + rng.randint(1, 3))
                spans.append(Span(doc, i, end, label=rng.choice(LABELS)))
                i = end
            i += 1
        doc.set_ents(spans, default=rng.choice(["outside", "missing", "unmodified"]))
    elif kind == "biluo-missing":
        tags = []
        i = 0
        while i < len(doc):
            roll = rng.random()
            if roll < 0.2 and i + 1 < len(doc):
                label = rng.choice(LABELS)
                tags += [f"B-{label}", f"L-{label}"]
                i += 2
                continue
            tags.append("U-" + rng.choice(LABELS) if roll < 0.35 else ("-" if roll < 0.6 else "O"))
            i += 1
        doc = Example.from_dict(Doc(nlp.vocab, words=words, spaces=spaces), {"entities": tags}).reference
    doc.spans["sc"] = [
        Span(doc, s, min(len(doc), s + rng.randint(1, 4)), label=rng.choice(LABELS))
        for s in sorted(rng.sample(range(len(doc)), k=min(len(doc), rng.randint(0, 3))))
    ]
    return doc


def test_reading_the_reference_equals_spacys_alignment_on_random_annotation():
    nlp = spacy.blank("en")
    rng = random.Random(7)
    checked = 0
    for _ in range(600):
        reference = random_reference(nlp, rng)
        predicted = Doc(nlp.vocab, words=[t.text for t in reference], spaces=[bool(t.whitespace_) for t in reference])
        example = Example(predicted, reference)
        assert same_tokens(predicted, reference)
        assert ner_tags(example) == spacy_ner(example)
        assert span_tags(example, "sc") == spacy_spans(example, "sc")
        assert span_tags(example, "absent") == spacy_spans(example, "absent")
        checked += any(t is None for t in ner_tags(example))
    assert checked > 50  # missing values were exercised, not only complete annotation


def test_different_tokenizations_take_spacys_alignment():
    nlp = spacy.blank("en")
    reference = Doc(nlp.vocab, words=["New", "York", "-", "based"], spaces=[True, False, False, False])
    reference.set_ents([Span(reference, 0, 2, label="LOC")], default="outside")
    reference.spans["sc"] = [Span(reference, 0, 4, label="ORG")]
    predicted = Doc(nlp.vocab, words=["New", "York-based"], spaces=[True, False])
    example = Example(predicted, reference)
    assert not same_tokens(predicted, reference)
    assert ner_tags(example) == spacy_ner(example) == [None, None]  # the entity ends inside a token
    assert span_tags(example, "sc") == spacy_spans(example, "sc") == ["B-ORG", "I-ORG"]


def test_same_words_but_other_offsets_are_not_the_same_tokens():
    nlp = spacy.blank("en")
    a = Doc(nlp.vocab, words=["a", "b"], spaces=[True, False])
    b = Doc(nlp.vocab, words=["a", "b"], spaces=[False, False])
    assert not same_tokens(a, b)


DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "conll2003"


def test_real_conll_training_examples_give_spacys_tags():
    if not DATA.is_dir():
        pytest.skip(f"{DATA} is not present (the real data is only on development machines)")
    from spacy_repsl.datasets import conll03

    docs = conll03.convert(DATA).docs["dev"][:500]
    for doc in docs:
        example = Example(Doc(doc.vocab, words=[t.text for t in doc], spaces=[bool(t.whitespace_) for t in doc]), doc)
        assert ner_tags(example) == spacy_ner(example)
