"""LoRA folded into the base weights for prediction (fp32 bases), taken out again to train."""
import numpy
import pytest
import spacy
import torch

from spacy_repsl.models import decoder_tagger

from ..pipeline.helpers import TEXTS, make_nlp, ner_examples, probabilities, train

LORA = {"@misc": "spacy-repsl.lora.v1", "r": 4, "dropout": 0.1}


def runtime(nlp):
    return nlp.get_pipe("repsl_tagger").model.attrs["runtime"]


def base_weights(nlp):
    return {n: p.detach().clone() for n, p in runtime(nlp).module.decoder.model.named_parameters() if "base_layer" in n}


@pytest.fixture
def trained(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], max_length=32, lora=LORA)
    train(nlp, ner_examples(nlp), steps=3)
    return nlp


def test_folded_predictions_equal_the_adapters_predictions(trained):
    decoder_tagger.FAST_PATHS["fold_adapters"] = False
    try:
        separate = probabilities(trained, TEXTS)
        assert not runtime(trained).folded
    finally:
        decoder_tagger.FAST_PATHS["fold_adapters"] = True
    folded = probabilities(trained, TEXTS)
    assert runtime(trained).folded
    for a, b in zip(separate, folded):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_training_after_prediction_changes_the_adapters_and_saves_them_as_adapters(trained, tmp_path):
    before = base_weights(trained)
    lora_b = {n: p.detach().clone() for n, p in runtime(trained).module.named_parameters() if "lora_B" in n}
    probabilities(trained, TEXTS)
    assert runtime(trained).folded
    optimizer = trained.resume_training()
    for _ in range(20):  # many fold / unfold cycles, as evaluations during training make
        trained.update(ner_examples(trained), sgd=optimizer)
        assert not runtime(trained).folded
        probabilities(trained, TEXTS[:2])
    after = {n: p for n, p in runtime(trained).module.named_parameters() if "lora_B" in n}
    assert any(not torch.equal(lora_b[n], after[n]) for n in lora_b)  # the adapters trained
    trained.update(ner_examples(trained), sgd=optimizer)
    for name, weight in base_weights(trained).items():  # the frozen base came back every time
        torch.testing.assert_close(weight, before[name], rtol=0, atol=1e-6)
    expected = probabilities(trained, TEXTS)
    trained.to_disk(tmp_path / "p")
    loaded = spacy.load(tmp_path / "p")
    for a, b in zip(expected, probabilities(loaded, TEXTS)):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_quantized_bases_keep_their_adapters_separate(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], max_length=32, lora=LORA, quantization="nf4")
    train(nlp, ner_examples(nlp), steps=1)
    probabilities(nlp, TEXTS[:2])
    assert not runtime(nlp).folded and not decoder_tagger.can_fold(runtime(nlp))
