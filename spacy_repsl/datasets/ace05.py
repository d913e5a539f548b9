"""ACE 2005 events, as written by the standard preprocessing tool -> doc.spans["events"].

Input: `train.json`, `dev.json`, `test.json` from github.com/nlpcl-lab/ace2005-preprocessing
(ACE 2005 is licensed by the LDC, LDC2006T06, and must be supplied by the user). Each sentence
has `words` and `golden-event-mentions` whose `trigger` has token `start`/`end` (exclusive);
the label is the event type lower-cased ("Personnel:End-Position" -> "personnel:end-position"):
33 types. The tool's tokens are kept as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import List

from spacy.tokens import Doc, Span

from .common import Conversion, require, tokenizer

FILES = {"train": "train.json", "dev": "dev.json", "test": "test.json"}
KEY = "events"


def sentence_doc(vocab, item: dict) -> tuple:
    words = item["words"]
    doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
    spans: List[Span] = []
    unaligned: List[str] = []
    for mention in item.get("golden-event-mentions", []):
        trigger = mention["trigger"]
        start, end = int(trigger["start"]), int(trigger["end"])
        label = mention["event_type"].lower()
        if 0 <= start < end <= len(words):
            spans.append(Span(doc, start, end, label=label))
        else:
            unaligned.append(f"{trigger.get('text')!r} ({label}) at tokens {start}..{end} of {len(words)}")
    return doc, spans, unaligned


def convert(input_dir: Path, files=None, **_: object) -> Conversion:
    """`files` maps split -> file name; by default train.json, dev.json, test.json."""
    input_dir = Path(input_dir)
    conversion = Conversion("ace05", f"spans:{KEY}")
    vocab = tokenizer().vocab
    for split, name in (files or FILES).items():
        path = require(
            input_dir / name,
            f"ACE05 {split} file",
            "ACE 2005 is an LDC corpus: preprocess it with nlpcl-lab/ace2005-preprocessing and point ace05_dir at its output.",
        )
        for item in json.loads(path.read_text(encoding="utf8")):
            conversion.add(split, *sentence_doc(vocab, item))
    return conversion
