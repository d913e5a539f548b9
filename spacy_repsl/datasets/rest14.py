"""SemEval-2014 Task 4 restaurants -> doc.spans["aspects"], labelled with polarity.

Polarity keeps "conflict" as a class, as the paper does. Aspect offsets are character offsets
into the text (unsorted in places); terms that do not fall on token boundaries ("Ambiance-",
"dress cod") are counted and reported, and stay O, as in the paper.

Validation: "paper" takes the SR paper's validation sentences (`reference_split/valid.csv`,
matched by their tokens joined without spaces, so tokenizer differences do not matter);
"random" holds out a seeded 10% of the training file. The official test file is the test set.
"""

from __future__ import annotations

import ast
import csv
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from typing import Dict, List, Tuple

from .common import Conversion, from_texts, random_split, require

TRAIN_FILE = "Restaurants_Train_v2.xml"
TEST_FILE = "Restaurants_Test_Gold.xml"
VALID_FILE = "reference_split/valid.csv"
KEY = "aspects"


def read_xml(path: Path) -> List[Tuple[str, List[Tuple[int, int, str]]]]:
    sentences = []
    for sentence in ET.parse(path).getroot().iter("sentence"):
        text = sentence.findtext("text") or ""
        terms = [
            (int(t.attrib["from"]), int(t.attrib["to"]), t.attrib.get("polarity", ""))
            for t in sentence.iter("aspectTerm")
            if t.get("term") not in (None, "NULL")
        ]
        sentences.append((text, sorted(terms)))
    return sentences


def squeeze(text: str) -> str:
    return "".join(text.split())


def reference_validation(path: Path) -> Counter:
    with path.open(encoding="utf8", newline="") as f:
        return Counter(squeeze("".join(ast.literal_eval(row["tokens"]))) for row in csv.DictReader(f))


def convert(input_dir: Path, split: str = "paper", seed: int = 0, **_: object) -> Conversion:
    input_dir = Path(input_dir)
    train = read_xml(require(input_dir / TRAIN_FILE, "SemEval-2014 restaurants training file"))
    test = read_xml(require(input_dir / TEST_FILE, "SemEval-2014 restaurants test gold file"))
    if split == "paper":
        wanted = reference_validation(
            require(input_dir / VALID_FILE, "The paper's validation list", "Use --split random without it.")
        )
        parts: Dict[str, list] = {"train": [], "dev": []}
        for item in train:
            key = squeeze(item[0])
            if wanted[key] > 0:
                wanted[key] -= 1
                parts["dev"].append(item)
            else:
                parts["train"].append(item)
        missing = sum(wanted.values())
        if missing:
            raise ValueError(f"{missing} validation sentence(s) of {VALID_FILE} were not found in {TRAIN_FILE}.")
    elif split == "random":
        parts = random_split(train, (0.9, 0.1, 0.0), seed)
        parts.pop("test")
    else:
        raise ValueError(f"Unknown Rest14 split {split!r}: use 'paper' or 'random'.")
    parts["test"] = test
    return from_texts("rest14", f"spans:{KEY}", parts)
