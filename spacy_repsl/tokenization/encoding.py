"""Texts to piece ids and character offsets, straight from the Rust tokenizer when that is exact.

A transformers fast tokenizer's `__call__` sets its backend's options, runs the backend's
`encode_batch`, then copies every encoding into Python dicts (`_convert_encoding`): on short
texts that copying costs as much as the tokenization itself. When the backend is in the state
`__call__` would put it in (no truncation, no padding, special tokens handled the same way),
asking it directly gives the same ids and offsets for a fraction of the time; otherwise, and
for tokenizers without a Rust backend, the tokenizer is called as usual.
"""
from __future__ import annotations

from typing import Any, List, Sequence, Tuple

Encoded = Tuple[List[int], List[Tuple[int, int]]]


def direct_backend(tokenizer: Any) -> Any:
    """The tokenizer's Rust backend if calling it gives what `tokenizer(...)` gives, else None."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None or not hasattr(backend, "encode_batch"):
        return None
    try:
        if backend.truncation is not None or backend.padding is not None:
            return None
        if bool(backend.encode_special_tokens) != bool(getattr(tokenizer, "split_special_tokens", False)):
            return None
    except AttributeError:  # an older tokenizers release: keep to the public call
        return None
    return backend


def encode_texts(tokenizer: Any, texts: Sequence[str]) -> List[Encoded]:
    """For each text, its piece ids and (start, end) character offsets, no special tokens."""
    if not texts:
        return []
    backend = direct_backend(tokenizer)
    if backend is not None:
        return [(e.ids, e.offsets) for e in backend.encode_batch(list(texts), add_special_tokens=False)]
    encoded = tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
    return [(list(ids), [tuple(o) for o in offsets])
            for ids, offsets in zip(encoded["input_ids"], encoded["offset_mapping"])]
