"""LoRA folded into the base weights for prediction (fp32 bases), taken out again to train."""

import numpy
import pytest
import spacy
import torch

from spacy_repsl.models import decoder_tagger, fast_paths

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
    fast_paths.FAST_PATHS["fold_adapters"] = False
    try:
        separate = probabilities(trained, TEXTS)
        assert not runtime(trained).folded
    finally:
        fast_paths.FAST_PATHS["fold_adapters"] = True
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
    trained.update(ner_examples(trained), sgd=optimizer)  # unfolded: the adapters are in the tree again
    after = {n: p for n, p in runtime(trained).module.named_parameters() if "lora_B" in n}
    assert any(not torch.equal(lora_b[n], after[n]) for n in lora_b)  # the adapters trained
    for name, weight in base_weights(trained).items():  # the frozen base came back every time, bit for bit
        assert torch.equal(weight, before[name]), name
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


def test_loading_into_a_pipeline_that_has_predicted_gives_the_saved_predictions(trained, tiny_decoders):
    """Loading writes new adapter values: over folded old ones it would corrupt the base."""
    expected = probabilities(trained, TEXTS)
    data = trained.get_pipe("repsl_tagger").to_bytes()
    other = make_nlp(tiny_decoders["llama"], max_length=32, lora=LORA)
    train(other, ner_examples(other), steps=1)
    probabilities(other, TEXTS)
    assert runtime(other).folded
    other.get_pipe("repsl_tagger").from_bytes(data)
    for _ in range(2):  # and again after it folded the new adapters
        for a, b in zip(expected, probabilities(other, TEXTS)):
            numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_folded_prediction_runs_plain_layers_and_unfolding_restores_the_wrappers(trained):
    from peft.tuners.tuners_utils import BaseTunerLayer

    def wrappers():
        return sum(isinstance(m, BaseTunerLayer) for m in runtime(trained).module.modules())

    n = wrappers()
    assert n > 0
    probabilities(trained, TEXTS[:2])
    assert runtime(trained).folded and wrappers() == 0
    trained.get_pipe("repsl_tagger").to_bytes()
    assert not runtime(trained).folded and wrappers() == n


def test_a_prediction_between_update_and_step_does_not_lose_the_adapters_step(tiny_decoders):
    """nlp.update(sgd=None), a prediction (folds the adapters), then the optimizer step: the
    adapters get exactly the step they get without the prediction (issue 25: they got none)."""
    states = []
    for predict_between in (False, True):
        spacy.util.fix_random_seed(0)
        nlp = make_nlp(tiny_decoders["llama"], max_length=32, lora={**LORA, "dropout": 0.0})
        optimizer = nlp.initialize(lambda nlp=nlp: ner_examples(nlp))
        tagger = nlp.get_pipe("repsl_tagger")
        for _ in range(3):
            nlp.update(ner_examples(nlp), sgd=None)
            if predict_between:
                tagger.predict([nlp.make_doc(t) for t in TEXTS])
                assert runtime(nlp).folded
            tagger.finish_update(optimizer)
        states.append({n: p.detach().clone() for n, p in runtime(nlp).module.trainable_state().items()})
    without, with_prediction = states
    assert set(without) == set(with_prediction) and any("lora_B" in n for n in without)
    for name in without:
        torch.testing.assert_close(with_prediction[name], without[name], rtol=1e-5, atol=1e-6)
    assert any(float(v.abs().max()) > 0 for n, v in with_prediction.items() if "lora_B" in n)
