"""Strict IOB2 span scoring: micro P/R/F overall and per type, as seqeval's strict mode.

The papers score word-level tags with seqeval (mode="strict", scheme=IOB2). Spans decoded by
`tags.strict_spans` and matched exactly (start, end, label) give the same numbers, which the
tests check against seqeval on random sequences.

Missing annotation: for `doc.ents`, a gold token whose entity annotation is missing (spaCy's
"-"/unset) is unknown, not O, so a predicted span touching such a token is not counted. Every
other gold token outside a span is O. `doc.spans[key]` has no missing state: tokens outside
its spans are O.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, Iterable, List, Sequence, Set, Tuple

from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import registry

from .tags import strict_spans

CharSpan = Tuple[int, int, str]


def prf(tp: int, fp: int, fn: int) -> Dict[str, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return {"p": p, "r": r, "f": f}


class SpanCounts:
    """True/false positives and false negatives per label."""

    def __init__(self) -> None:
        self.tp: Dict[str, int] = defaultdict(int)
        self.fp: Dict[str, int] = defaultdict(int)
        self.fn: Dict[str, int] = defaultdict(int)

    def add(self, gold: Iterable[Any], predicted: Iterable[Any]) -> None:
        """Count one sequence; spans are tuples whose last item is the label."""
        gold_set, pred_set = set(gold), set(predicted)
        for span in pred_set:
            (self.tp if span in gold_set else self.fp)[span[-1]] += 1
        for span in gold_set - pred_set:
            self.fn[span[-1]] += 1

    @property
    def labels(self) -> List[str]:
        return sorted(set(self.tp) | set(self.fp) | set(self.fn))

    def micro(self) -> Dict[str, float]:
        return prf(sum(self.tp.values()), sum(self.fp.values()), sum(self.fn.values()))

    def per_type(self) -> Dict[str, Dict[str, float]]:
        return {label: prf(self.tp[label], self.fp[label], self.fn[label]) for label in self.labels}


def score_tag_sequences(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> Dict[str, Any]:
    """Strict IOB2 micro P/R/F and per-type scores of parallel tag sequences."""
    counts = SpanCounts()
    for g, p in zip(gold, predicted, strict=True):
        if len(g) != len(p):
            raise ValueError(f"Gold and predicted sequences differ in length ({len(g)} vs {len(p)}).")
        counts.add(strict_spans(g), strict_spans(p))
    return {**counts.micro(), "per_type": counts.per_type()}


def target_spans(doc: Doc, target: str) -> List[Any]:
    """The spaCy spans a target (`"ents"` or `"spans:KEY"`) refers to."""
    if target == "ents":
        return list(doc.ents)
    key = target.split(":", 1)[1]
    return list(doc.spans[key]) if key in doc.spans else []


def missing_chars(doc: Doc, target: str) -> Set[int]:
    """Character offsets of gold tokens whose annotation is missing (ents only)."""
    if target != "ents":
        return set()
    return {i for token in doc if token.ent_iob_ == "" for i in range(token.idx, token.idx + len(token.text))}


def score_key(target: str) -> str:
    return "ents" if target == "ents" else f"spans_{target.split(':', 1)[1]}"


def example_spans(example: Example, target: str) -> Tuple[List[CharSpan], List[CharSpan]]:
    """Gold and predicted (start_char, end_char, label) of one example; predictions over tokens
    whose gold annotation is missing are left out (they can be neither right nor wrong)."""
    unknown = missing_chars(example.reference, target)
    gold = [(s.start_char, s.end_char, s.label_) for s in target_spans(example.reference, target)]
    predicted = [
        (s.start_char, s.end_char, s.label_)
        for s in target_spans(example.predicted, target)
        if not unknown.intersection(range(s.start_char, s.end_char))
    ]
    return gold, predicted


def doc_counts(examples: Iterable[Example], target: str = "ents") -> List[Tuple[int, int, int]]:
    """(tp, fp, fn) of each example, strict span matching: summed, they give `score_examples`'
    micro scores; per document, they let a bootstrap over documents give a confidence interval."""
    out = []
    for example in examples:
        counts = SpanCounts()
        counts.add(*example_spans(example, target))
        out.append((sum(counts.tp.values()), sum(counts.fp.values()), sum(counts.fn.values())))
    return out


def score_examples(examples: Iterable[Example], target: str = "ents", **_: Any) -> Dict[str, Any]:
    """spaCy-style scores ({key}_p/_r/_f/_per_type) for a target; None when nothing to score."""
    counts = SpanCounts()
    n_spans = 0
    for example in examples:
        gold, predicted = example_spans(example, target)
        n_spans += len(gold) + len(predicted)
        counts.add(gold, predicted)
    key = score_key(target)
    if n_spans == 0:
        return {f"{key}_p": None, f"{key}_r": None, f"{key}_f": None, f"{key}_per_type": None}
    micro = counts.micro()
    return {
        f"{key}_p": micro["p"],
        f"{key}_r": micro["r"],
        f"{key}_f": micro["f"],
        f"{key}_per_type": counts.per_type(),
    }


@registry.scorers("spacy-repsl.strict_iob_scorer.v1")
def make_strict_iob_scorer() -> Any:
    """Strict IOB2 micro precision, recall and F1, overall and per type, equal to seqeval's strict
    mode (the papers' scorer). Takes no settings; the component passes its `target`.

    Returns:
        The scoring function spaCy calls with the examples.
    """
    return score_examples
