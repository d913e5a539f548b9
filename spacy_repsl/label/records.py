"""A labelled doc as an output record: the input's fields, its spans, and where it came from."""

from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple

from spacy.language import Language
from spacy.tokens import Doc

from .sources import Item, LabelInputError

ID_FIELDS = ("_source", "_line")  # every output record's id: input file and line (or row)
OUTPUT_FIELDS = ("spans", *ID_FIELDS)  # what the output adds to every input record


def targets(nlp: Language, explicit: bool = False) -> List[str]:
    """What the pipeline writes: each `repsl_tagger`'s "ents" or "spans:KEY"; without one, "ents"
    (any component that sets doc.ents). `explicit`: only what some component is known to set,
    so an empty list means the pipeline predicts nothing `label` can write."""
    pipes: List[Any] = [pipe for _, pipe in nlp.pipeline]
    found = [
        pipe.cfg.get("target", "ents")
        for pipe in pipes
        if getattr(pipe, "cfg", None) is not None and type(pipe).__name__ == "RepSLTagger"
    ]
    if found:
        return list(dict.fromkeys(found))
    sets_ents = any("doc.ents" in nlp.get_pipe_meta(name).assigns for name in nlp.pipe_names)
    return ["ents"] if sets_ents or not explicit else []


def score_groups(nlp: Language) -> Dict[str, str]:
    """target -> the span group whose attrs["scores"] hold its spans' confidences: a repsl_tagger's
    `scores_key` for "ents", KEY itself for "spans:KEY"."""
    groups: Dict[str, str] = {}
    pipes: List[Any] = [pipe for _, pipe in nlp.pipeline]
    for pipe in pipes:
        if type(pipe).__name__ == "RepSLTagger" and getattr(pipe, "cfg", None) is not None:
            target = pipe.cfg.get("target", "ents")
            groups[target] = pipe.scores_key if target == "ents" else target.split(":", 1)[1]
    return groups


def span_scores_of(doc: Doc, key: Optional[str]) -> Dict[Tuple[int, int, str], Optional[float]]:
    """(start_char, end_char, label) -> confidence from doc.spans[key].attrs["scores"] (None
    where it is NaN: a span no model scored)."""
    from ..pipeline.tagger import span_score_map

    scores = span_score_map(doc.spans.get(key)) if key else {}
    return {span: (None if math.isnan(x) else x) for span, x in scores.items()}


def doc_spans(doc: Doc, wanted: Sequence[str], scored: Optional[Dict[str, str]] = None) -> List[Dict[str, Any]]:
    """Character and token offsets, label, text and confidence (None where no component scored
    it) of each predicted span, in text order."""
    groups = [doc.ents if target == "ents" else doc.spans.get(target.split(":", 1)[1], []) for target in wanted]
    if wanted == ["ents"]:
        spans = groups[0]  # already in text order
    else:
        spans = sorted((s for group in groups for s in group), key=lambda s: (s.start, s.end))
    scores: Dict[Tuple[int, int, str], Optional[float]] = {}
    for target in wanted:
        scores.update(span_scores_of(doc, (scored or {}).get(target)))
    text = doc.text
    return [
        {
            "start": s.start_char,
            "end": s.end_char,
            "label": s.label_,
            "token_start": s.start,
            "token_end": s.end,
            "text": text[s.start_char : s.end_char],
            "score": scores.get((s.start_char, s.end_char, s.label_)),
        }
        for s in spans
    ]


def output_record(
    item: Item, doc: Doc, wanted: Sequence[str], scored: Optional[Dict[str, str]] = None
) -> Dict[str, Any]:
    record: Dict[str, Any] = dict(item.fields) if item.fields else {"text": doc.text}
    record["spans"] = doc_spans(doc, wanted, scored)
    record["_source"] = item.source
    record["_line"] = item.line
    return record


def check_fields(item: Item) -> None:
    """Refuse a record whose own fields the output would replace; a record of label's own output
    (it has `_source` and `_line`) is labelled again, its old spans replaced."""
    fields = item.fields or {}
    if all(name in fields for name in ID_FIELDS):
        return
    taken = [name for name in OUTPUT_FIELDS if name in fields]
    if taken:
        raise LabelInputError(
            f"{item.where}: the record has its own {', '.join(repr(n) for n in taken)} field(s), which the output "
            "would replace. Rename them in the input, or pass --replace-spans to replace them."
        )
