"""Which checkpoints are encoders, and which decoder settings mean nothing on one.

An encoder is told by transformers' own tables: a model type with a masked-LM head was
pretrained to fill in tokens from both sides (no decoder-only family has one). `ENCODER_FAMILIES`
lists the types with tiny builders and tests (README, "Model families"); like the decoders'
table it documents, it does not gate.
"""

from __future__ import annotations

from typing import Any, Dict

from ..decoder.families import Family, UnsupportedModelError

ENCODER_FAMILIES: Dict[str, Family] = {
    f.model_type: f
    for f in (
        Family("bert", "attention", "WordPiece, [CLS] ... [SEP]; all-MiniLM-L6-v2 is one"),
        Family("roberta", "attention", "byte-level BPE, <s> ... </s>, positions counted after the pad id"),
        Family("xlm-roberta", "attention", "SentencePiece, <s> ... </s>, positions counted after the pad id"),
        Family("deberta-v2", "attention", "DeBERTa-v2 and v3: relative positions; eager attention"),
        Family("electra", "attention", "the discriminator; embeddings narrower than the layers"),
        Family("mpnet", "attention", "relative position bias; eager attention; all-mpnet-base-v2 is one"),
        Family("modernbert", "attention", "RoPE, global and local (sliding-window) layers, 8,192 positions"),
    )
}


def is_encoder(config: Any) -> bool:
    """Whether `config` is a bidirectional encoder's (a model type with a masked-LM head)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    if getattr(config, "is_encoder_decoder", False):
        return False
    return getattr(config, "model_type", None) in MODEL_FOR_MASKED_LM_MAPPING_NAMES


def check_encoder_settings(settings: Any, config: Any) -> None:
    """Refuse the decoder methods an encoder has no use for, before any weight loads.

    Raises UnsupportedModelError naming the setting, why it does not apply and the fix.
    `bos` is accepted and ignored: it only places BOS between copies, and an encoder's input is
    one copy framed by its tokenizer's own special tokens.
    """
    where = f"'{settings.name}' (model_type {config.model_type!r}) is an encoder"
    if getattr(config, "is_decoder", False):
        raise UnsupportedModelError(
            f"'{settings.name}' (model_type {config.model_type!r}) is configured as a decoder (is_decoder = true), "
            "so it attends causally. Load it with is_decoder = false to use it as an encoder."
        )
    if settings.repetitions:
        raise UnsupportedModelError(
            f"repetitions = {settings.repetitions} does not apply: {where}, which already attends to both sides of "
            "every token (what sequence repetition gives a decoder). Set repetitions = 0."
        )
    if not settings.unmask.is_none:
        raise UnsupportedModelError(
            f"unmask = {str(settings.unmask)!r} does not apply: {where}, with no causal mask to remove. Set "
            'unmask = "none".'
        )
    if settings.positions != "continuous":
        raise UnsupportedModelError(
            f"positions = {settings.positions!r} does not apply: {where}, and positions only number the copies of "
            'a repeated input. Set positions = "continuous".'
        )


def tested() -> str:
    return ", ".join(sorted(ENCODER_FAMILIES))
