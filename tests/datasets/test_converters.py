"""Converters on small files in each format, written here, with the edge cases."""

import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_repsl.datasets import ace05, conll03, nlupp, rest14
from spacy_repsl.datasets.__main__ import main

from .samples import ACE_ITEMS, write_ace05, write_conll, write_nlupp, write_rest14


def test_conll03_drops_docstart_and_marks_outside(tmp_path):
    conversion = conll03.convert(write_conll(tmp_path / "conll"))
    docs = conversion.docs["train"]
    assert [d.text for d in docs] == ["EU rejects German call .", "Peter Blackburn", "Nothing here", "Old York"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("EU", "ORG"), ("German", "MISC")]
    assert all(t.ent_iob_ in ("B", "I", "O") for d in docs for t in d)  # exhaustive gold
    assert [(e.text, e.label_) for e in docs[3].ents] == [("Old York", "LOC")]  # IOB1-style start kept
    assert len(docs[2].ents) == 0
    # the POS and chunk columns, for spaCy's tagger and spancat on a shared decoder
    assert [t.tag_ for t in docs[0]] == ["NNP", "VBZ", "JJ", "NN", "."]
    assert [(s.text, s.label_) for s in docs[0].spans["chunks"]] == [
        ("EU", "NP"),
        ("rejects", "VP"),
        ("German call", "NP"),
    ]


def test_conll03_with_two_columns_has_entities_only(tmp_path):
    for name in ("train.txt", "valid.txt", "test.txt"):
        (tmp_path / name).write_text("EU B-ORG\nrejects O\n")
    (doc,) = conll03.convert(tmp_path).docs["train"]
    assert [(e.text, e.label_) for e in doc.ents] == [("EU", "ORG")]
    assert "chunks" not in doc.spans and not doc.has_annotation("TAG")


def test_rest14_polarity_spans_unaligned_and_paper_validation(tmp_path):
    conversion = rest14.convert(write_rest14(tmp_path / "rest"))
    assert [d.text for d in conversion.docs["dev"]] == ["Nice place."]
    train = conversion.docs["train"]
    assert [(s.text, s.label_) for s in train[0].spans["aspects"]] == [("pizza", "positive"), ("service", "negative")]
    assert [(s.text, s.label_) for s in train[1].spans["aspects"]] == [("food", "conflict")]
    assert conversion.reports["train"].unaligned == 1  # "Ambiance" inside the token "Ambiance-"
    assert "Ambiance" in conversion.reports["train"].unaligned_examples[0]
    assert len(conversion.docs["dev"][0].spans["aspects"]) == 0


def test_rest14_missing_validation_sentence_is_an_error(tmp_path):
    path = write_rest14(tmp_path / "rest")
    (path / "reference_split" / "valid.csv").write_text("tokens,tags\n\"['Elsewhere']\",\"['O']\"\n")
    with pytest.raises(ValueError, match="not found"):
        rest14.convert(path)


def test_nlupp_values_nested_and_unaligned(tmp_path):
    conversion = nlupp.convert(write_nlupp(tmp_path / "nlupp"))
    assert [len(conversion.docs[s]) for s in ("train", "dev", "test")] == [14 * 8, 2 * 8, 4 * 8]
    doc = conversion.docs["train"][0]
    assert [(e.text, e.label_) for e in doc.ents] == [("0", "rooms"), ("next week", "date_period")]
    report = conversion.reports["train"]
    assert report.unaligned == 14 * 2  # "7:25 a.m." ends inside the token "a.m.."
    assert report.overlapping == 14 * 2  # nested time_from inside time_period: the longer stays
    nested = conversion.docs["train"][3]
    assert [(e.text, e.label_) for e in nested.ents] == [("5 to 6 pm", "time_period")]
    random = nlupp.convert(tmp_path / "nlupp", split="random", seed=0)
    assert [len(random.docs[s]) for s in ("train", "dev", "test")] == [112, 16, 32]


def test_ace05_events(tmp_path):
    items = [dict(ACE_ITEMS[0]), ACE_ITEMS[1]]
    items[0]["golden-event-mentions"] = ACE_ITEMS[0]["golden-event-mentions"] + [
        {"trigger": {"text": "x", "start": 7, "end": 8}, "event_type": "Life:Die"}
    ]
    conversion = ace05.convert(write_ace05(tmp_path, items))
    doc = conversion.docs["train"][0]
    assert [(s.text, s.label_) for s in doc.spans["events"]] == [
        ("quit", "personnel:end-position"),
        ("fired", "conflict:attack"),
    ]
    assert conversion.reports["train"].unaligned == 1


def test_cli_writes_docbins_and_a_report(tmp_path, capsys):
    main(["conll03", str(write_conll(tmp_path / "in")), str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert "conll03 train: 4 docs, 4 spans, 4 labels, 0 unaligned" in out
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["labels"] == ["LOC", "MISC", "ORG", "PER"] and report["splits"]["dev"]["docs"] == 4
    docs = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(spacy.blank("en").vocab))
    assert [(e.text, e.label_) for e in docs[0].ents] == [("EU", "ORG"), ("German", "MISC")]


def test_missing_input_files_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.txt"):
        conll03.convert(tmp_path)
    with pytest.raises(FileNotFoundError, match="LDC"):
        ace05.convert(tmp_path)


def test_cli_names_a_missing_relative_path_and_where_it_was_read_from(tmp_path, monkeypatch, capsys):
    from spacy_repsl.datasets.__main__ import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["conll03", "../shared/data/conll2003", "corpus/conll03"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: CoNLL-2003 train file not found")
    assert str(tmp_path) in err and "relative to project/" in err and "Traceback" not in err


def test_a_missing_dataset_can_be_marked_skipped_and_the_grid_leaves_it_out(tmp_path, capsys):
    from spacy_repsl.datasets.__main__ import main
    from spacy_repsl.datasets.skipped import skipped_datasets
    from spacy_repsl.experiments.reports import skipped_lines

    main(["ace05", str(tmp_path / "no-ace"), str(tmp_path / "corpus" / "ace05"), "--skip-if-missing"])
    assert "ace05: SKIPPED" in capsys.readouterr().out
    assert list(skipped_datasets(tmp_path / "corpus", ["ace05", "conll03"])) == ["ace05"]
    assert any("ace05: ACE05 train file not found" in line for line in skipped_lines(tmp_path))
    # once the files are there, converting again clears the mark
    main(["ace05", str(write_ace05(tmp_path / "ace")), str(tmp_path / "corpus" / "ace05"), "--skip-if-missing"])
    assert skipped_datasets(tmp_path / "corpus", ["ace05"]) == {} and skipped_lines(tmp_path) == []


def test_limit_keeps_the_first_documents_and_says_so(tmp_path, capsys):
    main(["conll03", str(write_conll(tmp_path / "conll")), str(tmp_path / "out"), "--limit", "2,0,1"])
    assert "train: 2 docs (the first of 4)" in capsys.readouterr().out
    nlp = spacy.blank("en")
    train = list(DocBin().from_disk(tmp_path / "out" / "train.spacy").get_docs(nlp.vocab))
    test = list(DocBin().from_disk(tmp_path / "out" / "test.spacy").get_docs(nlp.vocab))
    dev = list(DocBin().from_disk(tmp_path / "out" / "dev.spacy").get_docs(nlp.vocab))
    assert [d.text for d in train] == ["EU rejects German call .", "Peter Blackburn"] and len(dev) == 4
    assert [d.text for d in test] == ["EU rejects German call ."]
    report = json.loads((tmp_path / "out" / "report.json").read_text())["splits"]
    assert report["train"]["subset"] == "first 2 of 4" and report["train"]["spans"] == 3
    assert report["train"]["labels"] == {"MISC": 1, "ORG": 1, "PER": 1} and "subset" not in report["dev"]
    with pytest.raises(SystemExit):
        main(["conll03", str(tmp_path / "conll"), str(tmp_path / "bad"), "--limit", "2,1"])
    assert "three numbers" in capsys.readouterr().err
