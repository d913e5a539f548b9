"""The project's default base: finding, checking and converting SmolLM2-135M's GGUF."""
import pytest

from spacy_repsl.experiments import base_model


def test_finds_a_copy_in_a_folder_or_its_subfolders(tmp_path):
    (tmp_path / "models" / "smollm2").mkdir(parents=True)
    assert base_model.find_gguf([tmp_path / "models", tmp_path / "missing"]) is None
    copy = tmp_path / "models" / "smollm2" / base_model.GGUF_NAME
    copy.write_bytes(b"not it")
    assert base_model.find_gguf([tmp_path / "missing", tmp_path / "models"]) == copy
    with pytest.raises(ValueError, match="damaged or another file"):
        base_model.check_sha256(copy)


def test_another_model_needs_no_smollm2(tmp_path, capsys):
    base_model.main([str(tmp_path / "assets" / "smollm2-135m"), "--only-if-listed", "Qwen/Qwen3-0.6B,/x/y",
                     "--search", str(tmp_path / "nowhere"), "--download-dir", str(tmp_path / "dl")])
    assert "nothing to prepare" in capsys.readouterr().out and not (tmp_path / "dl").exists()


def test_the_real_copy_is_checked_and_converted(smollm2_gguf, tmp_path, monkeypatch):
    def no_download(folder):
        raise AssertionError("a local copy was there: nothing should be downloaded")

    monkeypatch.setattr(base_model, "download_gguf", no_download)
    out = base_model.prepare(tmp_path / "smollm2-135m", [smollm2_gguf.parent.parent], tmp_path / "dl")
    assert (out / "config.json").is_file() and (out / "gguf_source.json").is_file()
    assert base_model.prepare(out, [], tmp_path / "dl") == out  # done once
