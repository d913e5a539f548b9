"""Which decoders run, decided by what a model offers, not by a closed list of names.

Any decoder-only text model of transformers runs when its loaded stack offers what the
settings need (checked on the model, see `stack`). Checked here, on the config, before any
weight loads: the model is a text decoder at all, and the attention implementation it must
run with. `FAMILIES` is the table of model types that have tiny builders and tests (README,
"Model families"); it documents, it does not gate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple


@dataclass(frozen=True)
class Family:
    """A model type we build tiny models of and test: how its layers mix tokens."""

    model_type: str
    mixers: str  # "attention", "hybrid" (attention and recurrent layers) or "recurrent"
    note: str = ""


FAMILIES: Dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("qwen3", "attention"),
        Family("llama", "attention"),
        Family("mistral", "attention", "sliding window on every layer"),
        Family("gemma", "attention"),
        Family("gemma2", "attention", "eager attention only (attention-logit soft-capping)"),
        Family("gemma3_text", "attention", "sliding and full layers, as the config's layer_types say"),
        Family("smollm3", "attention", "no RoPE on every fourth layer (no_rope_layers)"),
        Family("olmo2", "attention"),
        Family("phi3", "attention", "fused qkv_proj"),
        Family("granite", "attention"),
        Family("qwen3_5_text", "hybrid", "Gated DeltaNet linear attention + full attention"),
        Family("lfm2", "hybrid", "short convolutions + full attention"),
        Family("falcon_h1", "hybrid", "Mamba 2 and attention side by side in every layer"),
        Family("mamba2", "recurrent", "state-space layers only: unmasking cannot run"),
    )
}

# Attention implementations that accept an arbitrary 4D mask per layer.
MASKABLE_ATTENTION = ("eager", "sdpa")


class UnsupportedModelError(ValueError):
    """The checkpoint is not a decoder-only text model, or lacks what its settings need."""


def check_config(config: Any, name: str = "") -> None:
    """Refuse, before loading weights, checkpoints that are not decoder-only text models."""
    where = f"'{name}'" if name else "The model"
    model_type = getattr(config, "model_type", None)
    if getattr(config, "is_encoder_decoder", False):
        raise UnsupportedModelError(
            f"{where} (model_type {model_type!r}) is an encoder-decoder model; spacy-repsl adapts decoder-only "
            f"language models and encoders. Use a decoder-only checkpoint (tested: {tested()}) or an encoder (BERT, "
            "RoBERTa, DeBERTa, ModernBERT, ...)."
        )
    text_config = getattr(config, "text_config", None)
    if text_config is not None and text_config is not config:
        raise UnsupportedModelError(
            f"{where} is a multimodal checkpoint (model_type {model_type!r}); spacy-repsl runs text decoders. "
            f"Its text decoder is model_type {getattr(text_config, 'model_type', '?')!r}: use a text-only "
            "checkpoint of it (save the language model alone with `save_pretrained`)."
        )


def required_attention(config: Any) -> Optional[Tuple[str, str]]:
    """(implementation, reason) when the model computes correctly under one attention only."""
    cap = getattr(config, "attn_logit_softcapping", None)
    if cap is not None:
        return "eager", (
            f"{config.model_type}'s attention-logit soft-capping (attn_logit_softcapping = {cap}) "
            "only runs in eager attention"
        )
    return None


SUPPORT_FLAGS = {
    "sdpa": "_supports_sdpa",
    "flash_attention_2": "_supports_flash_attn",
    "flash_attention_3": "_supports_flash_attn",
    "flex_attention": "_supports_flex_attn",
}


def supports_attention(config: Any, implementation: str) -> bool:
    """Whether transformers can load this model type with `implementation` (eager always; a model
    without attention layers, e.g. Mamba 2, supports nothing else)."""
    from transformers.models.auto.modeling_auto import MODEL_MAPPING

    if implementation not in SUPPORT_FLAGS:
        return True
    try:
        model_class = MODEL_MAPPING[type(config)]
    except KeyError:
        return True  # let transformers say what it cannot load
    return bool(getattr(model_class, SUPPORT_FLAGS[implementation], False))


def tested() -> str:
    return ", ".join(sorted(FAMILIES))
