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

from ..pipeline.helpers import TRAIN

WORDS = "John Smith lives in Paris and Mary works for Acme Corp in Berlin , the United Nations met".split()


def corpus(n: int, seed: int = 0):
    import random

    rng = random.Random(seed)
    texts = [text for text, _ in TRAIN]
    for _i in range(n):
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
    return label(
        Options(pipeline=str(pipeline), input=str(inp), output=Path(out), **kwargs), stream=open(os.devnull, "w")
    )


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
        scores = doc.spans["ents"].attrs["scores"]  # each span's confidence, as the component wrote it
        assert record["spans"] == [
            {
                "start": e.start_char,
                "end": e.end_char,
                "label": e.label_,
                "token_start": e.start,
                "token_end": e.end,
                "text": e.text,
                "score": pytest.approx(float(x), abs=1e-6),
            }
            for e, x in zip(doc.ents, scores)
        ]
        assert all(0.0 <= span["score"] <= 1.0 for span in record["spans"])
        for span in record["spans"]:
            assert record["text"][span["start"] : span["end"]] == span["text"]


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
    docs = [
        d
        for part in sorted((tmp_path / "b.spacy").glob("*.spacy"))
        for d in DocBin().from_disk(part).get_docs(spacy.blank("en").vocab)
    ]
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


BAD = [
    '{"text": "John Smith lives in Paris ."}',
    '{"text": "broken',
    "",
    '["a list"]',
    '{"body": "no text"}',
    '{"text": null}',
    '{"text": "Mary works in Berlin ."}',
]


def test_bad_lines_are_reported_with_their_line_and_counted(pipeline, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    code = main(
        [
            str(pipeline),
            str(tmp_path / "bad.jsonl"),
            str(tmp_path / "out.jsonl"),
            "--on-error",
            "skip",
            "--progress-every",
            "0",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0
    for line, what in (
        (2, "not valid JSON"),
        (3, "empty line"),
        (4, "not an object"),
        (5, "no 'text' field"),
        (6, "not a string"),
    ):
        assert f"bad.jsonl:{line}: " in err and what in err
    assert "Read 7 record(s); labelled 2; skipped 5" in err
    assert [r["_line"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1, 7]


def test_a_bad_line_stops_the_run_by_default_keeping_what_came_before(pipeline, tmp_path, capsys):
    (tmp_path / "bad.jsonl").write_text("\n".join(BAD) + "\n", encoding="utf-8")
    code = main([str(pipeline), str(tmp_path / "bad.jsonl"), str(tmp_path / "out.jsonl")])
    err = capsys.readouterr().err
    assert code == 1 and "bad.jsonl:2: not valid JSON" in err and "--on-error skip" in err
    assert "What was labelled before it is in" in err
    assert [r["_line"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1]


def test_existing_output_is_not_overwritten_without_being_asked(pipeline, tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", ["John"])
    (tmp_path / "out.jsonl").write_text("precious\n")
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    assert "--resume" in capsys.readouterr().err and (tmp_path / "out.jsonl").read_text() == "precious\n"
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--overwrite"]) == 0
    assert read_jsonl(tmp_path / "out.jsonl")[0]["text"] == "John"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{pipeline}", "{tmp}/missing.jsonl", "{tmp}/o.jsonl"], "does not exist"),
        (["{pipeline}", "{tmp}/in.csv", "{tmp}/o.jsonl"], "unknown format"),
        (["{pipeline}", "{tmp}/in.jsonl", "{tmp}/o.csv"], "unknown output format"),
        (["{tmp}/no-pipeline", "{tmp}/in.jsonl", "{tmp}/o.jsonl"], "Cannot load the pipeline"),
        (["{pipeline}", "{tmp}/in.jsonl", "{tmp}/in.jsonl", "--overwrite"], "also an input"),
    ],
)
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
    command = [
        sys.executable,
        "-m",
        "spacy_repsl.label",
        str(pipeline),
        str(inp),
        str(tmp_path / "cut.jsonl"),
        "--batch-size",
        "50",
    ]
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
    assert_same_records(read_jsonl(out), read_jsonl(tmp_path / "whole.jsonl"))
    assert out.read_bytes().count(b"\n") == (tmp_path / "whole.jsonl").read_bytes().count(b"\n")


def assert_same_records(got, expected):
    """Equal records, but span scores within 1e-5: a resumed run batches docs differently, and a
    doc's probabilities are batch-invariant to 1e-5, not to the bit (spans and labels exactly)."""

    def exact(record):
        return {**record, "spans": [{k: v for k, v in span.items() if k != "score"} for span in record["spans"]]}

    assert [exact(r) for r in got] == [exact(r) for r in expected]
    for a, b in zip(got, expected):
        assert [s["score"] for s in a["spans"]] == pytest.approx([s["score"] for s in b["spans"]], abs=1e-5)


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

    assert_same_records(pq.read_table(out).to_pylist(), pq.read_table(tmp_path / "whole.parquet").to_pylist())
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
    label(
        Options(pipeline=str(pipeline), input=str(inp), output=tmp_path / "o.jsonl", progress_every=10), stream=stream
    )
    lines = [line for line in stream.getvalue().splitlines() if "docs/s" in line]
    assert [line.split(" docs")[0] for line in lines] == ["10", "20"] and "of 25" in lines[0] and "left" in lines[0]


@pytest.mark.parametrize("name", ["out.jsonl", "out.parquet"])
def test_a_second_run_on_the_same_output_is_refused_while_the_first_writes(tmp_path, name):
    from spacy_repsl.label.sinks import open_sink

    first = open_sink(tmp_path / name, resume=False, overwrite=False)
    with pytest.raises(LabelInputError, match="Another `label` run is writing"):
        open_sink(tmp_path / name, resume=True, overwrite=False)
    first.close()
    open_sink(tmp_path / name, resume=True, overwrite=False).close()  # free again once the first is done


def test_byte_order_marks_are_dropped_from_jsonl_and_text_inputs(pipeline, tmp_path):
    texts = corpus(6)
    expected = read_jsonl_after(
        run, pipeline, write_jsonl(tmp_path / "plain.jsonl", texts, extra=False), tmp_path / "ref.jsonl"
    )
    bom = "\ufeff"
    jsonl = tmp_path / "bom.jsonl"  # a BOM at the start of the file and one left by `cat a.jsonl b.jsonl`
    lines = [json.dumps({"text": t}, ensure_ascii=False) for t in texts]
    jsonl.write_text(bom + "\n".join(lines[:3]) + "\n" + bom + "\n".join(lines[3:]) + "\n", encoding="utf-8")
    txt = tmp_path / "bom.txt"
    txt.write_text(bom + "\n".join(texts[:3]) + "\n" + bom + "\n".join(texts[3:]) + "\n", encoding="utf-8")
    for source in (jsonl, txt):
        records = read_jsonl_after(run, pipeline, source, tmp_path / f"{source.suffix[1:]}.out.jsonl")
        assert [r["text"] for r in records] == texts  # no U+FEFF left in the first token
        assert [r["spans"] for r in records] == [r["spans"] for r in expected]


def tree(path: Path):
    """Every file under `path` (or the file itself) with its bytes, to show nothing changed."""
    if path.is_file():
        return {path.name: path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


@pytest.mark.parametrize(
    "relation",
    [
        "same file by symlink",
        "same file via ..",
        "same file by hard link",
        "jsonl inside the input directory",
        "parquet inside the input directory",
        "spacy inside the input directory",
        "parts directory onto itself",
        "output contains the input",
        "output matches the input glob",
    ],
)
def test_an_output_that_is_or_touches_an_input_is_refused_before_anything_is_written(pipeline, tmp_path, relation):
    data = tmp_path / "data"
    data.mkdir()
    write_jsonl(data / "in.jsonl", corpus(5))
    spec, output = str(data / "in.jsonl"), None
    if relation == "same file by symlink":
        (tmp_path / "link.jsonl").symlink_to(data / "in.jsonl")
        output = tmp_path / "link.jsonl"
    elif relation == "same file via ..":
        output = data / ".." / "data" / "in.jsonl"
    elif relation == "same file by hard link":
        os.link(data / "in.jsonl", tmp_path / "hard.jsonl")
        output = tmp_path / "hard.jsonl"
    elif relation.endswith("inside the input directory"):
        spec, output = str(data), data / f"out.{relation.split()[0]}"
    elif relation == "parts directory onto itself":
        run(pipeline, data / "in.jsonl", tmp_path / "parts.parquet", part_size=2)
        spec, output = str(tmp_path / "parts.parquet"), tmp_path / "parts.parquet"
    elif relation == "output contains the input":
        run(pipeline, data / "in.jsonl", tmp_path / "parts.spacy", part_size=2)
        spec, output = str(tmp_path / "parts.spacy" / "part-000001.spacy"), tmp_path / "parts.spacy"
    else:
        spec, output = str(data / "*.jsonl"), data / "labelled.jsonl"
    before = tree(tmp_path)
    for resume, overwrite in ((False, True), (True, False)):
        with pytest.raises(
            LabelInputError, match="OUTPUT .* (is also an input|contains the input|lies inside|matches)"
        ):
            label(
                Options(pipeline=str(pipeline), input=spec, output=Path(output), resume=resume, overwrite=overwrite),
                stream=open(os.devnull, "w"),
            )
        assert tree(tmp_path) == before  # nothing cleared, nothing written


def test_an_output_beside_the_input_is_fine(pipeline, tmp_path):
    (tmp_path / "data").mkdir()
    write_jsonl(tmp_path / "data" / "in.jsonl", corpus(3))
    assert run(pipeline, tmp_path / "data" / "in.jsonl", tmp_path / "data" / "out.jsonl").labelled == 3
    assert run(pipeline, str(tmp_path / "data" / "in*.jsonl"), tmp_path / "data" / "o.parquet").labelled == 3


def test_a_5mb_record_is_labelled_and_a_longer_one_is_a_skippable_bad_record(tmp_path, capsys):
    """spaCy refuses texts over nlp.max_length (1,000,000) with E088; label raises it to
    --max-length. An entity ruler keeps a 5 MB doc fast; how a repsl_tagger labels a long doc in
    windows is tested with the component."""
    nlp = spacy.blank("en")
    nlp.add_pipe("entity_ruler").add_patterns([{"label": "LOC", "pattern": "Paris"}])
    nlp.to_disk(tmp_path / "ruler")
    long_text = "Berlin " * 800_000 + "Paris"  # 5.6 MB, Paris at the very end
    write_jsonl(tmp_path / "in.jsonl", ["John lives in Paris .", long_text, "Mary works in Berlin ."])
    assert main([str(tmp_path / "ruler"), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]) == 0
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [r["_line"] for r in records] == [1, 2, 3] and records[1]["text"] == long_text
    assert [(s["start"], s["text"]) for s in records[1]["spans"]] == [(len(long_text) - 5, "Paris")]
    code = main(
        [
            str(tmp_path / "ruler"),
            str(tmp_path / "in.jsonl"),
            str(tmp_path / "skip.jsonl"),
            "--max-length",
            "1000",
            "--on-error",
            "skip",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0 and f"in.jsonl:2: a text of {len(long_text):,} characters, more than --max-length 1,000" in err
    assert [r["_line"] for r in read_jsonl(tmp_path / "skip.jsonl")] == [1, 3]


def test_a_long_record_reports_its_tokens_as_its_passes_run(pipeline, tmp_path, monkeypatch):
    """A record of many windows runs in many decoder passes inside one batch: label prints lines of
    tokens done and their rate, the last one at the record's own token count."""
    import io
    import re

    from spacy_repsl.label import progress

    monkeypatch.setattr(progress, "LONG_BATCH_TOKENS", 500)
    monkeypatch.setattr(progress, "LONG_BATCH_SECONDS", 0.0)
    long_text = " ".join(WORDS * 60)  # 1,080 tokens: dozens of 64-piece windows, several passes
    write_jsonl(tmp_path / "in.jsonl", [long_text])
    stream = io.StringIO()
    label(
        Options(pipeline=str(pipeline), input=str(tmp_path / "in.jsonl"), output=tmp_path / "out.jsonl"), stream=stream
    )
    lines = re.findall(r"long batch: ([\d,]+) of ([\d,]+) tokens labelled, ([\d,]+) tokens/s", stream.getvalue())
    done = [int(d.replace(",", "")) for d, _, _ in lines]
    assert len(lines) >= 2 and done == sorted(done)
    assert {int(t.replace(",", "")) for _, t, _ in lines} == {len(spacy.blank("en")(long_text))} == {done[-1]}
    # short records never report
    write_jsonl(tmp_path / "short.jsonl", corpus(20))
    stream = io.StringIO()
    label(
        Options(pipeline=str(pipeline), input=str(tmp_path / "short.jsonl"), output=tmp_path / "short-out.jsonl"),
        stream=stream,
    )
    assert "long batch" not in stream.getvalue()


def test_label_lets_the_pipeline_take_texts_up_to_max_length(pipeline):
    from spacy_repsl.label.run import prepare_pipeline

    nlp = prepare_pipeline(spacy.load(pipeline), 5_000_000)
    assert nlp.max_length > 5_000_000


def test_a_byte_that_is_not_utf8_is_a_bad_record_at_its_own_line(pipeline, tmp_path, capsys):
    texts = corpus(450)
    for suffix in (".jsonl", ".txt"):
        path = tmp_path / f"in{suffix}"
        lines = [json.dumps({"text": t}) if suffix == ".jsonl" else t for t in texts]
        data = ("\n".join(lines[:400]) + "\n").encode() + lines[400].encode()[:3] + b"\xff" + lines[400].encode()[3:]
        path.write_bytes(data + ("\n" + "\n".join(lines[401:]) + "\n").encode())
        assert main([str(pipeline), str(path), str(tmp_path / f"fail{suffix}.jsonl")]) == 1
        err = capsys.readouterr().err
        assert f"in{suffix}:401: not UTF-8 text (byte 0xFF at column 4" in err
        assert len(read_jsonl(tmp_path / f"fail{suffix}.jsonl")) == 400  # what came before is written, as said
        assert main([str(pipeline), str(path), str(tmp_path / f"skip{suffix}.jsonl"), "--on-error", "skip"]) == 0
        assert "skipped 1 bad record" in capsys.readouterr().err
        assert [r["_line"] for r in read_jsonl(tmp_path / f"skip{suffix}.jsonl")] == [
            n for n in range(1, 451) if n != 401
        ]


def test_no_rate_after_the_first_batch_when_there_is_one_batch(pipeline, tmp_path, capsys):
    write_jsonl(tmp_path / "in.jsonl", corpus(12))
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "a.jsonl"), "--batch-size", "64"]) == 0
    assert "after the first" not in capsys.readouterr().err  # one batch: nothing to measure after it
    summary = run(pipeline, tmp_path / "in.jsonl", tmp_path / "b.jsonl", batch_size=4)
    assert summary.batch_size == 4 and summary.first_batch is not None and summary.first_batch >= summary.first_record


def test_an_unwritable_output_is_one_line_naming_the_cause(pipeline, tmp_path, capsys, monkeypatch):
    from spacy_repsl.label import run as run_module

    write_jsonl(tmp_path / "in.jsonl", ["John"])
    target = tmp_path / "locked" / "out.jsonl"

    def denied(path, **kwargs):
        raise PermissionError(13, "Permission denied", str(target))

    monkeypatch.setattr(run_module, "open_sink", denied)  # root ignores file modes, so deny it here
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(target)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Permission denied" in err and str(target) in err and "Traceback" not in err


def test_a_pipeline_that_predicts_nothing_is_refused(tmp_path, capsys):
    spacy.blank("en").to_disk(tmp_path / "blank")
    write_jsonl(tmp_path / "in.jsonl", ["John"])
    assert main([str(tmp_path / "blank"), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    assert "no component that predicts entities or spans" in capsys.readouterr().err


def test_a_record_with_its_own_spans_field_is_not_silently_replaced(pipeline, tmp_path, capsys):
    (tmp_path / "in.jsonl").write_text(json.dumps({"text": "John lives in Paris .", "spans": ["mine"]}) + "\n")
    assert main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl")]) == 2
    err = capsys.readouterr().err
    assert "in.jsonl:1: the record has its own 'spans' field" in err and "--replace-spans" in err
    assert (
        main([str(pipeline), str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--overwrite", "--replace-spans"])
        == 0
    )
    assert read_jsonl(tmp_path / "out.jsonl")[0]["spans"] != ["mine"]


def test_a_blank_line_is_an_empty_text_in_txt_and_a_bad_record_in_jsonl(pipeline, tmp_path):
    (tmp_path / "in.txt").write_text("John lives in Paris .\n\nMary works in Berlin .\n", encoding="utf-8")
    assert run(pipeline, tmp_path / "in.txt", tmp_path / "out.jsonl").labelled == 3
    records = read_jsonl(tmp_path / "out.jsonl")
    assert [(r["_line"], r["text"], r["spans"]) for r in records][1] == (2, "", [])
    (tmp_path / "in.jsonl").write_text('{"text": "Paris"}\n\n{"text": "Berlin"}\n', encoding="utf-8")
    with pytest.raises(Exception, match="in.jsonl:2: empty line"):
        run(pipeline, tmp_path / "in.jsonl", tmp_path / "out2.jsonl")
