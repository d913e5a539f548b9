"""Saved pipelines: readable by other users, and bundling only what a model needs."""

import os
import stat

import pytest
import spacy

from spacy_repsl.pipeline.weights import base_files

from .helpers import make_nlp, ner_examples, train


def modes(root):
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_saved_files_get_the_normal_permissions_of_the_umask(tiny_decoders, tmp_path, umask):
    nlp = make_nlp(tiny_decoders["qwen3"], max_length=32)
    train(nlp, ner_examples(nlp), steps=1)
    old = os.umask(umask)
    try:
        nlp.to_disk(tmp_path / "p")
        nlp.to_disk(tmp_path / "p")  # saving over an earlier save too
    finally:
        os.umask(old)
    for name, mode in modes(tmp_path / "p").items():
        is_dir = (tmp_path / "p" / name).is_dir() if name != "." else True
        assert mode == (0o777 if is_dir else 0o666) & ~umask, (name, oct(mode))


def test_bundling_copies_only_model_files_and_never_follows_links_out(tiny_decoders, tmp_path):
    import shutil

    base = tmp_path / "base-model"
    shutil.copytree(tiny_decoders["qwen3"], base)
    (base / "training.log").write_text("a log")
    (base / "notes.txt").write_text("private notes")
    (base / "secrets.json").symlink_to(tmp_path / "secret.json")
    (tmp_path / "secret.json").write_text('{"token": "x"}')
    nlp = make_nlp(base, bundle_base=True, max_length=32)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "p")
    bundled = sorted(p.name for p in (tmp_path / "p" / "repsl_tagger" / "base").iterdir())
    assert "training.log" not in bundled and "notes.txt" not in bundled and "secrets.json" not in bundled
    assert {"config.json", "model.safetensors", "tokenizer.json", "bundled.json"} <= set(bundled)
    assert spacy.load(tmp_path / "p")
    # A needed file that links outside the base folder is refused, not followed.
    (base / "model.safetensors").rename(tmp_path / "weights.safetensors")
    (base / "model.safetensors").symlink_to(tmp_path / "weights.safetensors")
    with pytest.raises(ValueError, match="outside the base model's folder"):
        base_files(base)
    with pytest.raises(ValueError, match="outside the base model's folder"):
        nlp.to_disk(tmp_path / "q")
    assert not (tmp_path / "q" / "repsl_tagger").exists()


def test_hidden_copies_left_by_a_killed_component_save_are_removed_by_the_next(tiny_decoders, tmp_path):
    nlp = make_nlp(tiny_decoders["qwen3"], max_length=32)
    train(nlp, ner_examples(nlp), steps=1)
    nlp.to_disk(tmp_path / "p")
    for stale in (".repsl_tagger.repsl-new-k1l2m3", ".repsl_tagger.repsl-old-x9"):
        (tmp_path / "p" / stale / "repsl_tagger").mkdir(parents=True)
    for own in (".repsl_tagger.bak", ".repsl_tagger.old"):  # a user's folders of like names are kept
        (tmp_path / "p" / own).mkdir()
    nlp.to_disk(tmp_path / "p")
    assert sorted(p.name for p in (tmp_path / "p").iterdir() if p.name.startswith(".")) == [
        ".repsl_tagger.bak",
        ".repsl_tagger.old",
    ]
    assert spacy.load(tmp_path / "p")
