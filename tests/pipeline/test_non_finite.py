"""NaN and inf raise at the update where they appear, and are never saved or loaded."""

import pytest
import torch

from spacy_repsl.pipeline.weights import TRAINABLE_FILE, trainable_bytes
from spacy_repsl.storage.finite import NonFiniteError, non_finite

from .helpers import make_nlp, ner_examples, train


def head(nlp):
    return nlp.get_pipe("repsl_tagger").model.attrs["runtime"].module.head


def test_non_finite_names_the_bad_tensors():
    named = [
        ("a", torch.ones(3)),
        ("b", torch.tensor([1.0, float("nan")])),
        ("c", torch.tensor([float("inf")])),
        ("d", None),
    ]
    assert non_finite(named) == ["b", "c"] and non_finite([]) == []


def test_a_nan_loss_raises_at_once_with_the_step_and_a_fix(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    examples = ner_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples, sgd=optimizer)
    with torch.no_grad():
        head(nlp).weight[0, 0] = float("nan")
    with pytest.raises(NonFiniteError, match=r"loss is nan at update 2.*learn_rate.*grad_clip"):
        nlp.update(examples, sgd=optimizer)


def test_an_infinite_gradient_raises(tiny_decoders):
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    examples = ner_examples(nlp)
    optimizer = nlp.initialize(lambda: examples)
    head(nlp).weight.register_hook(lambda grad: grad * float("inf"))
    with pytest.raises(NonFiniteError, match=r"gradients of 1 parameter\(s\) .* at update 1 .*head.weight"):
        nlp.update(examples, sgd=optimizer)


def test_non_finite_weights_are_refused_at_save_and_at_load(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    train(nlp, ner_examples(nlp), steps=2)
    nlp.to_disk(tmp_path / "good")
    before = (tmp_path / "good" / "repsl_tagger" / TRAINABLE_FILE).read_bytes()
    with torch.no_grad():
        head(nlp).bias[0] = float("inf")
    with pytest.raises(NonFiniteError, match="about to be saved"):
        nlp.to_disk(tmp_path / "good")
    with pytest.raises(NonFiniteError):
        nlp.to_bytes()
    assert (tmp_path / "good" / "repsl_tagger" / TRAINABLE_FILE).read_bytes() == before  # the old save is intact
    # A file written with NaN by other means is refused at load.
    tagger = nlp.get_pipe("repsl_tagger")
    state = tagger.model.attrs["runtime"].module.trainable_state()
    (tmp_path / "good" / "repsl_tagger" / TRAINABLE_FILE).write_bytes(trainable_bytes(state, tagger.labels))
    import spacy

    with pytest.raises(NonFiniteError, match="NaN or infinite"):
        spacy.load(tmp_path / "good")
