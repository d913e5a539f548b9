"""CoNLL-2003 English NER: `train.txt`, `valid.txt`, `test.txt` (token POS chunk NER) -> doc.ents,
and, where a file has the four columns, the POS tags as `token.tag_` and the chunks (NP, VP, PP,
...) as `doc.spans["chunks"]`, for the shared decoder's multi-task runs (spaCy's `tagger` and
`spancat` read them).

`-DOCSTART-` lines are dropped (spaCy's converter would turn them into sentences). Tags are
read as IOB2; an I-X that does not continue X (IOB1 style) starts an entity, so no gold entity
is lost whichever scheme a copy uses.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, List, Tuple

from spacy.tokens import Doc, Span

from ..iob.tags import repair_iob2, strict_spans
from .common import Conversion, require, tokenizer

FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}


CHUNKS_KEY = "chunks"


def read_sentences(path: Path) -> Iterator[List[Tuple[str, str]]]:
    """(token, NER tag) lists, one per sentence."""
    for rows in read_rows(path):
        yield [(row[0], row[-1]) for row in rows]


def read_rows(path: Path) -> Iterator[List[List[str]]]:
    """Each sentence's rows of columns (token ... NER tag: two columns or more)."""
    sentence: List[List[str]] = []
    with path.open(encoding="utf8") as lines:
        for number, line in enumerate(lines, 1):
            line = line.strip()
            if not line or line.startswith("-DOCSTART-"):
                if sentence:
                    yield sentence
                sentence = []
                continue
            columns = line.split()
            if len(columns) < 2:
                raise ValueError(f"{path}:{number}: expected 'token ... tag' columns, got {line!r}.")
            sentence.append(columns)
    if sentence:
        yield sentence


def convert(input_dir: Path, **_: object) -> Conversion:
    conversion = Conversion("conll03", "ents")
    vocab = tokenizer().vocab
    for split, name in FILES.items():
        path = require(Path(input_dir) / name, f"CoNLL-2003 {split} file", "Expected train.txt, valid.txt, test.txt.")
        for rows in read_rows(path):
            words = [row[0] for row in rows]
            doc = Doc(vocab, words=words, spaces=[True] * (len(words) - 1) + [False])
            tags = repair_iob2([row[-1] for row in rows])
            spans = [Span(doc, s, e, label=label) for s, e, label in strict_spans(tags)]
            if all(len(row) >= 4 for row in rows):
                for token, row in zip(doc, rows):
                    token.tag_ = row[1]
                chunks = repair_iob2([row[2] for row in rows])
                doc.spans[CHUNKS_KEY] = [Span(doc, s, e, label=label) for s, e, label in strict_spans(chunks)]
            conversion.add(split, doc, spans)
    return conversion
