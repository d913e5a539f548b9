"""What every converter shares: placing character spans on tokens, reporting, writing."""

from __future__ import annotations

import json
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import spacy
from spacy.language import Language
from spacy.tokens import Doc, DocBin, Span
from spacy.util import filter_spans

from ..iob.scoring import target_spans
from ..storage.paths import why_unusable

SPLITS = ("train", "dev", "test")
CharSpan = Tuple[int, int, str]


@dataclass
class SplitReport:
    """Counts for one split: what was converted and what could not be placed on tokens."""

    docs: int = 0
    spans: int = 0
    unaligned: int = 0
    overlapping: int = 0
    labels: Counter = field(default_factory=Counter)
    unaligned_examples: List[str] = field(default_factory=list)
    subset_of: Optional[int] = None  # the split's full size when only its first `docs` are kept

    def as_dict(self) -> dict:
        return {
            "docs": self.docs,
            **({"subset": f"first {self.docs} of {self.subset_of}"} if self.subset_of else {}),
            "spans": self.spans,
            "unaligned": self.unaligned,
            "overlapping_dropped": self.overlapping,
            "labels": dict(sorted(self.labels.items())),
            "unaligned_examples": self.unaligned_examples[:20],
        }


@dataclass
class Conversion:
    """Docs per split, where the spans go (`target`), and a report per split."""

    dataset: str
    target: str
    docs: Dict[str, List[Doc]] = field(default_factory=dict)
    reports: Dict[str, SplitReport] = field(default_factory=dict)

    def add(self, split: str, doc: Doc, spans: Sequence[Span], unaligned: Sequence[str] = ()) -> None:
        """Attach `spans` to `doc` (every other token is O) and count it."""
        report = self.reports.setdefault(split, SplitReport())
        kept = filter_spans(spans)
        report.docs += 1
        report.spans += len(kept)
        report.overlapping += len(spans) - len(kept)
        report.unaligned += len(unaligned)
        report.unaligned_examples.extend(unaligned)
        report.labels.update(s.label_ for s in kept)
        if self.target == "ents":
            doc.set_ents(kept, default="outside")
        else:
            doc.spans[self.target.split(":", 1)[1]] = kept
        self.docs.setdefault(split, []).append(doc)

    @property
    def labels(self) -> List[str]:
        return sorted({label for r in self.reports.values() for label in r.labels})

    def summary_lines(self) -> List[str]:
        lines = []
        for split in SPLITS:
            if split in self.reports:
                r = self.reports[split]
                size = f"{r.docs} docs (the first of {r.subset_of})" if r.subset_of else f"{r.docs} docs"
                lines.append(
                    f"{self.dataset} {split}: {size}, {r.spans} spans, {len(r.labels)} labels, "
                    f"{r.unaligned} unaligned span(s) left out, {r.overlapping} overlapping span(s) dropped"
                    + (" (in the whole split)" if r.subset_of else "")
                )
        return lines

    def limit(self, sizes: Dict[str, int]) -> None:
        """Keep the first `sizes[split]` docs of each split named (a subset for CPU-sized runs);
        the report then counts the kept docs and records the split's full size."""
        for split, size in sizes.items():
            docs = self.docs.get(split, [])
            if size < 1:
                raise ValueError(f"A subset size must be at least 1 document, got {size} for {split}.")
            if size >= len(docs):
                continue
            kept, report = docs[:size], self.reports[split]
            report.subset_of = report.subset_of or report.docs  # the whole split, also when limited twice
            report.docs = len(kept)
            report.spans = sum(len(target_spans(doc, self.target)) for doc in kept)
            report.labels = Counter(s.label_ for doc in kept for s in target_spans(doc, self.target))
            self.docs[split] = kept

    def write(self, output_dir: Path) -> None:
        """DocBins per split and `report.json`; prints one line per split."""
        output_dir.mkdir(parents=True, exist_ok=True)
        for split, docs in self.docs.items():
            DocBin(docs=docs, store_user_data=False).to_disk(output_dir / f"{split}.spacy")
        report = {
            "dataset": self.dataset,
            "target": self.target,
            "labels": self.labels,
            "splits": {s: r.as_dict() for s, r in self.reports.items()},
        }
        (output_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
        for line in self.summary_lines():
            print(line)


def tokenizer() -> Language:
    """spaCy's rule-based English tokenizer: deterministic, needs no download."""
    return spacy.blank("en")


def char_spans(doc: Doc, spans: Iterable[CharSpan]) -> Tuple[List[Span], List[str]]:
    """Spans whose offsets fall on token boundaries, and a description of the others."""
    placed, unaligned = [], []
    for start, end, label in spans:
        span = doc.char_span(start, end, label=label, alignment_mode="strict")
        if span is None:
            unaligned.append(f"{doc.text[start:end]!r} ({label}) in {doc.text[:80]!r}")
        else:
            placed.append(span)
    return placed, unaligned


def from_texts(dataset: str, target: str, parts: Mapping[str, Sequence[Tuple[str, Sequence[CharSpan]]]]) -> Conversion:
    """Tokenize (text, character spans) items per split and place their spans on tokens."""
    nlp = tokenizer()
    conversion = Conversion(dataset, target)
    for split in SPLITS:
        for text, spans in parts.get(split, []):
            doc = nlp.make_doc(text)
            placed, unaligned = char_spans(doc, spans)
            conversion.add(split, doc, placed, unaligned)
    return conversion


def random_split(items: Sequence, fractions: Tuple[float, float, float], seed: int) -> Dict[str, List]:
    """A seeded train/dev/test split by the given fractions."""
    order = list(range(len(items)))
    random.Random(seed).shuffle(order)
    n_train = round(fractions[0] * len(items))
    n_dev = round(fractions[1] * len(items))
    parts = {"train": order[:n_train], "dev": order[n_train : n_train + n_dev], "test": order[n_train + n_dev :]}
    return {split: [items[i] for i in sorted(idx)] for split, idx in parts.items()}


def require(path: Path, what: str, hint: Optional[str] = None) -> Path:
    problem = why_unusable(path)
    if problem and "permission denied" in problem:
        raise PermissionError(f"{what} at {path} cannot be read: {problem}.")
    if problem and problem != f"{path} does not exist":  # a dangling link, a FIFO: say that
        raise FileNotFoundError(f"{what}: {problem}." + (f" {hint}" if hint else ""))
    if problem:
        where = (
            ""
            if path.is_absolute()
            else (
                f" Relative paths are read from the current directory, {Path.cwd()}; `spacy project run` runs "
                "commands inside the project directory, so give --vars paths relative to project/ (a folder beside "
                "the repository is ../../NAME from there) or absolute."
            )
        )
        raise FileNotFoundError(f"{what} not found at {path}." + (f" {hint}" if hint else "") + where)
    return path
