"""The demo's generated corpus: entity types decided by the word after the name, or before it.

The type of one entity is decided by the word right *after* it ("kolbar corp" is an ORG, "kolbar
river" a LOC), the type of the other by the word right *before* it ("buy kolbar" is a PRODUCT);
the names themselves carry no information. A causal decoder cannot see the deciding word for the
first kind. Used by the demo, the config search's test, and `python -m spacy_repsl.datasets demo`.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import List, Optional, Set, Tuple

from spacy.tokens import Doc, Span

from .common import Conversion, from_texts

RIGHT_CUES = {"corp": "ORG", "river": "LOC", "junior": "PER"}
LEFT_CUES = {"buy": "PRODUCT", "attend": "EVENT", "read": "BOOK"}
FILLERS = ("the", "news", "said", "that", "today", "we", "saw", "about", "and", "later", "some", "people", "again")
SYLLABLES = ("ka", "lo", "mer", "tis", "bran", "do", "vel", "su", "nor", "qui", "zan", "pe", "rol", "hu", "gim")

Example = Tuple[str, List[Tuple[int, int, str]]]


def make_names(rng: random.Random, n: int) -> List[str]:
    names: Set[str] = set()
    while len(names) < n:
        names.add("".join(rng.choice(SYLLABLES) for _ in range(rng.choice((2, 3)))))
    return sorted(names)


def generate_corpus(n: int, seed: int = 0) -> List[Example]:
    """Sentences with one right-context and one left-context entity (character offsets)."""
    rng = random.Random(seed)
    names = make_names(rng, 300)
    corpus: List[Example] = []
    for _ in range(n):
        right_cue = rng.choice(sorted(RIGHT_CUES))
        left_cue = rng.choice(sorted(LEFT_CUES))
        right_name = [rng.choice(names) for _ in range(rng.choice((1, 1, 2)))]
        left_name = [rng.choice(names) for _ in range(rng.choice((1, 1, 2)))]
        parts = [
            [("w", rng.choice(FILLERS)) for _ in range(rng.randint(0, 3))],
            [("R", w) for w in right_name] + [("w", right_cue)],
            [("w", rng.choice(FILLERS)) for _ in range(rng.randint(1, 3))],
            [("w", left_cue)] + [("L", w) for w in left_name],
            [("w", rng.choice(FILLERS)) for _ in range(rng.randint(0, 2))],
        ]
        if rng.random() < 0.5:
            parts[1], parts[3] = parts[3], parts[1]
        tokens = [t for part in parts for t in part] + [("w", ".")]
        text, entities, open_span = "", [], None
        for i, (kind, word) in enumerate(tokens):
            start = len(text)
            text += word + " "
            if kind in "RL":
                label = RIGHT_CUES[right_cue] if kind == "R" else LEFT_CUES[left_cue]
                if open_span and open_span[2] == label and tokens[i - 1][0] == kind:
                    open_span = (open_span[0], start + len(word), label)
                else:
                    if open_span:
                        entities.append(open_span)
                    open_span = (start, start + len(word), label)
            elif open_span:
                entities.append(open_span)
                open_span = None
        corpus.append((text.strip(), sorted(entities)))
    return corpus


def convert(
    input_dir: Optional[Path] = None, *, seed: int = 0, sizes: Tuple[int, int, int] = (600, 200, 200), **_: object
) -> Conversion:
    """Generated train/dev/test splits (nothing is read: `input_dir` is ignored), with the
    annotations of `add_multitask` beside the entities."""
    parts = {split: generate_corpus(n, seed + i) for i, (split, n) in enumerate(zip(("train", "dev", "test"), sizes))}
    conversion = from_texts("demo", "ents", parts)
    for docs in conversion.docs.values():
        for doc in docs:
            add_multitask(doc)
    return conversion


CUES = {**RIGHT_CUES, **LEFT_CUES}


def add_multitask(doc: Doc) -> Doc:
    """What spaCy's other components can learn from a demo sentence, for the shared decoder's
    example (`configs/shared_decoder.cfg`): token tags (NAME, CUE, FILLER, PUNCT), a doc category
    (RIGHT_FIRST when the entity typed by its right context comes first, else LEFT_FIRST) and
    `doc.spans["sc"]`: each entity and, overlapping it, its phrase with the deciding cue (PHRASE)."""
    named = {i for ent in doc.ents for i in range(ent.start, ent.end)}
    for token in doc:
        token.tag_ = (
            "NAME" if token.i in named else "CUE" if token.text in CUES else "PUNCT" if token.is_punct else "FILLER"
        )
    phrases, right_first = [], None
    for ent in doc.ents:
        right = ent.end < len(doc) and doc[ent.end].text in RIGHT_CUES
        phrases.append(doc[ent.start : ent.end + 1] if right else doc[max(0, ent.start - 1) : ent.end])
        if right_first is None:
            right_first = right
    doc.cats = {"RIGHT_FIRST": float(bool(right_first)), "LEFT_FIRST": float(not right_first)}
    doc.spans["sc"] = list(doc.ents) + [Span(doc, p.start, p.end, label="PHRASE") for p in phrases]
    return doc
