"""Loading a base decoder and its tokenizer from a hub id or a local directory.

Weight loading is kept apart from the adaptations: this module only decides what to ask
transformers for (config cut for early exit, attention implementation, quantization, dtype,
device) and turns "not available" into an error that says how to make it available.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from pathlib import Path
from typing import Any, Iterator, Optional

import torch

from .early_exit import truncate_config
from .families import (
    MASKABLE_ATTENTION,
    UnsupportedModelError,
    check_config,
    required_attention,
    supports_attention,
    tested,
)
from .precision import resolve_compute_dtype, resolve_device
from .quantization import check_quantization_support, quantization_config
from .settings import DecoderSettings


class DecoderNotAvailableError(OSError):
    """The base model (or its tokenizer) is neither a local directory nor reachable/cached."""


def is_offline(local_files_only: bool = False) -> bool:
    if local_files_only:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True", "YES", "ON")


def _not_available(
    name: str, revision: Optional[str], what: str, offline: bool, error: Exception
) -> DecoderNotAvailableError:
    at = f" at revision {revision!r}" if revision else ""
    if Path(name).exists():
        return DecoderNotAvailableError(
            f"Could not load the {what} of '{name}': the directory exists but is not a complete "
            f"transformers checkpoint ({error}). It needs config.json, the weights and the tokenizer "
            "files, as written by `save_pretrained`."
        )
    if looks_like_a_path(name):
        return DecoderNotAvailableError(
            f"Base model directory '{name}' does not exist (moved or deleted?). A pipeline saved without "
            "bundle_base = true refers to its base by this path. Point it at the base's new location when "
            'loading: spacy.load(PIPELINE, config={"components.repsl_tagger.model.name": "NEW/PATH"}) '
            "(the base's fingerprint is still checked), or save the pipeline with bundle_base = true to carry "
            "the base inside it."
        )
    how = (
        "the hub is not used (HF_HUB_OFFLINE=1 or local_files_only) and it is not in the local cache"
        if offline
        else "it is not a local directory and could not be fetched from the hub"
    )
    return DecoderNotAvailableError(
        f"Base model '{name}'{at} is not available: {how}. To fix: download it once where the "
        f"hub is reachable (`hf download {name}"
        + (f" --revision {revision}" if revision else "")
        + "`) and copy the cache (HF_HOME) here, or point `name` at a local directory written by "
        f"`save_pretrained`. ({type(error).__name__}: {error})"
    )


def looks_like_a_path(name: str) -> bool:
    """A filesystem path rather than a hub id ("org/name" has exactly one slash, no leading . / ~)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1 or "\\" in name or Path(name).is_absolute()


@contextlib.contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Early exit leaves checkpoint weights unused on purpose; do not report them as a problem."""
    from transformers.utils import logging as hf_logging

    before = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        yield
    finally:
        hf_logging.set_verbosity(before)


def resolve_base(settings: DecoderSettings) -> DecoderSettings:
    """`settings` with a GGUF `name` replaced by its converted checkpoint directory (converted
    once, see `gguf`); any other name unchanged."""
    from .gguf import resolve_gguf

    converted = resolve_gguf(settings.name) if settings.name else None
    if converted is None:
        return settings
    return dataclasses.replace(settings, name=str(converted), revision=None, local_files_only=True)


def load_config(settings: DecoderSettings) -> Any:
    """The checkpoint's config; a clear error when it is not available."""
    from transformers import AutoConfig

    from .settings import require_name

    require_name(settings)
    offline = is_offline(settings.local_files_only)
    local = Path(settings.name)
    if local.is_dir() and not (local / "config.json").is_file():
        raise _not_available(settings.name, None, "config", offline, FileNotFoundError(f"no config.json in {local}"))
    try:
        return AutoConfig.from_pretrained(settings.name, revision=settings.revision, local_files_only=offline)
    except OSError as error:
        raise _not_available(settings.name, settings.revision, "config", offline, error) from error
    except ValueError as error:  # a config.json whose model_type transformers does not know
        raise UnsupportedModelError(
            f"Cannot read the config of '{settings.name}': {error} spacy-repsl runs the decoder-only text "
            f"models of transformers (tested: {tested()})."
        ) from error


def load_tokenizer(settings: DecoderSettings) -> Any:
    from transformers import AutoTokenizer

    offline = is_offline(settings.local_files_only)
    try:
        return AutoTokenizer.from_pretrained(settings.name, revision=settings.revision, local_files_only=offline)
    except (OSError, ValueError) as error:
        raise _not_available(settings.name, settings.revision, "tokenizer", offline, error) from error


def choose_attention(settings: DecoderSettings, config: Any) -> Optional[str]:
    """The attention implementation to load; refuses ones that cannot take per-layer masks.
    None (transformers' own default) for a model that cannot load SDPA when SDPA was not asked
    for explicitly: Mamba 2 has no attention to run in it."""
    requested = settings.attn_implementation
    required = required_attention(config)
    if required is not None and requested != required[0]:
        if requested != "sdpa":  # sdpa is the default; anything else was asked for explicitly
            raise ValueError(
                f"attn_implementation={requested!r} cannot run {config.model_type}: "
                f"{required[1]}. Use attn_implementation='{required[0]}'."
            )
        return required[0]
    if requested == "sdpa" and not supports_attention(config, "sdpa"):
        return None  # transformers' default: what the model has, e.g. none at all (Mamba 2)
    if not supports_attention(config, requested):
        raise ValueError(
            f"attn_implementation={requested!r} is not available for {config.model_type} in this transformers "
            "release (a model without attention layers has none to run in it). Use 'sdpa' (the default) or 'eager'."
        )
    if requested not in MASKABLE_ATTENTION and settings.needs_maskable_attention:
        needs = [f"unmask={str(settings.unmask)!r}"] if not settings.unmask_spec.is_none else []
        needs += [f"positions={settings.positions!r}"] if settings.positions != "continuous" else []
        raise ValueError(
            f"attn_implementation={requested!r} cannot take per-layer attention masks, which "
            f"{' and '.join(needs)} need{'s' if len(needs) == 1 else ''}. Use 'sdpa' or 'eager', or "
            "unmask='none' with positions='continuous'."
        )
    return requested


def load_base_model(settings: DecoderSettings, config: Optional[Any] = None) -> Any:
    """The bare decoder stack (no LM head), cut at the exit layer, quantized if asked."""
    from transformers import AutoModel

    if config is None:
        config = load_config(settings)
    check_config(config, settings.name)
    attention = choose_attention(settings, config)
    config = truncate_config(config, settings.exit_layer)
    device = resolve_device(settings.device)
    compute_dtype = resolve_compute_dtype(settings.compute_dtype, device)
    weights_dtype = torch.float32 if settings.lora is None else compute_dtype
    kwargs: dict = dict(
        config=config,
        revision=settings.revision,
        local_files_only=is_offline(settings.local_files_only),
        attn_implementation=attention,
        dtype=weights_dtype,
        # transformers >= 5.25 swaps layers for hub kernels by default: they would bypass the
        # per-layer mask hooks and the read-rows MLP, and download code. The stack stays torch's.
        use_kernels=False,
    )
    if settings.quantization is not None:
        check_quantization_support(settings.quantization, device)
        kwargs["quantization_config"] = quantization_config(settings.quantization, compute_dtype)
        if device.type == "cuda":
            kwargs["device_map"] = {"": device.index or 0}
    try:
        with _quiet_transformers():
            model = AutoModel.from_pretrained(settings.name, **kwargs)
    except OSError as error:
        offline = is_offline(settings.local_files_only)
        raise _not_available(settings.name, settings.revision, "weights", offline, error) from error
    if settings.quantization is None:
        model.to(device)
    return model
