"""Doc text to piece ids and character offsets, with every character of the text read as text.

A tokenizer matches its added vocabulary (BOS, EOS, `<|im_end|>`, chat and tool markup,
reserved slots) anywhere in the text it is given, so a doc containing "</s>" or "<|im_end|>"
would end or restart the model's input in the middle of the doc. The special tokens this package
adds (BOS, what separates repeated copies) are added by id, never by text; so the text itself is
encoded with every added token split into ordinary pieces (transformers' `split_special_tokens`,
extended to the added tokens a tokenizer does not mark special, such as Phi-3's "</s>").

For a tokenizer with a Rust backend this package keeps its own copy of the backend, set up that
way once (no truncation, no padding, added tokens split): asking it directly is also much faster
than the tokenizer's `__call__`, which copies every encoding into Python dicts. Other tokenizers
are called with `split_special_tokens=True`.

A second copy encodes segments in the middle of a text (see `boundaries`): the same tokenizer
without the prefix space SentencePiece-style tokenizers put at the start of every input.
"""

from __future__ import annotations

import json
import weakref
from typing import Any, Dict, List, Optional, Sequence, Tuple

Encoded = Tuple[List[int], List[Tuple[int, int]]]

# Characters a piece's vocabulary string uses for whitespace: SentencePiece's "▁" and the
# byte-level alphabet's space, tab, newline, vertical tab, form feed and carriage return.
_BLANK_CHARS = frozenset("▁Ġĉ\u010aċČč \t\n\r\x0b\x0c\u3000")
_BLANK_BYTES = frozenset(f"<0x{b:02X}>" for b in (0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x20))


def _split_every_added_token(spec: Dict[str, Any]) -> Dict[str, Any]:
    for token in spec.get("added_tokens") or []:
        token["special"] = True
    return spec


def _without_prefix_space(node: Any) -> Any:
    """A tokenizer.json normalizer or pre-tokenizer that adds no space in front of the input."""
    if isinstance(node, dict):
        kind = node.get("type")
        if kind == "Sequence":
            key = "normalizers" if "normalizers" in node else "pretokenizers"
            node[key] = [
                _without_prefix_space(n) for n in node[key] if not (isinstance(n, dict) and n.get("type") == "Prepend")
            ]
        elif kind == "Metaspace":
            node["prepend_scheme"] = "never"
            node.pop("add_prefix_space", None)
        elif kind == "ByteLevel":
            node["add_prefix_space"] = False
        elif kind == "Prepend":
            return None
    return node


def _backend_copy(backend: Any, *, prefix_space: bool) -> Any:
    from tokenizers import Tokenizer

    spec = _split_every_added_token(json.loads(backend.to_str()))
    if not prefix_space:
        spec["normalizer"] = _without_prefix_space(spec.get("normalizer"))
        spec["pre_tokenizer"] = _without_prefix_space(spec.get("pre_tokenizer"))
    copy = Tokenizer.from_str(json.dumps(spec))
    copy.no_truncation()
    copy.no_padding()
    copy.encode_special_tokens = True
    return copy


class PieceEncoder:
    """Encodes doc text for one tokenizer: added tokens as characters, no special tokens added.

    Build it with `encoder_for(tokenizer)`, which keeps one per tokenizer.
    """

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        backend = getattr(tokenizer, "backend_tokenizer", None)
        self._rust = backend if backend is not None and hasattr(backend, "to_str") else None
        self._text: Optional[Any] = None
        self._segment: Optional[Any] = None
        self._blank: Dict[int, bool] = {}

    def _backend(self, prefix_space: bool) -> Any:
        if prefix_space:
            if self._text is None:
                self._text = _backend_copy(self._rust, prefix_space=True)
            return self._text
        if self._segment is None:
            self._segment = _backend_copy(self._rust, prefix_space=False)
        return self._segment

    def encode(self, texts: Sequence[str], *, prefix_space: bool = True) -> List[Encoded]:
        """For each text, its piece ids and (start, end) character offsets into it.

        `prefix_space=False`: as a segment in the middle of a text, with no prefix space added
        (the same as `True` for tokenizers that add none, and for those without a Rust backend).
        """
        if not texts:
            return []
        if self._rust is not None:
            encodings = self._backend(prefix_space).encode_batch(list(texts), add_special_tokens=False)
            return [(e.ids, e.offsets) for e in encodings]
        encoded = self.tokenizer(
            list(texts), add_special_tokens=False, return_offsets_mapping=True, split_special_tokens=True
        )
        return [
            (list(ids), [tuple(o) for o in offsets])
            for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"])
        ]

    def is_blank(self, piece_id: int) -> bool:
        """Whether a piece stands for whitespace only ("▁", "Ġ", "<0x0A>"): such a piece carries
        no sign of the token it precedes, so it is never a token's read-out piece when the
        token has others."""
        blank = self._blank.get(piece_id)
        if blank is None:
            piece = self.tokenizer.convert_ids_to_tokens(int(piece_id))
            blank = (
                isinstance(piece, str)
                and bool(piece)
                and (all(c in _BLANK_CHARS for c in piece) or piece in _BLANK_BYTES)
            )
            self._blank[piece_id] = blank
        return blank


_ENCODERS: "weakref.WeakKeyDictionary[Any, PieceEncoder]" = weakref.WeakKeyDictionary()


def encoder_for(tokenizer: Any) -> PieceEncoder:
    """The `PieceEncoder` of `tokenizer`, built on first use and kept while the tokenizer lives."""
    if isinstance(tokenizer, PieceEncoder):
        return tokenizer
    try:
        encoder = _ENCODERS.get(tokenizer)
    except TypeError:  # not weakly referenceable: build one each time
        return PieceEncoder(tokenizer)
    if encoder is None:
        encoder = _ENCODERS[tokenizer] = PieceEncoder(tokenizer)
    return encoder


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> List[Encoded]:
    """For each text, its piece ids and (start, end) character offsets, no special tokens added,
    added tokens typed in the text encoded as characters."""
    return encoder_for(tokenizer).encode(texts)
