"""Long documents, hostile text, determinism, atomic saves: the component keeps every token."""

import numpy
import pytest
import spacy
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spacy_repsl.pipeline.weights import AdapterFileError

from .helpers import TRAIN, make_nlp, ner_examples, probabilities, spans_of, train

HOSTILE = [
    "",
    "   \n\t  ",
    "!!! ... ??? ,,, ;;; ---",
    "family 👩‍👩‍👧‍👦 and flags 🇯🇵🇫🇷 and skin 👍🏽 tones",
    "東京都に住んでいます。北京欢迎你。서울특별시",
    "שלום עולם مرحبا بالعالم John lives in Paris",
    "combining e\u0301e\u0301 a\u0308\u0308 Z\u0336\u0336\u0336algo",
    "control \x00 NUL \x07 bell \x1b escape \x7f del \u200b zero-width \ufeff bom",
    "https://example.com/" + "a" * 2000 + " end",
    "windows\r\nline\r\nendings\rand\nmixed\r\n\r\n",
    "John\u00a0Smith\u2003lives\u2028in\u2029Paris",
]


@pytest.fixture(scope="module")
def trained(tiny_decoders):
    from thinc.api import fix_random_seed

    fix_random_seed(0)  # the same model whichever tests ran before
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    train(nlp, ner_examples(nlp), steps=10)
    return nlp


def check_doc(nlp, doc):
    probs = nlp.get_pipe("repsl_tagger").predict([nlp.make_doc(doc.text)])[0]
    assert probs.shape == (len(doc), 7)
    assert numpy.isfinite(probs).all()
    for ent in doc.ents:  # spaCy spans are whole tokens; check they are inside the doc
        assert 0 <= ent.start < ent.end <= len(doc)


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_text(trained, text):
    doc = trained(text)
    assert len(doc) == len(trained.make_doc(text))
    check_doc(trained, doc)


def test_hostile_texts_in_one_batch_equal_one_by_one(trained):
    together = probabilities(trained, HOSTILE)
    for text, probs in zip(HOSTILE, together):
        numpy.testing.assert_allclose(probs, probabilities(trained, [text])[0], atol=1e-5)


def test_isolated_docs_are_bit_identical_whatever_the_batch(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], isolate_docs=True, repetitions=2)
    train(nlp, ner_examples(nlp), steps=2)
    texts = HOSTILE + [TRAIN[0][0]] * 3
    together = probabilities(nlp, texts)
    for text, probs in zip(texts, together):
        numpy.testing.assert_array_equal(probs, probabilities(nlp, [text])[0])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=120))
def test_generated_text_gets_one_prediction_per_token(trained, text):
    doc = trained(text)
    check_doc(trained, doc)


def test_a_5000_token_doc_is_labelled_everywhere(trained):
    sentence = TRAIN[0][0] + " "
    text = sentence * (5000 // 6 + 1)
    doc = trained.make_doc(text)
    assert len(doc) >= 5000
    probs = trained.get_pipe("repsl_tagger").predict([doc])[0]
    assert probs.shape == (len(doc), 7) and numpy.isfinite(probs).all()
    labelled = trained(text)
    # The same sentence over and over: the windowed doc labels each copy as the model labels
    # the sentence with context, including copies at window edges.
    per_copy = [spans_of(labelled[i : i + 6].as_doc()) for i in range(0, len(labelled) - 6, 6)]
    assert len(set(map(tuple, per_copy))) == 1, set(map(tuple, per_copy))


def test_sentence_aware_windows(trained):
    nlp = trained
    text = (" ".join(t for t, _ in TRAIN) + " ") * 30
    doc = nlp.make_doc(text)
    for i, token in enumerate(doc):
        token.is_sent_start = i == 0 or doc[i - 1].text == "."
    from spacy_repsl.tokenization.pieces import build_batch, tokenize_docs

    runtime = nlp.get_pipe("repsl_tagger").model.attrs["runtime"]
    (pieces,) = tokenize_docs(runtime.tokenizer, [doc], runtime.placeholder_id)
    assert pieces.sentence_starts
    batch = build_batch([pieces], max_length=64)
    starts = set(pieces.sentence_starts)
    windows = len(batch.sequences)
    assert windows > 1
    probs = nlp.get_pipe("repsl_tagger").predict([doc])[0]
    assert probs.shape[0] == len(doc)
    # Most cores end at a sentence start.
    from spacy_repsl.tokenization.windows import plan_windows

    plan = plan_windows(len(pieces.ids), 64, None, pieces.sentence_starts)
    assert sum(w.core_end in starts for w in plan[:-1]) >= len(plan[:-1]) - 1


def test_zero_piece_docs_share_a_placeholder():
    from spacy_repsl.tokenization.pieces import tokenize_docs

    class Silent:
        def __call__(self, texts, **kwargs):
            return {"input_ids": [[] for _ in texts], "offset_mapping": [[] for _ in texts]}

    doc = spacy.blank("en")("vanishes entirely")
    (pieces,) = tokenize_docs(Silent(), [doc], placeholder_id=7)
    assert pieces.ids == [7] and pieces.token_pieces == [[0], [0]]


def test_same_seed_same_weights_and_predictions(tiny_decoders):
    from thinc.api import fix_random_seed

    runs = []
    for _ in range(2):
        fix_random_seed(0)
        nlp = make_nlp(tiny_decoders["qwen3"], head_dropout=0.1)
        train(nlp, ner_examples(nlp), steps=3)
        module = nlp.get_pipe("repsl_tagger").model.attrs["runtime"].module
        runs.append(({k: v.clone() for k, v in module.trainable_state().items()}, probabilities(nlp, [TRAIN[1][0]])[0]))
    (weights_a, probs_a), (weights_b, probs_b) = runs
    assert weights_a.keys() == weights_b.keys()
    assert all(bool((weights_a[k] == weights_b[k]).all()) for k in weights_a)
    numpy.testing.assert_array_equal(probs_a, probs_b)


def test_a_crash_mid_save_keeps_the_previous_pipeline(tiny_decoders, tmp_path, monkeypatch):
    nlp = make_nlp(tiny_decoders["llama"])
    train(nlp, ner_examples(nlp), steps=2)
    nlp.to_disk(tmp_path / "p")
    before = probabilities(spacy.load(tmp_path / "p"), [TRAIN[0][0]])[0]
    train(nlp, ner_examples(nlp), steps=0)

    import spacy_repsl.pipeline.weights as serialization

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("power cut")

    monkeypatch.setattr(serialization, "trainable_bytes", crash)
    with pytest.raises(KeyboardInterrupt):
        nlp.get_pipe("repsl_tagger").to_disk(tmp_path / "p" / "repsl_tagger")
    leftovers = [p.name for p in (tmp_path / "p").iterdir() if p.name.startswith(".")]
    assert leftovers == []
    after = probabilities(spacy.load(tmp_path / "p"), [TRAIN[0][0]])[0]
    numpy.testing.assert_array_equal(before, after)


def test_labels_edited_after_training_are_refused(tiny_decoders, tmp_path):
    import srsly

    nlp = make_nlp(tiny_decoders["llama"])
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "p")
    cfg = srsly.read_json(tmp_path / "p" / "repsl_tagger" / "cfg")
    cfg["labels"] = ["LOC", "PER", "ORG"]  # same count, different order: would silently swap labels
    srsly.write_json(tmp_path / "p" / "repsl_tagger" / "cfg", cfg)
    with pytest.raises(AdapterFileError, match="were trained for"):
        spacy.load(tmp_path / "p")


def test_a_quantization_the_machine_cannot_run(monkeypatch):
    import bitsandbytes
    import torch

    from spacy_repsl.decoder.quantization import check_quantization_support

    monkeypatch.setattr(bitsandbytes, "__version__", "0.43.1")
    with pytest.raises(RuntimeError, match="needs bitsandbytes >= 0.45.*set quantization to null"):
        check_quantization_support("nf4", torch.device("cpu"))
    with pytest.raises(RuntimeError, match="not supported on mps"):
        check_quantization_support("int8", torch.device("mps"))


def test_merged_adapters_cannot_be_saved_as_adapters(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"], lora={"@misc": "spacy-repsl.lora.v1", "r": 4, "dropout": 0.0})
    train(nlp, ner_examples(nlp), steps=2)
    before = probabilities(nlp, [TRAIN[0][0]])[0]
    assert nlp.get_pipe("repsl_tagger").merge_adapters() == 4 * 4
    numpy.testing.assert_allclose(probabilities(nlp, [TRAIN[0][0]])[0], before, atol=1e-5)
    with pytest.raises(ValueError, match="Save the pipeline before merging"):
        nlp.to_disk(tmp_path / "merged")
