"""Why a checkpoint folder cannot be resumed: each cause named (pure file checks, no model)."""

import json
from dataclasses import asdict

from spacy_repsl.training.state import ARRAYS_FILE, FORMAT, STATE_FILE, Progress, read_progress, unreadable_reason


def _write(folder, progress, arrays=True):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).write_text(json.dumps({"progress": progress}))
    if arrays:
        (folder / ARRAYS_FILE).write_bytes(b"")


def _progress(**changes):
    record = asdict(Progress(steps=3, words=30, seconds=1.5, results=[[0.5, 2]], losses={}, config="abc"))
    record.update(changes)
    return record


def test_a_complete_checkpoint_of_this_format_is_readable(tmp_path):
    _write(tmp_path, _progress())
    assert unreadable_reason(tmp_path) is None and read_progress(tmp_path).steps == 3


def test_each_cause_is_named(tmp_path):
    assert "cannot be read" in unreadable_reason(tmp_path / "none")
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / STATE_FILE).write_text('{"progress": {"ste')
    assert "damaged" in unreadable_reason(tmp_path / "cut")
    _write(tmp_path / "no-arrays", _progress(), arrays=False)
    assert ARRAYS_FILE in unreadable_reason(tmp_path / "no-arrays")
    for name in ("cut", "no-arrays"):
        assert read_progress(tmp_path / name) is None


def test_another_versions_checkpoint_says_so_with_both_formats(tmp_path):
    older = _progress(format=1)
    del older["shuffles"]  # format 1 had no batch random states
    older["best_score"] = 0.5  # and a field this version does not know
    _write(tmp_path / "old", older)
    _write(tmp_path / "newer", _progress(format=FORMAT + 1))
    for name, saved in (("old", 1), ("newer", FORMAT + 1)):
        why = unreadable_reason(tmp_path / name)
        assert "another version" in why and f"format {saved}" in why and f"reads {FORMAT}" in why, why
        assert read_progress(tmp_path / name) is None
