"""`python -m spacy_repsl.label`: formats, bad input, resume, long and empty documents."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_repsl.label.__main__ import main
from spacy_repsl.label.run import Options, label
from spacy_repsl.label.sources import LabelInputError

from ..pipeline.helpers import TRAIN, make_nlp, ner_examples, train

WORDS = "John Smith lives in Paris and Mary works for Acme Corp in Berlin , the United Nations met".split()


@pytest.fixture(scope="module")
def pipeline(tiny_decoders, tmp_path_factory) -> Path:
    """A trained tiny pipeline on disk that predicts some entities."""
    nlp = make_nlp(tiny_decoders["llama"], max_length=64)
    train(nlp, ner_examples(nlp), steps=30)
    path = tmp_path_factory.mktemp("label") / "pipeline"
    nlp.to_disk(path)
    return path


def corpus(n: int, seed: int = 0):
    import random

    rng = random.Random(seed)
    texts = [text for text, _ in TRAIN]
    for i in range(n):
        texts.append(" ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 25))))
    return texts[:n]


def write_jsonl(path: Path, texts, extra=True) -> Path:
    with path.open("w", encoding="utf-8") as f:
        for i, text in enumerate(texts):
            record = {"text": text, "doc_id": f"d{i}", "meta": {"n": i}} if extra else {"text": text}
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: Path):
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def run(pipeline, inp, out, **kwargs):
    return label(Options(pipeline=str(pipeline), input=str(inp), output=Path(out), **kwargs), stream=open(os.devnull, "w"))


def test_jsonl_records_keep_their_fields_and_get_spans_with_offsets(pipeline, tmp_path):
    texts = corpus(40)
    summary = run(pipeline, write_jsonl(tmp_path / "in.jsonl", texts), tmp_path / "out.jsonl")
    records = read_jsonl(tmp_path / "out.jsonl")
    assert (summary.read, summary.labelled, summary.skipped) == (40, 40, 0)
    assert [r["text"] for r in records] == texts and [r["_line"] for r in records] == list(range(1, 41))
    assert [r["doc_id"] for r in records] == [f"d{i}" for i in range(40)] and records[3]["meta"] == {"n": 3}
    nlp = spacy.load(pipeline)
    assert sum(len(r["spans"]) for r in records) > 0  # the pipeline does predict something
    for record, doc in zip(records, nlp.pipe(texts)):
        assert record["spans"] == [{"start": e.start_char, "end": e.end_char, "label": e.label_, "token_start": e.start,
                                    "token_end": e.end, "text": e.text} for e in doc.ents]
        for span in record["spans"]:
            assert record["text"][span["start"]:span["end"]] == span["text"]


def test_every_format_round_trips(pipeline, tmp_path):
    texts = corpus(30) + [""]
    expected = read_jsonl_after(run, pipeline, write_jsonl(tmp_path / "in.jsonl", texts), tmp_path / "ref.jsonl")
    # txt in, parquet out (parts of 7 docs), parquet back in, .spacy out, .spacy back in, jsonl out
    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    run(pipeline, tmp_path / "in.txt", tmp_path / "a.parquet", part_size=7)
    assert len(list((tmp_path / "a.parquet").glob("part-*.parquet"))) == 5
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "a.parquet")  # the directory reads as one table
    assert table.column("text").to_pylist() == texts
    run(pipeline, tmp_path / "a.parquet", tmp_path / "b.spacy", part_size=100)
    docs = [d for part in sorted((tmp_path / "b.spacy").glob("*.spacy"))
            for d in DocBin().from_disk(part).get_docs(spacy.blank("en").vocab)]
    assert [d.text for d in docs] == texts
    run(pipeline, tmp_path / "b.spacy", tmp_path / "c.jsonl")
    final = read_jsonl(tmp_path / "c.jsonl")
    assert [r["spans"] for r in final] == [r["spans"] for r in expected]
    assert [r["text"] for r in final] == texts


def read_jsonl_after(fn, *args):
    fn(*args)
    return read_jsonl(args[-1])


def test_a_directory_or_glob_is_every_file_in_order(pipeline, tmp_path):
    (tmp_path / "in").mkdir()
    write_jsonl(tmp_path / "in" / "b.jsonl", ["Mary works", "in Berlin"])
    write_jsonl(tmp_path / "in" / "a.jsonl", ["John Smith"])
    run(pipeline, tmp_path / "in", tmp_path / "out.jsonl")
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [(Path(r["_source"]).name, r["_line"]) for r in records] == [("a.jsonl", 1), ("b.jsonl", 1), ("b.jsonl", 2)]
    run(pipeline, str(tmp_path / "in" / "b*.jsonl"), tmp_path / "glob.jsonl")
    assert len(read_jsonl(tmp_path / "glob.jsonl")) == 2


BAD = ['{"text": "John Smith lives in Paris ."}', '{"text": "broken', '', '["a list"]', '{"body": "no text"}',
       '{"text": null}', '{"text": "Mary works in Berlin ."}']


def test_bad_lines_are_reported_with_their_line_and_counted(pipeline, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    code = main([str(pipeline), str(tmp_path / "bad.jsonl"), str(tmp_path / "out.jsonl"), "--on-error", "skip",
                 "--progress-every", "0"])
    err = capsys.readouterr().err
    assert code == 0
    for line, what in ((2, "not valid JSON"), (3, "empty line"), (4, "not an object"), (5, "no 'text' field"),
                       (6, "not a string")):
        assert f"bad.jsonl:{line}: " in err and what in err
    assert "Read 7 record(s); labelled 2; skipped 5" in err
    assert [r["_line"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1, 7]


def test_a_bad_line_stops_the_run_by_default_keeping_what_came_before(pipeline, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    code = main([str(pipeline), str(tmp_path / "bad.jsonl"), str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "bad.jsonl:2: not valid JSON" in err and "--on-error skip" in err


def test_existing_output_is_not_overwritten_without_being_asked(pipeline, tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", ["John"])
    (tmp_path / "out.jsonl").write_text("precious\n")
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    assert "--resume" in capsys.readouterr().err and (tmp_path / "out.jsonl").read_text() == "precious\n"
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--overwrite"]) == 0
    assert read_jsonl(tmp_path / "out.jsonl")[0]["text"] == "John"


@pytest.mark.parametrize("argv, message", [
    (["{pipeline}", "{tmp}/missing.jsonl", "{tmp}/o.jsonl"], "does not exist"),
    (["{pipeline}", "{tmp}/in.csv", "{tmp}/o.jsonl"], "unknown format"),
    (["{pipeline}", "{tmp}/in.jsonl", "{tmp}/o.csv"], "unknown output format"),
    (["{tmp}/no-pipeline", "{tmp}/in.jsonl", "{tmp}/o.jsonl"], "Cannot load the pipeline"),
    (["{pipeline}", "{tmp}/in.jsonl", "{tmp}/in.jsonl", "--overwrite"], "also an input"),
])
def test_wrong_arguments_get_a_clear_error(pipeline, tmp_path, capsys, argv, message):
    write_jsonl(tmp_path / "in.jsonl", ["John"])
    (tmp_path / "in.csv").write_text("text\nJohn\n")
    argv = [a.format(pipeline=pipeline, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_a_long_document_and_an_empty_text_are_labelled_and_kept(pipeline, tmp_path):
    long_text = " ".join(WORDS[i % len(WORDS)] for i in range(20000))
    run(pipeline, write_jsonl(tmp_path / "in.jsonl", ["", long_text, "   "]), tmp_path / "out.jsonl", batch_size=2)
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["text"] for r in records] == ["", long_text, "   "]
    assert records[0]["spans"] == []
    nlp = spacy.load(pipeline)
    doc = nlp(long_text)
    assert len(doc) == 20000
    assert [(s["token_start"], s["label"]) for s in records[1]["spans"]] == [(e.start, e.label_) for e in doc.ents]
    assert [s["token_start"] for s in records[2]["spans"]] == [e.start for e in nlp("   ").ents]


def test_resume_after_a_killed_run_gives_the_uninterrupted_output(pipeline, tmp_path):
    texts = corpus(1500, seed=1)
    inp = write_jsonl(tmp_path / "in.jsonl", texts)
    run(pipeline, inp, tmp_path / "whole.jsonl", batch_size=50)
    command = [sys.executable, "-m", "spacy_repsl.label", str(pipeline), str(inp), str(tmp_path / "cut.jsonl"),
               "--batch-size", "50"]
    child = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    out = tmp_path / "cut.jsonl"
    deadline = time.time() + 300
    while time.time() < deadline and (not out.exists() or out.stat().st_size < 10000):
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    partial = out.read_bytes()
    assert 0 < len(partial.splitlines()) < 1500, "the run was not cut mid-way"
    summary = run(pipeline, inp, out, batch_size=50, resume=True)
    assert summary.resumed_after is not None and summary.labelled < 1500
    assert out.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()


def test_resume_of_a_parts_output_continues_after_the_last_complete_part(pipeline, tmp_path):
    texts = corpus(50, seed=2)
    inp = write_jsonl(tmp_path / "in.jsonl", texts)
    run(pipeline, inp, tmp_path / "whole.parquet", part_size=10)
    out = tmp_path / "cut.parquet"
    run(pipeline, inp, out, part_size=10)
    for part in sorted(out.glob("part-*"))[3:]:  # as if the run had died after three parts
        part.unlink()
    (out / "part-000004.parquet.tmp").write_bytes(b"half a part")
    summary = run(pipeline, inp, out, part_size=10, resume=True)
    assert summary.resumed_after == (str(inp), 30) and summary.labelled == 20
    import pyarrow.parquet as pq

    assert pq.read_table(out).to_pylist() == pq.read_table(tmp_path / "whole.parquet").to_pylist()
    assert not list(out.glob("*.tmp"))


def test_resume_refuses_other_inputs(pipeline, tmp_path):
    run(pipeline, write_jsonl(tmp_path / "a.jsonl", ["John"]), tmp_path / "out.jsonl")
    with pytest.raises(LabelInputError, match="same INPUT"):
        run(pipeline, write_jsonl(tmp_path / "b.jsonl", ["Mary"]), tmp_path / "out.jsonl", resume=True)


def test_several_processes_write_what_one_process_writes(pipeline, tmp_path):
    inp = write_jsonl(tmp_path / "in.jsonl", corpus(60, seed=4))
    run(pipeline, inp, tmp_path / "one.jsonl", batch_size=8)
    run(pipeline, inp, tmp_path / "two.jsonl", batch_size=8, n_process=2)
    assert (tmp_path / "two.jsonl").read_bytes() == (tmp_path / "one.jsonl").read_bytes()


def test_progress_lines_without_a_terminal(pipeline, tmp_path):
    import io

    stream = io.StringIO()
    inp = write_jsonl(tmp_path / "in.jsonl", corpus(25))
    label(Options(pipeline=str(pipeline), input=str(inp), output=tmp_path / "o.jsonl", progress_every=10), stream=stream)
    lines = [l for l in stream.getvalue().splitlines() if "docs/s" in l]
    assert [l.split(" docs")[0] for l in lines] == ["10", "20"] and "of 25" in lines[0] and "left" in lines[0]


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path, name):
    from spacy_repsl.label.sinks import open_sink

    first = open_sink(tmp_path / name, resume=False, overwrite=False)
    with pytest.raises(LabelInputError, match="Another `label` run is writing"):
        open_sink(tmp_path / name, resume=True, overwrite=False)
    first.close()
    open_sink(tmp_path / name, resume=True, overwrite=False).close()  # free again once the first is done
