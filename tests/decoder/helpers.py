"""Shared helpers for the decoder tests."""

from __future__ import annotations

from typing import List, Sequence

import torch

from spacy_repsl.decoder import DecoderSettings, build_decoder, parse_unmask
from spacy_repsl.decoder.tiny import BOS_FAMILIES, TINY_FAMILIES  # noqa: F401 (re-exported for the tests)

FAMILY_ATTENTION = [
    (family, attention)
    for family in TINY_FAMILIES
    for attention in ("sdpa", "eager")
    if not (family == "gemma2" and attention == "sdpa")  # soft-capping: eager only
    and not (family == "mamba2" and attention == "eager")  # no attention: one run is enough
]

# The attention layers of each tiny decoder (4 layers): hybrids as their real models lay them out
# (see tiny.hybrid_layer_types); Mamba 2 has none. Written out, not derived, to check the code.
ATTENTION_LAYERS = {family: {0, 1, 2, 3} for family in TINY_FAMILIES}
ATTENTION_LAYERS.update(qwen3_5_text={3}, lfm2={2}, mamba2=set())
RECURRENT = ("mamba2",)


def can_run(family: str, settings: dict) -> bool:
    """Whether a tiny `family` decoder runs `settings`: unmasking needs an attention layer among
    the selected ones ("layers:" must name attention layers only); restarted positions need
    position ids (Mamba 2 has none)."""
    if settings.get("positions") == "restart" and family in RECURRENT:
        return False
    spec = settings.get("unmask", "none")
    if spec == "none":
        return True
    attention = ATTENTION_LAYERS[family]
    num_layers = settings.get("exit_layer", 4)
    selected = parse_unmask(spec).layers(num_layers)
    if spec.startswith("layers:"):
        return selected <= attention
    return bool(selected & attention)


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
