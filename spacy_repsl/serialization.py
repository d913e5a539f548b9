"""Saving what was trained (adapters and head, as safetensors) and, optionally, the base.

A trained tagger on disk is megabytes: its trainable parameters and a reference to the base
model (hub id or path, and revision). With `bundle_base`, the base checkpoint's files are copied
in too, so a packaged pipeline loads with no hub and no other files. Loading checks that the
saved parameters are exactly the ones the rebuilt model expects, so a missing or corrupt file
never leaves a silently random head.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, Optional, Sequence, Union

TRAINABLE_FILE = "trainable.safetensors"
BASE_DIR = "base"
# Files of a checkpoint worth bundling: configs, weights in safetensors, tokenizer files.
BASE_SUFFIXES = (".json", ".safetensors", ".model", ".txt", ".tiktoken", ".jinja")


class AdapterFileError(ValueError):
    """Saved trainable parameters that are missing, unreadable or do not fit the model."""


def trainable_bytes(state: Dict[str, Any], labels: Sequence[str]) -> bytes:
    """Safetensors bytes of the trained parameters, with the labels they were trained for."""
    from safetensors.torch import save

    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    return save(tensors, metadata={"labels": json.dumps(list(labels))})


def load_trainable(module: Any, data: bytes, where: str, labels: Sequence[str]) -> None:
    """Copy saved parameters into `module`; refuse anything that does not match exactly."""
    import torch
    from safetensors.torch import load

    try:
        saved = load(data)
        metadata = _metadata(data)
    except Exception as error:  # safetensors raises its own error types
        raise AdapterFileError(
            f"The trained parameters in {where} cannot be read ({error}). The file is corrupt or "
            "truncated: save the pipeline again from the trained model."
        ) from None
    trained_for = json.loads(metadata.get("labels", "null"))
    if trained_for is not None and list(trained_for) != list(labels):
        raise AdapterFileError(
            f"The labels {list(labels)} do not match the ones the parameters in {where} were trained "
            f"for ({trained_for}): the labels (cfg or labels file) were changed after training. Use the "
            "labels the pipeline was trained with."
        )
    params = {name: p for name, p in module.named_parameters() if p.requires_grad}
    missing = sorted(set(params) - set(saved))
    unexpected = sorted(set(saved) - set(params))
    if missing or unexpected:
        raise AdapterFileError(
            f"The trained parameters in {where} do not match the model built from the config: "
            f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected (e.g. "
            f"{unexpected[:3]}). The config (LoRA settings, exit layer, labels) must be the one "
            "the pipeline was trained with."
        )
    with torch.no_grad():
        for name, param in params.items():
            value = saved[name]
            if value.shape != param.shape:
                raise AdapterFileError(
                    f"Parameter {name} in {where} has shape {tuple(value.shape)}, the model expects "
                    f"{tuple(param.shape)}: the config or labels differ from the trained pipeline's."
                )
            param.copy_(value.to(device=param.device, dtype=param.dtype))


def _metadata(data: bytes) -> Dict[str, str]:
    """The `__metadata__` of a safetensors blob (its JSON header)."""
    header_size = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_size])
    return header.get("__metadata__") or {}


def base_source(name: str, revision: Optional[str]) -> Path:
    """The local directory holding the base checkpoint's files (a path, or the hub cache)."""
    if Path(name).is_dir():
        return Path(name)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(name, revision=revision, local_files_only=True))
    except Exception as error:
        raise FileNotFoundError(
            f"Cannot bundle base model '{name}': it is not in the local hub cache ({error}). Load "
            "it once (or `hf download` it) before saving with bundle_base = true."
        ) from None


def bundle_base(name: str, revision: Optional[str], destination: Path) -> None:
    """Copy the base checkpoint's config, safetensors weights and tokenizer files."""
    source = base_source(name, revision)
    destination.mkdir(parents=True, exist_ok=True)
    for path in sorted(source.iterdir()):
        if path.is_file() and path.suffix in BASE_SUFFIXES:
            shutil.copy2(path.resolve(), destination / path.name)


@contextmanager
def atomic_directory(path: Union[str, Path]) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `path` only once fully written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        yield tmp
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.", dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
