"""The base a tagger runs on, decoder or encoder, decided by the checkpoint's config."""

from __future__ import annotations

from typing import Any, Tuple

from ..decoder.settings import DecoderSettings


def build_base(settings: DecoderSettings) -> Tuple[Any, Any]:
    """(module, tokenizer) for `settings.name`: an encoder checkpoint (BERT, RoBERTa, ...,
    ModernBERT) as a `RepSLEncoder`, anything else as a `RepSLDecoder`. A GGUF file is converted
    first. Both read one vector per piece through the same interface."""
    from ..decoder.encoder import build_decoder
    from ..decoder.loading import load_config, resolve_base
    from ..encoders.families import is_encoder

    settings = resolve_base(settings)
    config = load_config(settings)
    if is_encoder(config):
        from ..encoders.model import build_encoder

        return build_encoder(settings, config)
    return build_decoder(settings, config)
