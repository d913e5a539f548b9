"""The repsl_tagger component end to end, on tiny local decoders of every family."""

import numpy
import pytest
import spacy
from spacy.training import Example

from spacy_repsl.decoder.tiny import TINY_FAMILIES
from spacy_repsl.pipeline.tagger import SavedPipelineMismatch
from spacy_repsl.pipeline.weights import AdapterFileError

from .helpers import TEXTS, make_nlp, ner_examples, probabilities, span_examples, spans_of, train


@pytest.mark.parametrize("family", TINY_FAMILIES)
def test_train_pipe_and_round_trip(tiny_decoders, tmp_path, family):
    nlp = make_nlp(tiny_decoders[family])
    # 25 steps: every family learns the four sentences from each of 12 seeds (15 steps missed some).
    losses = train(nlp, ner_examples(nlp), steps=25)
    assert losses[-1] < 0.5 * losses[0], losses
    tagger = nlp.get_pipe("repsl_tagger")
    assert tagger.labels == ("LOC", "ORG", "PER")
    docs = list(nlp.pipe(TEXTS, batch_size=4))
    assert [len(d) for d in docs] == [len(nlp.make_doc(t)) for t in TEXTS]
    assert spans_of(nlp("John Smith lives in Paris .")) == [(0, 2, "PER"), (4, 5, "LOC")]
    probs = probabilities(nlp, TEXTS)
    assert [p.shape for p in probs] == [(len(nlp.make_doc(t)), 7) for t in TEXTS]
    assert all(numpy.allclose(p.sum(axis=1), 1.0, atol=1e-5) for p in probs)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for before, after in zip(probs, probabilities(loaded, TEXTS)):
        numpy.testing.assert_array_equal(before, after)
    assert [spans_of(d) for d in loaded.pipe(TEXTS)] == [spans_of(d) for d in docs]


def _effect_of_a_later_word(nlp, before: str, after: str, n_prefix: int) -> float:
    p_before, p_after = probabilities(nlp, [before, after])
    return float(numpy.abs(p_before[:n_prefix] - p_after[:n_prefix]).max())


@pytest.mark.parametrize("family", ["qwen3", "mistral", "gemma2", "gemma3_text", "qwen3_5_text", "lfm2", "mamba2"])
def test_predict_sees_right_context_only_when_adapted(tiny_decoders, family):
    before, after, prefix = "John lives in Paris", "John lives in Berlin", 3
    causal = make_nlp(tiny_decoders[family], repetitions=0)
    train(causal, ner_examples(causal), steps=1)
    # Exactly 0 on attention stacks. The recurrent layers' reference kernels (chunked scans, causal
    # convolutions) round differently when the sequence length changes ("Berlin" is not "Paris" in
    # pieces): up to 1e-6 there, while any right context moves a probability by more than 1e-4.
    limit = 1e-6 if family in ("qwen3_5_text", "lfm2", "mamba2") else 0.0
    assert _effect_of_a_later_word(causal, before, after, prefix) <= limit
    adaptations = [{"repetitions": 1}] + ([] if family == "mamba2" else [{"repetitions": 0, "unmask": "full"}])
    for adaptation in adaptations:  # on a hybrid, "full" unmasks its attention layers
        adapted = make_nlp(tiny_decoders[family], **adaptation)
        train(adapted, ner_examples(adapted), steps=1)
        assert _effect_of_a_later_word(adapted, before, after, prefix) > 1e-4, adaptation


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_pipe_equals_one_doc_at_a_time(tiny_decoders, pooling):
    # max_length 8 windows the long texts; a small token cap splits batches into groups.
    nlp = make_nlp(tiny_decoders["llama"], pooling=pooling, max_length=8, window_context=2, max_batch_tokens=16)
    train(nlp, ner_examples(nlp), steps=3)
    texts = TEXTS + [" ".join(TEXTS)] * 2
    alone = [probabilities(nlp, [t])[0] for t in texts]
    together = probabilities(nlp, texts)
    for a, b in zip(alone, together):
        numpy.testing.assert_allclose(a, b, atol=1e-5)
    assert [spans_of(d) for d in nlp.pipe(texts, batch_size=3)] == [spans_of(nlp(t)) for t in texts]


def test_empty_docs(tiny_decoders):
    nlp = make_nlp(tiny_decoders["qwen3"])
    train(nlp, ner_examples(nlp), steps=1)
    assert probabilities(nlp, [""])[0].shape == (0, 7)
    assert len(nlp("")) == 0
    assert [len(d) for d in nlp.pipe(["", "", "Paris"])] == [0, 0, 1]
    nlp.update([Example.from_dict(nlp.make_doc(""), {"entities": []})])


def test_error_handler_is_respected(tiny_decoders):
    nlp = make_nlp(tiny_decoders["qwen3"])
    train(nlp, ner_examples(nlp), steps=1)
    tagger = nlp.get_pipe("repsl_tagger")
    original = tagger.predict

    def predict(docs):
        if any("BOOM" in doc.text for doc in docs):
            raise RuntimeError("boom")
        return original(docs)

    tagger.predict = predict
    seen = []
    nlp.set_error_handler(lambda name, proc, docs, error: seen.append((name, [d.text for d in docs])))
    texts = [("Paris", 1), ("BOOM here", 2), ("Berlin", 3)]
    for batch_size in (1, 3):
        seen.clear()
        out = [
            (doc.text, context, spans_of(doc))
            for doc, context in nlp.pipe(texts, batch_size=batch_size, as_tuples=True)
        ]
        # Only the failing doc is handed to the handler; its batch-mates are annotated, in order.
        assert [(text, context) for text, context, _ in out] == [("Paris", 1), ("Berlin", 3)]
        assert [spans for _, _, spans in out] == [spans_of(nlp("Paris")), spans_of(nlp("Berlin"))]
        assert seen == [("repsl_tagger", ["BOOM here"])]


def test_span_target(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"], target="spans:aspects")
    losses = train(nlp, span_examples(nlp), steps=8)
    assert losses[-1] < 0.5 * losses[0]
    doc = nlp("John Smith lives in Paris .")
    assert spans_of(doc, "spans:aspects") == [(0, 2, "PER"), (4, 5, "LOC")]
    assert len(doc.ents) == 0
    scores = nlp.evaluate(span_examples(nlp))
    assert scores["spans_aspects_f"] == pytest.approx(1.0)
    nlp.to_disk(tmp_path / "spans")
    assert spans_of(spacy.load(tmp_path / "spans")("John Smith lives in Paris ."), "spans:aspects") == spans_of(
        doc, "spans:aspects"
    )


def test_viterbi_decoding_only_emits_valid_spans(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], decoding="viterbi")
    train(nlp, ner_examples(nlp), steps=2)
    for doc in nlp.pipe(TEXTS):
        tags = [f"{t.ent_iob_}-{t.ent_type_}" if t.ent_iob_ != "O" else "O" for t in doc]
        for a, b in zip(["O"] + tags, tags):
            if b.startswith("I-"):
                assert a[2:] == b[2:]


def test_labels_from_a_labels_file(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"])
    nlp.config["initialize"]["components"]["repsl_tagger"] = {"labels": ["PER", "LOC", "ORG", "MISC"]}
    nlp.initialize(lambda: ner_examples(nlp))
    tagger = nlp.get_pipe("repsl_tagger")
    assert tagger.label_data == ["PER", "LOC", "ORG", "MISC"]
    assert tagger.tag_names[:3] == ["O", "B-PER", "I-PER"]
    with pytest.raises(ValueError, match="already initialized"):
        tagger.add_label("DATE")


def test_gold_labels_outside_the_label_set(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"])
    nlp.config["initialize"]["components"]["repsl_tagger"] = {"labels": ["PER"]}
    nlp.initialize(lambda: ner_examples(nlp))
    with pytest.raises(ValueError, match=r"label\(s\) \['LOC', 'ORG'\].*not initialized with"):
        nlp.update(ner_examples(nlp))


def test_missing_annotation_is_not_trained_as_outside(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"])
    train(nlp, ner_examples(nlp), steps=1)
    tagger = nlp.get_pipe("repsl_tagger")
    doc = nlp.make_doc("John Smith lives in Paris .")
    missing = Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "-", "-", "U-LOC", "O"]})
    outside = Example.from_dict(doc, {"entities": ["B-PER", "L-PER", "O", "O", "U-LOC", "O"]})
    assert tagger.gold_tags(missing)[2:4] == [None, None]
    scores = tagger.model.predict([doc])
    _, d_missing = tagger.get_loss([missing], scores)
    _, d_outside = tagger.get_loss([outside], scores)
    assert numpy.all(d_missing[0][2:4] == 0) and numpy.any(d_outside[0][2:4] != 0)


def test_bytes_round_trip(tiny_decoders):
    nlp = make_nlp(tiny_decoders["gemma"])
    train(nlp, ner_examples(nlp), steps=3)
    data = nlp.to_bytes()
    fresh = make_nlp(tiny_decoders["gemma"])
    fresh.from_bytes(data)
    for a, b in zip(probabilities(nlp, TEXTS), probabilities(fresh, TEXTS)):
        numpy.testing.assert_array_equal(a, b)


def test_bundled_base_loads_without_the_original(tmp_path, monkeypatch):
    import shutil

    from spacy_repsl.decoder.tiny import build_tiny_decoder

    source = build_tiny_decoder("qwen3", tmp_path / "source")
    nlp = make_nlp(source, bundle_base=True)
    train(nlp, ner_examples(nlp), steps=3)
    expected = probabilities(nlp, TEXTS)
    nlp.to_disk(tmp_path / "bundled")
    assert (tmp_path / "bundled" / "repsl_tagger" / "base" / "config.json").is_file()
    shutil.rmtree(source)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    loaded = spacy.load(tmp_path / "bundled")
    for a, b in zip(expected, probabilities(loaded, TEXTS)):
        numpy.testing.assert_array_equal(a, b)


def test_a_pipeline_saved_without_its_base_needs_the_base(tmp_path):
    from spacy_repsl.decoder import DecoderNotAvailableError
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    source = build_tiny_decoder("qwen3", tmp_path / "source")
    nlp = make_nlp(source)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "small")
    size = sum(f.stat().st_size for f in (tmp_path / "small" / "repsl_tagger").iterdir())
    assert size < sum(f.stat().st_size for f in source.iterdir())
    import shutil

    shutil.rmtree(source)
    with pytest.raises(DecoderNotAvailableError, match=str(source)):
        spacy.load(tmp_path / "small")


@pytest.fixture()
def saved(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"])
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "saved")
    return tmp_path / "saved"


def test_missing_adapter_file(saved):
    (saved / "repsl_tagger" / "trainable.safetensors").unlink()
    with pytest.raises(AdapterFileError, match="trainable.safetensors is missing"):
        spacy.load(saved)


def test_corrupt_adapter_file(saved):
    path = saved / "repsl_tagger" / "trainable.safetensors"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(AdapterFileError, match="corrupt or truncated"):
        spacy.load(saved)


def test_labels_that_do_not_match_the_saved_model(saved):
    import srsly

    cfg = srsly.read_json(saved / "repsl_tagger" / "cfg")
    cfg["labels"] = cfg["labels"] + ["EXTRA"]
    srsly.write_json(saved / "repsl_tagger" / "cfg", cfg)
    with pytest.raises(AdapterFileError, match="do not match the ones .* were trained for"):
        spacy.load(saved)


def test_quantized_lora_tagger_trains_on_cpu(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], quantization="nf4", lora={"@misc": "spacy-repsl.lora.v1", "r": 8})
    losses = train(nlp, ner_examples(nlp), steps=6)
    assert losses[-1] < losses[0]
    module = nlp.get_pipe("repsl_tagger").model.attrs["runtime"].module
    names = [n for n, p in module.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n or n.startswith("head.") for n in names)


def test_invalid_settings_fail_when_the_pipe_is_added(tiny_decoders):
    with pytest.raises(ValueError, match="Valid forms"):
        make_nlp(tiny_decoders["llama"], unmask="sideways")
    with pytest.raises(ValueError, match="'ents'.*'spans:<key>'"):
        make_nlp(tiny_decoders["llama"], target="entities")
    with pytest.raises(ValueError, match="'strict'.*'viterbi'"):
        make_nlp(tiny_decoders["llama"], decoding="best")


def test_a_config_that_differs_from_the_trained_one(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"], lora={"@misc": "spacy-repsl.lora.v1", "r": 8})
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "p")
    config = (tmp_path / "p" / "config.cfg").read_text()
    (tmp_path / "p" / "config.cfg").write_text(config.replace("r = 8", "r = 4"))
    with pytest.raises(SavedPipelineMismatch, match=r"lora_r = 8 when trained, 4 now"):
        spacy.load(tmp_path / "p")  # the recorded setting names the edit
    with pytest.raises(
        AdapterFileError, match=r"has shape .* the config or labels differ"
    ):  # accepted: shapes still refuse it
        spacy.load(tmp_path / "p", config={"components": {"repsl_tagger": {"accept_changes": ["lora_r"]}}})


def test_batch_loss_is_the_mean_cross_entropy_of_known_tags(tiny_decoders):
    """The batched loss equals the textbook per-token computation, doc by doc."""
    nlp = make_nlp(tiny_decoders["llama"])
    nlp.initialize(lambda: ner_examples(nlp))
    tagger = nlp.get_pipe("repsl_tagger")
    docs = [nlp.make_doc(t) for t in ("John Smith lives in Paris .", "", "Acme hired Mary today in Berlin")]
    examples = [
        Example.from_dict(docs[0], {"entities": ["B-PER", "L-PER", "-", "-", "U-LOC", "O"]}),
        Example.from_dict(docs[1], {"entities": []}),
        Example.from_dict(docs[2], {"entities": ["U-ORG", "O", "U-PER", "O", "O", "U-LOC"]}),
    ]
    rng = numpy.random.default_rng(0)
    scores = [rng.standard_normal((len(d), len(tagger.tag_names))).astype("float32") for d in docs]
    loss, grads = tagger.get_loss(examples, scores)
    index = {name: i for i, name in enumerate(tagger.tag_names)}
    nll, counted, expected = 0.0, 0, []
    for example, doc_scores in zip(examples, scores):
        probs = numpy.exp(doc_scores) / numpy.exp(doc_scores).sum(axis=1, keepdims=True)
        grad = probs.copy()
        for i, tag in enumerate(tagger.gold_tags(example)):
            if tag is None:
                grad[i] = 0.0
            else:
                nll -= numpy.log(probs[i, index[tag]])
                grad[i, index[tag]] -= 1.0
                counted += 1
        expected.append(grad)
    assert counted == 10 and len(grads) == 3 and grads[1].shape == (0, len(tagger.tag_names))
    assert loss == pytest.approx(nll / counted, rel=1e-5)
    for got, want in zip(grads, expected):
        numpy.testing.assert_allclose(got, want / counted, rtol=1e-5, atol=1e-7)
    with pytest.raises(ValueError, match="scored tokens but .* gold tags"):
        tagger.get_loss(examples[:1], [scores[0][:4]])


@pytest.mark.parametrize("decoding", ["strict", "viterbi"])
def test_new_entities_are_set_as_doc_set_ents_sets_them(tiny_decoders, decoding):
    # Docs without entities take the batch path (token attributes from arrays); docs that
    # already carry entity annotation take the per-doc Span path. Both must write the same.
    from spacy.attrs import ENT_ID, ENT_IOB, ENT_KB_ID, ENT_TYPE

    nlp = make_nlp(tiny_decoders["llama"], decoding=decoding)
    nlp.initialize(lambda: ner_examples(nlp))
    tagger = nlp.get_pipe("repsl_tagger")
    texts = TEXTS + ["", "one", " ".join(TEXTS)]
    rng = numpy.random.default_rng(0)
    probs = [rng.dirichlet(numpy.full(len(tagger.tag_names), 0.3), size=len(nlp.make_doc(t))) for t in texts]
    fresh = [nlp.make_doc(t) for t in texts]
    annotated = [nlp.make_doc(t) for t in texts]
    for doc in annotated:
        doc.set_ents([], default="outside")  # entity annotation present, no entities
    tagger.set_annotations(fresh, probs)
    tagger.set_annotations(annotated, probs)
    attrs = [ENT_IOB, ENT_TYPE, ENT_KB_ID, ENT_ID]
    assert sum(len(doc.ents) for doc in fresh) > 5
    for a, b in zip(fresh, annotated):
        numpy.testing.assert_array_equal(a.to_array(attrs), b.to_array(attrs))
        assert spans_of(a) == spans_of(b)
    with pytest.raises(ValueError, match="tag scores for"):
        tagger.set_annotations([nlp.make_doc("two words")], [probs[0]])
