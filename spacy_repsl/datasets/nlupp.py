"""NLU++ (banking + hotels merged) -> doc.ents with the 17 slot types.

Each slot is `{"text", "span": [start, end), "value" | "values"}`; only the span and the slot
name matter here (`date_period`/`time_period` carry `values`, which is fine). Spans that do not
fall on token boundaries (trailing periods such as "Jun." or "a.m..") are counted and reported;
the two nested cases keep the longer slot and count the other as overlapping.

Split: "paper" uses the SR paper's folds in both domains (train = folds 0-9, 12, 14, 17, 19;
dev = 11, 16; test = 10, 13, 15, 18: 2152 / 309 / 619 utterances); "random" is a seeded
70/10/20 split of all utterances.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

from .common import Conversion, from_texts, random_split, require

DOMAINS = ("banking", "hotels")
PAPER_FOLDS = {
    "train": (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 14, 17, 19),
    "dev": (11, 16),
    "test": (10, 13, 15, 18),
}

Utterance = Tuple[str, List[Tuple[int, int, str]]]


def read_fold(path: Path) -> List[Utterance]:
    utterances = []
    for item in json.loads(path.read_text(encoding="utf8")):
        slots = [(s["span"][0], s["span"][1], name) for name, s in (item.get("slots") or {}).items()]
        utterances.append((item["text"], sorted(slots)))
    return utterances


def read_folds(input_dir: Path, folds) -> List[Utterance]:
    items: List[Utterance] = []
    for domain in DOMAINS:
        for fold in folds:
            items.extend(read_fold(require(input_dir / domain / f"fold{fold}.json", f"NLU++ {domain} fold {fold}")))
    return items


def convert(input_dir: Path, split: str = "paper", seed: int = 0, **_: object) -> Conversion:
    input_dir = Path(input_dir)
    if split == "paper":
        parts: Dict[str, List[Utterance]] = {name: read_folds(input_dir, folds) for name, folds in PAPER_FOLDS.items()}
    elif split == "random":
        parts = random_split(read_folds(input_dir, range(20)), (0.7, 0.1, 0.2), seed)
    else:
        raise ValueError(f"Unknown NLU++ split {split!r}: use 'paper' or 'random'.")
    return from_texts("nlupp", "ents", parts)
