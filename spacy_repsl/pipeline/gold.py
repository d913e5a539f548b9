"""Gold IOB2 tags of a training `Example`, on its predicted tokens.

spaCy aligns the reference to the predicted doc through character offsets and BILUO tags
(`Example.get_aligned_ner`), which costs about as much as a tiny decoder's forward pass. In
training, both docs nearly always have the same tokens (the corpus reader tokenizes the text
the reference was built from), and then the reference's own annotation is the answer: read
it directly, with spaCy's rules for missing values. Other examples take spaCy's alignment.
"""

from __future__ import annotations

from typing import List, Optional

from spacy.attrs import ENT_IOB, ENT_TYPE, IDX, IS_SPACE
from spacy.tokens import Doc
from spacy.training import Example
from spacy.util import filter_spans

from ..iob.tags import biluo_to_iob2, spans_to_tags

IOB_I, IOB_O, IOB_B = 1, 2, 3  # spaCy's ENT_IOB codes; 0 is "missing"


def same_tokens(predicted: Doc, reference: Doc) -> bool:
    """Do the two docs have identical tokens (text, and every token's offset)?"""
    return (
        len(predicted) == len(reference)
        and predicted.text == reference.text
        and bool((predicted.to_array(IDX) == reference.to_array(IDX)).all())
    )


def ner_tags(example: Example) -> List[Optional[str]]:
    """What `biluo_to_iob2` of `example.get_aligned_ner()` gives: B-/I- inside entities, O
    where the reference says O (or the token is whitespace), None where it is missing."""
    predicted, reference = example.predicted, example.reference
    if not same_tokens(predicted, reference):
        return [biluo_to_iob2(t) for t in example.get_aligned_ner()]
    if not reference.has_annotation("ENT_IOB"):
        return [None] * len(predicted)
    strings = reference.vocab.strings
    tags: List[Optional[str]] = []
    for (iob, label), space in zip(
        reference.to_array([ENT_IOB, ENT_TYPE]).tolist(), predicted.to_array(IS_SPACE).tolist()
    ):
        if iob == IOB_B:
            tags.append("B-" + strings[label])
        elif iob == IOB_I:
            tags.append("I-" + strings[label])
        else:
            tags.append("O" if iob == IOB_O or space else None)
    return tags


def span_tags(example: Example, key: str) -> List[str]:
    """IOB2 tags of `reference.spans[key]` on the predicted tokens; the longest of overlapping
    spans wins (IOB2 cannot nest)."""
    predicted, reference = example.predicted, example.reference
    group = reference.spans[key] if key in reference.spans else []
    if same_tokens(predicted, reference):
        spans = filter_spans(list(group))
    else:
        spans = filter_spans(example.get_aligned_spans_y2x(group, allow_overlap=True))
    return spans_to_tags(len(predicted), [(s.start, s.end, s.label_) for s in spans])
