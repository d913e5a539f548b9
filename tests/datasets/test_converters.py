"""Converters on small files in each format, written here, with the edge cases."""
import json

import pytest
import spacy
from spacy.tokens import DocBin

from spacy_repsl.datasets import ace05, conll03, nlupp, rest14
from spacy_repsl.datasets.__main__ import main

CONLL = """-DOCSTART- -X- -X- O

EU NNP B-NP B-ORG
rejects VBZ B-VP O
German JJ B-NP B-MISC
call NN I-NP O
. . O O

Peter NNP B-NP B-PER
Blackburn NNP I-NP I-PER

-DOCSTART- -X- -X- O

Nothing NN B-NP O
here RB B-ADVP O

Old NNP B-NP I-LOC
York NNP I-NP I-LOC
"""


def write_conll(path):
    path.mkdir()
    for name in ("train.txt", "valid.txt", "test.txt"):
        (path / name).write_text(CONLL)
    return path


def test_conll03_drops_docstart_and_marks_outside(tmp_path):
    conversion = conll03.convert(write_conll(tmp_path / "conll"))
    docs = conversion.docs["train"]
    assert [d.text for d in docs] == ["EU rejects German call .", "Peter Blackburn", "Nothing here", "Old York"]
    assert [(e.text, e.label_) for e in docs[0].ents] == [("EU", "ORG"), ("German", "MISC")]
    assert all(t.ent_iob_ in ("B", "I", "O") for d in docs for t in d)  # exhaustive gold
    assert [(e.text, e.label_) for e in docs[3].ents] == [("Old York", "LOC")]  # IOB1-style start kept
    assert len(docs[2].ents) == 0


REST_TRAIN = """<?xml version="1.0" encoding="UTF-8"?>
<sentences>
  <sentence id="1"><text>The pizza was great but the service was slow.</text>
    <aspectTerms>
      <aspectTerm term="service" polarity="negative" from="28" to="35"/>
      <aspectTerm term="pizza" polarity="positive" from="4" to="9"/>
    </aspectTerms></sentence>
  <sentence id="2"><text>Nice place.</text></sentence>
  <sentence id="3"><text>Ambiance- relaxed, food mixed.</text>
    <aspectTerms>
      <aspectTerm term="Ambiance" polarity="positive" from="0" to="8"/>
      <aspectTerm term="food" polarity="conflict" from="19" to="23"/>
    </aspectTerms></sentence>
</sentences>
"""


def write_rest14(path):
    (path / "reference_split").mkdir(parents=True)
    (path / "Restaurants_Train_v2.xml").write_text(REST_TRAIN)
    (path / "Restaurants_Test_Gold.xml").write_text(REST_TRAIN)
    (path / "reference_split" / "valid.csv").write_text('tokens,tags\n"[\'Nice\', \'place\', \'.\']","[\'O\', \'O\', \'O\']"\n')
    return path


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
    (path / "reference_split" / "valid.csv").write_text('tokens,tags\n"[\'Elsewhere\']","[\'O\']"\n')
    with pytest.raises(ValueError, match="not found"):
        rest14.convert(path)


def write_nlupp(path, folds=range(20)):
    for domain in nlupp.DOMAINS:
        (path / domain).mkdir(parents=True)
        for fold in folds:
            text = f"book {fold} rooms for next week"
            week = text.index("next week")
            items = [
                {"text": text, "slots": {
                    "rooms": {"text": str(fold), "span": [5, 5 + len(str(fold))], "value": fold},
                    "date_period": {"text": "next week", "span": [week, week + 9], "values": {"type": "absolute"}},
                }},
                {"text": "hi", "intents": ["greet"]},
                {"text": "leave at 7:25 a.m..", "slots": {"time": {"text": "7:25 a.m.", "span": [9, 18], "value": {}}}},
                {"text": "from 5 to 6 pm", "slots": {
                    "time_period": {"text": "5 to 6 pm", "span": [5, 14], "values": {}},
                    "time_from": {"text": "5", "span": [5, 6], "value": {}},
                }},
            ]
            (path / domain / f"fold{fold}.json").write_text(json.dumps(items))
    return path


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
    item = {"sentence": "He quit and they fired him", "words": ["He", "quit", "and", "they", "fired", "him"],
            "golden-event-mentions": [
                {"trigger": {"text": "quit", "start": 1, "end": 2}, "event_type": "Personnel:End-Position"},
                {"trigger": {"text": "fired", "start": 4, "end": 5}, "event_type": "Conflict:Attack"},
                {"trigger": {"text": "x", "start": 7, "end": 8}, "event_type": "Life:Die"},
            ]}
    empty = {"sentence": "Nothing", "words": ["Nothing"], "golden-event-mentions": []}
    for name in ("train.json", "dev.json", "test.json"):
        (tmp_path / name).write_text(json.dumps([item, empty]))
    conversion = ace05.convert(tmp_path)
    doc = conversion.docs["train"][0]
    assert [(s.text, s.label_) for s in doc.spans["events"]] == [("quit", "personnel:end-position"), ("fired", "conflict:attack")]
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
