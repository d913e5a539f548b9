"""Entity confidence on the component: where the scores live, the threshold, what keeps them."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_repsl.iob.confidence import span_scores

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
        assert [(s.start, s.end, s.label_) for s in after.spans["ents"]] == [
            (s.start, s.end, s.label_) for s in before.spans["ents"]
        ]
        numpy.testing.assert_array_equal(
            numpy.asarray(after.spans["ents"].attrs["scores"]), numpy.asarray(before.spans["ents"].attrs["scores"])
        )


def test_the_threshold_drops_exactly_the_entities_below_it(tiny_decoders, ents_nlp, tmp_path):
    texts = TEXTS + ["John Smith lives in Paris .", "Mary works for Acme Corp in Berlin ."]
    unfiltered = list(ents_nlp.pipe(texts))
    scores = sorted(float(x) for doc in unfiltered for x in doc.spans["ents"].attrs["scores"])
    assert len(set(scores)) > 1, scores
    threshold = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # half of them go
    ents_nlp.to_disk(tmp_path / "pipeline")
    filtered_nlp = spacy.load(tmp_path / "pipeline", config={"components.repsl_tagger.threshold": threshold})
    for before, after in zip(unfiltered, filtered_nlp.pipe(texts)):
        kept = [
            (s.start, s.end, s.label_)
            for s, x in zip(before.spans["ents"], before.spans["ents"].attrs["scores"])
            if x >= threshold
        ]
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


@pytest.mark.parametrize("temperature", [0, -1.0, "2", None, 1e-40, 1e39, 0.001, 1000.0])
def test_a_damaged_saved_temperature_is_refused_at_load(ents_nlp, tmp_path, temperature):
    import srsly

    ents_nlp.to_disk(tmp_path / "pipeline")
    cfg = srsly.read_json(tmp_path / "pipeline" / "repsl_tagger" / "cfg")
    srsly.write_json(tmp_path / "pipeline" / "repsl_tagger" / "cfg", {**cfg, "temperature": temperature})
    with pytest.raises(ValueError, match="Invalid temperature"):
        spacy.load(tmp_path / "pipeline")


@pytest.mark.parametrize("temperature", [0.01, 0.5, 100.0])
def test_temperatures_at_the_bounds_give_finite_probabilities_and_the_same_spans(ents_nlp, temperature):
    tagger = ents_nlp.get_pipe("repsl_tagger")
    texts = ["John Smith lives in Paris .", "Mary went to Berlin and London ."]
    plain = probabilities(ents_nlp, texts)
    spans = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in ents_nlp.pipe(texts)]
    tagger.cfg["temperature"] = temperature
    try:
        scaled = probabilities(ents_nlp, texts)
        scaled_spans = [[(e.start, e.end, e.label_) for e in doc.ents] for doc in ents_nlp.pipe(texts)]
    finally:
        tagger.cfg["temperature"] = 1.0
    for before, after in zip(plain, scaled):
        assert numpy.isfinite(after).all()
        numpy.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-5)
        assert (after.argmax(axis=1) == before.argmax(axis=1)).all()  # a temperature moves scores, not tags
    assert scaled_spans == spans  # strict decoding reads the argmax


def test_a_temperature_set_out_of_range_in_python_is_refused_at_predict(ents_nlp):
    tagger = ents_nlp.get_pipe("repsl_tagger")
    tagger.cfg["temperature"] = 1e-40
    try:
        with pytest.raises(ValueError, match=r"Invalid temperature.*\[0.01, 100\]"):
            ents_nlp("John Smith lives in Paris .")
    finally:
        tagger.cfg["temperature"] = 1.0


def test_the_softmax_is_stable_for_any_temperature():
    from spacy_repsl.pipeline.tagger import softmax

    scores = numpy.array([[30.0, -20.0, 29.0], [0.0, 0.0, 0.0], [1e4, -1e4, 0.0]], dtype="float32")
    for temperature in (1e-40, 1e-3, 1.0, 1e39):
        probs = softmax(scores, temperature)
        assert numpy.isfinite(probs).all(), temperature
        numpy.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    numpy.testing.assert_allclose(softmax(scores, 1e-40)[0], [1.0, 0.0, 0.0])
    numpy.testing.assert_allclose(softmax(scores, 1e39)[0], [1 / 3] * 3, atol=1e-6)


@pytest.fixture(scope="module")
def two_taggers(ents_nlp, tmp_path_factory):
    """ents_nlp's tagger twice: "repsl_tagger" (scores_key "ents") and "second" (scores_key
    "ents_b", temperature 2: it would score the same entities differently)."""
    path = tmp_path_factory.mktemp("two") / "pipeline"
    ents_nlp.to_disk(path)
    nlp = spacy.load(path)
    nlp.add_pipe("repsl_tagger", name="second", source=spacy.load(path))
    second = nlp.get_pipe("second")
    second.scores_key, second.cfg["temperature"] = "ents_b", 2.0
    return nlp


def test_a_second_tagger_keeps_the_first_ones_scores_under_its_own_key(two_taggers):
    texts = ["John Smith lives in Paris .", "Mary went to Berlin and London ."]
    for doc in two_taggers.pipe(texts):
        first = dict(zip([(s.start, s.end, s.label_) for s in doc.spans["ents"]], doc.spans["ents"].attrs["scores"]))
        second = dict(
            zip([(s.start, s.end, s.label_) for s in doc.spans["ents_b"]], doc.spans["ents_b"].attrs["scores"])
        )
        assert first and list(second) == [(e.start, e.end, e.label_) for e in doc.ents]
        assert second == first  # kept entities keep the first tagger's scores, not the second's (T = 2)
    alone = two_taggers.get_pipe("second")(spacy.blank("en").make_doc(texts[0]))
    assert list(alone.spans["ents_b"].attrs["scores"]) != list(first.values())  # it would have scored them otherwise


def test_export_and_calibrate_ask_which_tagger(two_taggers, tmp_path, capsys):
    from spacy_repsl.calibrate import main as calibrate_main
    from spacy_repsl.export import main as export_main
    from spacy_repsl.pipeline.tagger import repsl_tagger_of

    with pytest.raises(ValueError, match=r"2 repsl_taggers \(repsl_tagger, second\).*--component"):
        repsl_tagger_of(two_taggers)
    assert repsl_tagger_of(two_taggers, "second") is two_taggers.get_pipe("second")
    with pytest.raises(ValueError, match="no repsl_tagger named 'third'"):
        repsl_tagger_of(two_taggers, "third")
    two_taggers.to_disk(tmp_path / "pipeline")
    assert export_main([str(tmp_path / "pipeline"), str(tmp_path / "out")]) == 1
    assert "--component" in capsys.readouterr().err and not (tmp_path / "out").exists()
    assert (
        calibrate_main(
            [
                str(tmp_path / "pipeline"),
                str(tmp_path / "dev.spacy"),
                str(tmp_path / "test.spacy"),
                "--output",
                str(tmp_path / "cal"),
            ]
        )
        == 1
    )
    assert "--component" in capsys.readouterr().err and not (tmp_path / "cal").exists()
    assert export_main([str(tmp_path / "pipeline"), str(tmp_path / "out"), "--component", "second"]) == 0
    assert (tmp_path / "out" / "config.json").is_file()


def test_scores_follow_their_entities_through_merge_entities(ents_nlp):
    from spacy_repsl.label.records import doc_spans

    text = "Yesterday John Smith met Mary Ann Lee in New York and Berlin ."
    patterns = [
        {"label": "PER", "pattern": "John Smith"},
        {"label": "PER", "pattern": "Mary Ann Lee"},
        {"label": "LOC", "pattern": "New York"},
        {"label": "LOC", "pattern": "Berlin"},
    ]
    ruler = spacy.blank("en", vocab=ents_nlp.vocab)
    ruler.add_pipe("entity_ruler").add_patterns(patterns)
    tagger = ents_nlp.get_pipe("repsl_tagger")
    before = tagger(ruler(text))  # the ruler's entities, kept and scored by the tagger
    merged = spacy.blank("en", vocab=ents_nlp.vocab).add_pipe("merge_entities")(tagger(ruler(text)))
    assert len(merged) < len(before) and len(before.ents) >= 4
    expected = doc_spans(before, ["ents"], {"ents": "ents"})
    found = doc_spans(merged, ["ents"], {"ents": "ents"})
    assert [(s["start"], s["end"], s["label"], s["text"]) for s in found] == [
        (s["start"], s["end"], s["label"], s["text"]) for s in expected
    ]
    assert all(s["score"] is not None for s in found)
    assert [s["score"] for s in found] == [s["score"] for s in expected]
