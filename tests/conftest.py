"""Session fixtures: tiny random decoders of every family, built once and loaded by path."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAMILIES = ("qwen3", "llama", "mistral", "gemma", "gemma2")


@pytest.fixture(scope="session")
def tiny_decoders(tmp_path_factory) -> Dict[str, Path]:
    """family -> directory of a 4-layer random decoder with its own tokenizer."""
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("tiny")
    return {f: build_tiny_decoder(f, root / f) for f in FAMILIES}


@pytest.fixture(scope="session")
def windowed_decoders(tmp_path_factory) -> Dict[str, Path]:
    """Families with sliding-window layers, with a window of 3 tokens so it matters."""
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("windowed")
    return {f: build_tiny_decoder(f, root / f, sliding_window=3) for f in ("mistral", "qwen3", "gemma2")}
