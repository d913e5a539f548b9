"""The decoder families we support, and what each needs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional


@dataclass(frozen=True)
class Family:
    """What differs between families: the attention they must run with, if any."""

    model_type: str
    required_attention: Optional[str] = None
    reason: str = ""


FAMILIES: Dict[str, Family] = {
    "qwen3": Family("qwen3"),
    "llama": Family("llama"),
    "mistral": Family("mistral"),
    "gemma": Family("gemma"),
    "gemma2": Family(
        "gemma2",
        required_attention="eager",
        reason="Gemma2's attention-logit soft-capping only runs in eager attention",
    ),
}

# Attention implementations that accept an arbitrary 4D mask per layer.
MASKABLE_ATTENTION = ("eager", "sdpa")


class UnsupportedModelError(ValueError):
    """The checkpoint's architecture is not one this package knows how to adapt."""


def family_of(config: Any, name: str = "") -> Family:
    """The family of a transformers config, or a clear error listing the supported ones."""
    model_type = getattr(config, "model_type", None)
    if model_type not in FAMILIES:
        where = f" '{name}'" if name else ""
        raise UnsupportedModelError(
            f"Model{where} has model_type {model_type!r}, which spacy-repsl does not support. "
            f"Supported model types: {', '.join(sorted(FAMILIES))}. Use a checkpoint of one "
            "of these families (e.g. Qwen/Qwen3-0.6B, mistralai/Mistral-7B-v0.3)."
        )
    return FAMILIES[model_type]
