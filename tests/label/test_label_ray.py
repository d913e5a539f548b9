"""The Ray Data engine writes what the local engine writes (a local Ray instance, 2 CPUs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from spacy_repsl.label.run import BadRecordError, Options, label

from .test_label import BAD, assert_same_records, corpus, read_jsonl, write_jsonl

pytestmark = pytest.mark.slow  # a local Ray instance: about a minute


def run(pipeline, inp, out, **kwargs):
    return label(
        Options(pipeline=str(pipeline), input=str(inp), output=Path(out), **kwargs), stream=open(os.devnull, "w")
    )


def test_ray_and_local_engines_write_identical_records(pipeline, tmp_path, local_ray):
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "a.jsonl", corpus(120, seed=3) + [""])
    (tmp_path / "in" / "b.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    local = run(pipeline, tmp_path / "in", tmp_path / "local.jsonl", on_error="skip", batch_size=16)
    out = tmp_path / "ray.jsonl"  # two actors: batches finish out of order, the output must not
    ray = run(pipeline, tmp_path / "in", out, on_error="skip", batch_size=16, engine="ray", num_workers=2)
    assert_same_records(read_jsonl(out), read_jsonl(tmp_path / "local.jsonl"))  # in input order
    assert (ray.read, ray.labelled, ray.skipped) == (local.read, local.labelled, local.skipped) == (128, 123, 5)
    assert ray.errors == local.errors
    run(pipeline, tmp_path / "in", tmp_path / "ray.spacy", on_error="skip", engine="ray", num_workers=2)
    run(pipeline, tmp_path / "ray.spacy", tmp_path / "back.jsonl")

    def without_ids(path):
        return [{k: v for k, v in r.items() if k not in ("_source", "_line")} for r in read_jsonl(path)]

    assert_same_records(without_ids(tmp_path / "back.jsonl"), without_ids(tmp_path / "local.jsonl"))  # fields kept


def test_ray_engine_stops_at_a_bad_record_and_resumes(pipeline, tmp_path, local_ray):
    (tmp_path / "bad.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    with pytest.raises(BadRecordError, match=r"bad.jsonl:2: not valid JSON"):
        run(pipeline, tmp_path / "bad.jsonl", tmp_path / "out.jsonl", engine="ray")
    assert (tmp_path / "out.jsonl").read_text().count("\n") == 1  # the record before it was kept
    summary = run(pipeline, tmp_path / "bad.jsonl", tmp_path / "out.jsonl", engine="ray", resume=True, on_error="skip")
    assert summary.resumed_after[1] == 1 and (summary.read, summary.labelled, summary.skipped) == (6, 1, 5)
