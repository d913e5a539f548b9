"""A pipeline saved without its base, whose local base directory moved: the error says what to
do, and the documented override loads it with the same predictions."""

import shutil

import numpy
import pytest
import spacy

from spacy_repsl.decoder.loading import looks_like_a_path

from .helpers import TEXTS, make_nlp, ner_examples, probabilities, train


def test_paths_and_hub_ids_are_told_apart():
    assert looks_like_a_path("/abs/local/path") and looks_like_a_path("./rel") and looks_like_a_path("a/b/c")
    assert not looks_like_a_path("Qwen/Qwen3-0.6B") and not looks_like_a_path("gpt2")


def test_a_moved_base_is_reported_with_the_fix_and_the_override_loads_it(tiny_decoders, tmp_path):
    base = tmp_path / "base"
    shutil.copytree(tiny_decoders["llama"], base)
    nlp = make_nlp(base, max_length=32)
    train(nlp, ner_examples(nlp), steps=2)
    expected = probabilities(nlp, TEXTS)
    nlp.to_disk(tmp_path / "pipeline")
    base.rename(tmp_path / "moved")
    with pytest.raises(Exception) as error:
        spacy.load(tmp_path / "pipeline")
    message = str(error.value)
    assert str(base) in message and "bundle_base = true" in message and "components.repsl_tagger.model.name" in message
    assert "hf download" not in message
    loaded = spacy.load(tmp_path / "pipeline", config={"components.repsl_tagger.model.name": str(tmp_path / "moved")})
    for a, b in zip(expected, probabilities(loaded, TEXTS)):
        numpy.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
