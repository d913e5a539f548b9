"""Small files in each dataset's published format, written by the tests themselves."""

import json

from spacy_repsl.datasets import nlupp

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
    path.mkdir(parents=True, exist_ok=True)
    for name in ("train.txt", "valid.txt", "test.txt"):
        (path / name).write_text(CONLL)
    return path


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
    (path / "reference_split" / "valid.csv").write_text("tokens,tags\n\"['Nice', 'place', '.']\",\"['O', 'O', 'O']\"\n")
    return path


def write_nlupp(path, folds=range(20)):
    for domain in nlupp.DOMAINS:
        (path / domain).mkdir(parents=True)
        for fold in folds:
            text = f"book {fold} rooms for next week"
            week = text.index("next week")
            items = [
                {
                    "text": text,
                    "slots": {
                        "rooms": {"text": str(fold), "span": [5, 5 + len(str(fold))], "value": fold},
                        "date_period": {"text": "next week", "span": [week, week + 9], "values": {"type": "absolute"}},
                    },
                },
                {"text": "hi", "intents": ["greet"]},
                {"text": "leave at 7:25 a.m..", "slots": {"time": {"text": "7:25 a.m.", "span": [9, 18], "value": {}}}},
                {
                    "text": "from 5 to 6 pm",
                    "slots": {
                        "time_period": {"text": "5 to 6 pm", "span": [5, 14], "values": {}},
                        "time_from": {"text": "5", "span": [5, 6], "value": {}},
                    },
                },
            ]
            (path / domain / f"fold{fold}.json").write_text(json.dumps(items))
    return path


ACE_ITEMS = [
    {
        "sentence": "He quit and they fired him",
        "words": ["He", "quit", "and", "they", "fired", "him"],
        "golden-event-mentions": [
            {"trigger": {"text": "quit", "start": 1, "end": 2}, "event_type": "Personnel:End-Position"},
            {"trigger": {"text": "fired", "start": 4, "end": 5}, "event_type": "Conflict:Attack"},
        ],
    },
    {"sentence": "Nothing", "words": ["Nothing"], "golden-event-mentions": []},
]


def write_ace05(path, items=ACE_ITEMS):
    path.mkdir(parents=True, exist_ok=True)
    for name in ("train.json", "dev.json", "test.json"):
        (path / name).write_text(json.dumps(items))
    return path
