"""Errors name the real cause: a path that exists is not "missing"."""

import os

import pytest

from spacy_repsl.storage.paths import os_error_line, why_unusable


def test_why_a_path_cannot_be_used(tmp_path):
    (tmp_path / "file.txt").write_text("x")
    assert why_unusable(tmp_path / "file.txt") == "" and why_unusable(tmp_path) == ""
    assert why_unusable(tmp_path / "nothing").endswith("does not exist")
    (tmp_path / "dangling").symlink_to(tmp_path / "gone")
    assert "symbolic link to" in why_unusable(tmp_path / "dangling") and "gone" in why_unusable(tmp_path / "dangling")
    os.mkfifo(tmp_path / "pipe")
    assert "exists but is a FIFO" in why_unusable(tmp_path / "pipe")


def test_permission_denied_is_not_missing(tmp_path, monkeypatch):
    real_stat = os.stat

    def denied(path, *args, **kwargs):  # root ignores file modes, so deny it here
        if str(path).startswith(str(tmp_path / "locked")):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", denied)
    assert "permission denied" in why_unusable(tmp_path / "locked" / "train.txt")
    assert os_error_line(PermissionError(13, "Permission denied", "/x/y")) == "/x/y: Permission denied"


@pytest.mark.parametrize("cli", ["label", "datasets", "gguf"])
def test_the_clis_say_symlink_and_fifo_not_missing(tmp_path, capsys, cli):
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (tmp_path / "d").symlink_to(tmp_path / "gone-dir")
    (tmp_path / "model.gguf").symlink_to(tmp_path / "gone.gguf")
    with pytest.raises(SystemExit) as exit_info:
        if cli == "label":
            from spacy_repsl.label.__main__ import main

            raise SystemExit(main(["pipeline", str(tmp_path / "dangling.jsonl"), str(tmp_path / "out.jsonl")]))
        if cli == "datasets":
            from spacy_repsl.datasets.__main__ import main

            main(["conll03", str(tmp_path / "d"), str(tmp_path / "out")])
        from spacy_repsl.decoder.gguf import main

        main([str(tmp_path / "model.gguf")])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "symbolic link to" in err and "Traceback" not in err, err
