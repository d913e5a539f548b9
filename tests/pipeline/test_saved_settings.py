"""A saved pipeline loads only with the base and the method settings it was trained with,
unless told otherwise; a hub id is pinned to the commit it resolved to."""

import json
import shutil

import numpy
import pytest
import spacy

from spacy_repsl.pipeline.tagger import SavedPipelineMismatch

from .helpers import TEXTS, make_nlp, ner_examples, probabilities, train


@pytest.fixture(scope="module")
def saved(tiny_decoders, tmp_path_factory):
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("saved_settings")
    base = build_tiny_decoder("qwen3", root / "base", seed=0)
    nlp = make_nlp(base, max_length=32, lora={"@misc": "spacy-repsl.lora.v1", "r": 4})
    train(nlp, ner_examples(nlp), steps=2)
    nlp.to_disk(root / "pipeline")
    return root, probabilities(nlp, TEXTS)


def edited_copy(saved, tmp_path, key, value):
    root, _ = saved
    copy = tmp_path / "copy"
    shutil.copytree(root / "pipeline", copy)
    text = (copy / "config.cfg").read_text()
    lines = [f"{key} = {value}" if line.startswith(f"{key} = ") else line for line in text.splitlines()]
    assert lines != text.splitlines(), key
    (copy / "config.cfg").write_text("\n".join(lines) + "\n")
    return copy


@pytest.mark.parametrize(
    "key,value",
    [
        ("repetitions", "2"),
        ("unmask", '"full"'),
        ("pooling", '"mean"'),
        ("positions", '"restart"'),
        ("bos", '"every"'),
        ("max_length", "48"),
    ],
)
def test_method_settings_edited_after_training_are_refused(saved, tmp_path, key, value):
    copy = edited_copy(saved, tmp_path, key, value)
    with pytest.raises(
        SavedPipelineMismatch, match=rf"{key} = .* when trained, .* now.*accept_changes = \[\"{key}\"\]"
    ):
        spacy.load(copy)
    # Deliberately: accepted, it loads.
    nlp = spacy.load(copy, config={"components": {"repsl_tagger": {"accept_changes": [key]}}})
    assert nlp("John lives in Paris .")


@pytest.mark.parametrize(
    "key,value,setting",
    [
        ("alpha", "64", "lora_alpha"),
        ("r", "8", "lora_r"),
        ("target_modules", '["q_proj","v_proj"]', "lora_target_modules"),
    ],
)
def test_lora_settings_edited_after_training_are_refused(saved, tmp_path, key, value, setting):
    """alpha scales every adapter's output: 16 -> 64 loaded silently and moved tag probabilities
    by up to 0.61 before it was recorded."""
    copy = edited_copy(saved, tmp_path, key, value)
    with pytest.raises(SavedPipelineMismatch, match=rf"{setting} = .* when trained, .* now.*\[\"{setting}\"\]"):
        spacy.load(copy)
    if setting == "lora_alpha":  # accepted, it loads, and predicts differently
        _, expected = saved
        nlp = spacy.load(copy, config={"components": {"repsl_tagger": {"accept_changes": [setting]}}})
        assert any(not numpy.allclose(a, b) for a, b in zip(expected, probabilities(nlp, TEXTS)))


def test_unchanged_settings_load_and_predict_the_same(saved):
    root, expected = saved
    info = json.loads((root / "pipeline" / "repsl_tagger" / "decoder.json").read_text())
    assert info["method"]["repetitions"] == 1 and info["base_fingerprint"]["weights"]
    for a, b in zip(expected, probabilities(spacy.load(root / "pipeline"), TEXTS)):
        numpy.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("family,seed", [("qwen3", 1), ("llama", 0)])
def test_another_base_of_the_same_shape_is_refused(saved, tmp_path, family, seed):
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root, _ = saved
    shutil.copytree(root / "pipeline", tmp_path / "pipeline")
    original = root / "base"
    moved = tmp_path / "original-base"
    shutil.move(original, moved)
    try:
        build_tiny_decoder(family, original, seed=seed)  # re-initialised, or another family, same place
        what = "weights differ" if family == "qwen3" else "model type"
        with pytest.raises(
            SavedPipelineMismatch, match=rf"not the one .* trained on: .*{what}.*accept_changes = \[\"base\"\]"
        ):
            spacy.load(tmp_path / "pipeline")
        if family == "qwen3":
            accepted = spacy.load(
                tmp_path / "pipeline", config={"components": {"repsl_tagger": {"accept_changes": ["base"]}}}
            )
            assert accepted("John lives in Paris .")
    finally:
        shutil.rmtree(original)
        shutil.move(moved, original)


def test_invalid_accept_changes_is_refused(tiny_decoders):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="Invalid accept_changes"):
        nlp.add_pipe(
            "repsl_tagger",
            config={
                "model": {"@architectures": "spacy-repsl.DecoderTagger.v1", "name": str(tiny_decoders["qwen3"])},
                "accept_changes": ["lr"],
            },
        )


def fake_hub_snapshot(cache, repo, commit, source):
    folder = cache / f"models--{repo.replace('/', '--')}"
    shutil.copytree(source, folder / "snapshots" / commit)
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)


def test_a_hub_id_is_pinned_to_the_commit_it_resolved_to(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from spacy_repsl.decoder.tiny import build_tiny_decoder

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))  # read when a file is looked up
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    first, second = "a" * 40, "b" * 40
    fake_hub_snapshot(cache, "acme/tiny", first, build_tiny_decoder("qwen3", tmp_path / "v1", seed=0))
    nlp = make_nlp("acme/tiny", max_length=32, lora={"@misc": "spacy-repsl.lora.v1", "r": 4})
    train(nlp, ner_examples(nlp), steps=2)
    expected = probabilities(nlp, TEXTS)
    nlp.to_disk(tmp_path / "pipeline")
    info = json.loads((tmp_path / "pipeline" / "repsl_tagger" / "decoder.json").read_text())
    assert info["name"] == "acme/tiny" and info["revision"] == first
    # Upstream moves on: main now points at other weights. The pipeline still loads its own.
    fake_hub_snapshot(cache, "acme/tiny", second, build_tiny_decoder("qwen3", tmp_path / "v2", seed=5))
    loaded = spacy.load(tmp_path / "pipeline")
    for a, b in zip(expected, probabilities(loaded, TEXTS)):
        numpy.testing.assert_array_equal(a, b)
