"""Entity confidence on the component: where the scores live, the threshold, what keeps them."""
import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_repsl.confidence import span_scores

from .helpers import TEXTS, ner_examples, probabilities, span_examples, tagger_config, train


def scored_nlp(path, *, target="ents", threshold=0.0, steps=12, **component):
    nlp = spacy.blank("en")
    config = tagger_config(path)
    config.update(target=target, threshold=threshold, **component)
    nlp.add_pipe("repsl_tagger", config=config)
    train(nlp, span_examples(nlp) if target != "ents" else ner_examples(nlp), steps=steps)
    return nlp


@pytest.fixture(scope="module")
def ents_nlp(tiny_decoders):
    return scored_nlp(tiny_decoders["llama"])


def expected_scores(nlp, doc, spans):
    tagger = nlp.get_pipe("repsl_tagger")
    (probs,) = tagger.predict([nlp.make_doc(doc.text)])
    return span_scores(probs, tagger.tag_names, [(s.start, s.end, s.label_) for s in spans])


def test_every_entity_has_its_score_in_a_group_mirroring_doc_ents(ents_nlp):
    docs = list(ents_nlp.pipe(TEXTS + ["John Smith lives in Paris ."]))
    assert any(doc.ents for doc in docs)
    for doc in docs:
        group = doc.spans["ents"]
        assert [(s.start, s.end, s.label_) for s in group] == [(s.start, s.end, s.label_) for s in doc.ents]
        scores = group.attrs["scores"]
        assert len(scores) == len(doc.ents) and all(0.0 <= x <= 1.0 for x in scores)
        numpy.testing.assert_allclose(scores, expected_scores(ents_nlp, doc, doc.ents), atol=1e-6)


def test_the_scores_survive_docbin_and_doc_to_disk(ents_nlp, tmp_path):
    docs = list(ents_nlp.pipe(TEXTS + ["John Smith lives in Paris ."]))
    DocBin(docs=docs, store_user_data=True).to_disk(tmp_path / "docs.spacy")
    back = list(DocBin().from_disk(tmp_path / "docs.spacy").get_docs(ents_nlp.vocab))
    docs[-1].to_disk(tmp_path / "doc")
    alone = Doc(ents_nlp.vocab).from_disk(tmp_path / "doc")
    for before, after in list(zip(docs, back)) + [(docs[-1], alone)]:
        assert [(s.start, s.end, s.label_) for s in after.spans["ents"]] == \
            [(s.start, s.end, s.label_) for s in before.spans["ents"]]
        numpy.testing.assert_array_equal(numpy.asarray(after.spans["ents"].attrs["scores"]),
                                         numpy.asarray(before.spans["ents"].attrs["scores"]))


def test_the_threshold_drops_exactly_the_entities_below_it(tiny_decoders, ents_nlp, tmp_path):
    texts = TEXTS + ["John Smith lives in Paris .", "Mary works for Acme Corp in Berlin ."]
    unfiltered = list(ents_nlp.pipe(texts))
    scores = sorted(float(x) for doc in unfiltered for x in doc.spans["ents"].attrs["scores"])
    assert len(set(scores)) > 1, scores
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # half of them go
    ents_nlp.to_disk(tmp_path / "pipeline")
    filtered_nlp = spacy.load(tmp_path / "pipeline", config={"components.repsl_tagger.threshold": threshold})
    for before, after in zip(unfiltered, filtered_nlp.pipe(texts)):
        kept = [(s.start, s.end, s.label_) for s, x in zip(before.spans["ents"], before.spans["ents"].attrs["scores"])
                if x >= threshold]
        assert [(s.start, s.end, s.label_) for s in after.ents] == kept
        assert all(x >= threshold for x in after.spans["ents"].attrs["scores"])


def test_spans_targets_keep_scores_where_spancat_does(tiny_decoders):
    nlp = scored_nlp(tiny_decoders["qwen3"], target="spans:aspects")
    doc = nlp("John Smith lives in Paris .")
    group = doc.spans["aspects"]
    assert len(group) and len(group.attrs["scores"]) == len(group)
    numpy.testing.assert_allclose(group.attrs["scores"], expected_scores(nlp, doc, group), atol=1e-6)
    assert "ents" not in doc.spans


def test_entities_kept_from_another_component_are_scored_too(ents_nlp):
    doc = ents_nlp.make_doc("John Smith lives in Paris .")
    doc.ents = [doc.char_span(0, 10, label="PER"), doc.char_span(20, 25, label="GPE")]  # GPE: not our label
    doc = ents_nlp.get_pipe("repsl_tagger")(doc)
    group = doc.spans["ents"]
    assert [(s.text, s.label_) for s in group] == [("John Smith", "PER"), ("Paris", "GPE")]
    scores = group.attrs["scores"]
    assert numpy.isnan(scores[1]) and 0.0 < scores[0] <= 1.0  # GPE: not scored (not a silent 0)
    numpy.testing.assert_allclose(scores[:1], expected_scores(ents_nlp, doc, list(group)[:1]), atol=1e-6)


def test_a_kept_entity_keeps_the_score_it_already_had(ents_nlp):
    doc = ents_nlp.make_doc("John Smith lives in Paris .")
    doc.ents = [doc.char_span(0, 10, label="PER")]
    from spacy.tokens import SpanGroup

    doc.spans["ents"] = SpanGroup(doc, spans=list(doc.ents), attrs={"scores": numpy.array([0.125], dtype="float32")})
    doc = ents_nlp.get_pipe("repsl_tagger")(doc)  # e.g. a second repsl_tagger after the first
    assert doc.spans["ents"][0].text == "John Smith" and doc.spans["ents"].attrs["scores"][0] == 0.125


def test_a_bad_threshold_or_key_is_refused(tiny_decoders):
    for setting in ({"threshold": 1.5}, {"threshold": "high"}, {"scores_key": ""}):  # and a saved temperature:
        nlp = spacy.blank("en")
        config = tagger_config(tiny_decoders["llama"])
        config.update(setting)
        with pytest.raises(ValueError, match="threshold|scores_key"):
            nlp.add_pipe("repsl_tagger", config=config)


def test_a_temperature_rescales_the_probabilities_and_is_saved(ents_nlp, tmp_path):
    tagger = ents_nlp.get_pipe("repsl_tagger")
    (plain,) = probabilities(ents_nlp, ["John Smith lives in Paris ."])
    tagger.cfg["temperature"] = 2.0
    try:
        (warm,) = probabilities(ents_nlp, ["John Smith lives in Paris ."])
        ents_nlp.to_disk(tmp_path / "pipeline")
    finally:
        tagger.cfg["temperature"] = 1.0
    expected = numpy.exp(numpy.log(plain) / 2.0)
    numpy.testing.assert_allclose(warm, expected / expected.sum(axis=1, keepdims=True), atol=1e-5)
    loaded = spacy.load(tmp_path / "pipeline")
    assert loaded.get_pipe("repsl_tagger").cfg["temperature"] == 2.0
    numpy.testing.assert_allclose(probabilities(loaded, ["John Smith lives in Paris ."])[0], warm, atol=1e-6)


@pytest.mark.parametrize("temperature", [0, -1.0, "2", None])
def test_a_damaged_saved_temperature_is_refused_at_load(ents_nlp, tmp_path, temperature):
    import srsly

    ents_nlp.to_disk(tmp_path / "pipeline")
    cfg = srsly.read_json(tmp_path / "pipeline" / "repsl_tagger" / "cfg")
    srsly.write_json(tmp_path / "pipeline" / "repsl_tagger" / "cfg", {**cfg, "temperature": temperature})
    with pytest.raises(ValueError, match="Invalid temperature"):
        spacy.load(tmp_path / "pipeline")
