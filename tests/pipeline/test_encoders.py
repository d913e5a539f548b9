"""repsl_tagger on encoder bases (BERT, RoBERTa, XLM-RoBERTa, DeBERTa-v2, ELECTRA, MPNet,
ModernBERT): the same component, alignment, scores, saving, label and packaging as decoders."""

import json
import subprocess
import sys

import numpy
import pytest
import spacy

from spacy_repsl.decoder.families import UnsupportedModelError
from spacy_repsl.encoders.tiny import TINY_ENCODERS

from .helpers import TEXTS, install_package, make_nlp, ner_examples, probabilities, spans_of, train

LORA = {"@misc": "spacy-repsl.lora.v1", "r": 8, "alpha": 16, "dropout": 0.0}


def encoder_nlp(path, **settings):
    spacy.util.fix_random_seed(0)  # the head's initial weights, whatever ran before
    settings.setdefault("repetitions", 0)
    return make_nlp(path, **settings)


@pytest.mark.parametrize("family", TINY_ENCODERS)
def test_train_pipe_and_round_trip(tiny_encoders, tmp_path, family):
    nlp = encoder_nlp(tiny_encoders[family])
    losses = train(nlp, ner_examples(nlp), steps=15)
    assert losses[-1] < 0.5 * losses[0], losses
    docs = list(nlp.pipe(TEXTS, batch_size=4))
    assert spans_of(nlp("John Smith lives in Paris .")) == [(0, 2, "PER"), (4, 5, "LOC")]
    probs = probabilities(nlp, TEXTS)
    assert [p.shape for p in probs] == [(len(nlp.make_doc(t)), 7) for t in TEXTS]  # every token a prediction
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    for before, after in zip(probs, probabilities(loaded, TEXTS)):
        numpy.testing.assert_array_equal(before, after)
    assert [spans_of(d) for d in loaded.pipe(TEXTS)] == [spans_of(d) for d in docs]
    saved = json.loads((tmp_path / "pipeline" / "repsl_tagger" / "decoder.json").read_text())
    assert saved["base_fingerprint"]["model_type"] == family


def test_lora_on_an_encoder_saves_only_adapters_and_head(tiny_encoders, tmp_path):
    nlp = encoder_nlp(tiny_encoders["bert"], lora=LORA)
    losses = train(nlp, ner_examples(nlp), steps=15)
    assert losses[-1] < 0.8 * losses[0], losses
    nlp.to_disk(tmp_path / "lora")
    full = encoder_nlp(tiny_encoders["bert"])
    train(full, ner_examples(full), steps=1)
    full.to_disk(tmp_path / "full")
    size = lambda name: (tmp_path / name / "repsl_tagger" / "trainable.safetensors").stat().st_size  # noqa: E731
    assert size("lora") < size("full") / 3
    loaded = spacy.load(tmp_path / "lora")
    for before, after in zip(probabilities(nlp, TEXTS), probabilities(loaded, TEXTS)):
        numpy.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("family", ["bert", "modernbert", "deberta-v2"])
def test_predictions_use_the_right_context(tiny_encoders, family):
    nlp = encoder_nlp(tiny_encoders[family])
    train(nlp, ner_examples(nlp), steps=1)
    before, after = probabilities(nlp, ["John lives in Paris", "John lives in Berlin"])
    assert float(numpy.abs(before[:3] - after[:3]).max()) > 1e-4


@pytest.mark.parametrize("pooling", ["first", "mean"])
def test_pipe_equals_one_doc_at_a_time_with_windows(tiny_encoders, pooling):
    nlp = encoder_nlp(tiny_encoders["roberta"], pooling=pooling, max_length=8, window_context=2, max_batch_tokens=16)
    train(nlp, ner_examples(nlp), steps=3)
    texts = TEXTS + [" ".join(TEXTS)] * 2
    together = probabilities(nlp, texts)
    for text, batched in zip(texts, together):
        (alone,) = probabilities(nlp, [text])
        numpy.testing.assert_allclose(batched, alone, atol=1e-5)


def test_decoder_settings_are_refused_when_the_pipeline_initializes(tiny_encoders):
    nlp = make_nlp(tiny_encoders["electra"], repetitions=1)  # the architecture's default r = 1
    with pytest.raises(UnsupportedModelError, match="already attends to both sides.*Set repetitions = 0"):
        nlp.initialize(lambda: ner_examples(nlp))


def test_scores_and_label_on_an_encoder_pipeline(tiny_encoders, tmp_path):
    from spacy_repsl.label.__main__ import main

    nlp = encoder_nlp(tiny_encoders["mpnet"])
    train(nlp, ner_examples(nlp), steps=15)
    nlp.to_disk(tmp_path / "pipeline")
    source = tmp_path / "in.txt"
    source.write_text("John Smith lives in Paris .\nMary works for Acme Corp in Berlin .\n")
    assert main([str(tmp_path / "pipeline"), str(source), str(tmp_path / "out.jsonl")]) == 0
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    expected = [
        [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        for doc in nlp.pipe(["John Smith lives in Paris .", "Mary works for Acme Corp in Berlin ."])
    ]
    assert [[(s["start"], s["end"], s["label"]) for s in r["spans"]] for r in records] == expected
    assert all(0.0 < s["score"] <= 1.0 for r in records for s in r["spans"])


def test_spacy_package_carries_a_bundled_encoder(tiny_encoders, tmp_path):
    import shutil

    base = tmp_path / "base"
    shutil.copytree(tiny_encoders["xlm-roberta"], base)
    nlp = encoder_nlp(base, bundle_base=True)
    train(nlp, ner_examples(nlp), steps=15)
    expected = [(e.text, e.label_) for e in nlp("John Smith lives in Paris .").ents]
    nlp.to_disk(tmp_path / "pipeline")
    site = install_package(tmp_path / "pipeline", "repsl_encoder", tmp_path)
    shutil.rmtree(base)  # the bundled copy must be all it needs
    script = (
        "import json, sys, spacy; sys.path.insert(0, sys.argv[1]); nlp = spacy.load('en_repsl_encoder'); "
        "print(json.dumps([(e.text, e.label_) for e in nlp('John Smith lives in Paris .').ents]))"
    )
    result = subprocess.run([sys.executable, "-c", script, str(site)], check=True, capture_output=True, text=True)
    assert [tuple(x) for x in json.loads(result.stdout.strip().splitlines()[-1])] == expected
