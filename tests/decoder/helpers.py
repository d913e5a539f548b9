"""Shared helpers for the decoder tests."""
from __future__ import annotations

from typing import List, Sequence

import torch

from spacy_repsl.decoder import DecoderSettings, build_decoder

FAMILY_ATTENTION = [
    (family, attention)
    for family in ("qwen3", "llama", "mistral", "gemma", "gemma2")
    for attention in ("sdpa", "eager")
    if not (family == "gemma2" and attention == "sdpa")
]

SENTENCE = "John Smith lives in Paris and works for the United Nations ."
LONG = "The food was great but the service was slow , and I want to transfer 300 euros next week ."


def make(path, **overrides):
    """An eval-mode decoder (full fine-tuning settings, fp32) and its tokenizer."""
    settings = dict(name=str(path), repetitions=0, lora=None)
    settings.update(overrides)
    decoder, tokenizer = build_decoder(DecoderSettings(**settings))
    decoder.eval()
    return decoder, tokenizer


def ids_of(tokenizer, text: str) -> List[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@torch.no_grad()
def encode(decoder, sequences: Sequence[Sequence[int]]) -> List[torch.Tensor]:
    out = decoder(sequences)
    return [out.hidden[b, : len(s)] for b, s in enumerate(sequences)]


def with_changed_token(ids: List[int], position: int, vocab_size: int) -> List[int]:
    changed = list(ids)
    changed[position] = (changed[position] + 7) % vocab_size
    if changed[position] < 3:  # keep clear of <pad>, <s>, </s>
        changed[position] += 3
    return changed


def right_context_effect(decoder, ids: List[int], query: int, changed: int) -> float:
    """Max change of the output at `query` when token `changed` (> query) is replaced."""
    vocab = decoder.backbone.config.vocab_size
    (before,) = encode(decoder, [ids])
    (after,) = encode(decoder, [with_changed_token(ids, changed, vocab)])
    return (before[: query + 1] - after[: query + 1]).abs().max().item()
