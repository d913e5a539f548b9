"""What a saved pipeline's folder holds: the trained weights (adapters and head, as safetensors)
and, optionally, the base's files.

A trained tagger on disk is megabytes: its trainable parameters and a reference to the base
model (hub id or path, and revision). With `bundle_base`, the base checkpoint's files are copied
in too, so a packaged pipeline loads with no hub and no other files. Loading checks that the
saved parameters are exactly the ones the rebuilt model expects, so a missing or corrupt file
never leaves a silently random head.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

logger = logging.getLogger("spacy_repsl")

TRAINABLE_FILE = "trainable.safetensors"
BASE_DIR = "base"
BUNDLE_MANIFEST = "bundled.json"
# The files a decoder checkpoint needs to load: its config, its weights, its tokenizer. Nothing
# else in the folder (training logs, notes, stray files) is bundled into a pipeline.
BASE_FILES = (
    "config.json",
    "generation_config.json",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
    "spiece.model",
    "chat_template.jinja",
    "chat_template.json",
)
BASE_SUFFIXES = (".safetensors", ".tiktoken")


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
    from ..storage.finite import check_weights

    check_weights(saved, f"in {where}")
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
    """The local directory holding the base checkpoint's files (a path, a GGUF file's converted
    checkpoint, or the hub cache)."""
    from ..decoder.gguf import resolve_gguf

    converted = resolve_gguf(name)
    if converted is not None:
        return converted
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


def pinned_revision(name: str, directory: Path) -> Optional[str]:
    """The commit a hub id resolved to (its snapshot folder's name); None for local paths."""
    if Path(name).is_dir():
        return None
    return directory.name if directory.parent.name == "snapshots" else None


def base_files(source: Path, root: Optional[Path] = None) -> List[Path]:
    """The checkpoint files in `source` that a model needs (see BASE_FILES).

    A file may be a link only to somewhere inside `root` (the folder itself, or the hub cache's
    folder of this model, whose snapshots link to its blobs); a link elsewhere is refused."""
    root = (root or source).resolve()
    chosen = []
    for path in sorted(source.iterdir()):
        if not (path.name in BASE_FILES or path.suffix in BASE_SUFFIXES) or not path.is_file():
            continue
        target = path.resolve()
        if target != root and root not in target.parents:
            raise ValueError(
                f"Cannot bundle {path}: it links to {target}, outside the base model's folder {root}. Copy the "
                "file into the folder (or bundle the base yourself) before saving with bundle_base = true."
            )
        chosen.append(path)
    if not any(p.name == "config.json" for p in chosen):
        raise FileNotFoundError(f"Cannot bundle the base model from {source}: it has no config.json.")
    return chosen


def bundle_base(name: str, revision: Optional[str], destination: Path) -> List[str]:
    """Copy the base checkpoint's config, weights and tokenizer files; returns their names
    (also written to base/bundled.json with sizes and the source)."""
    source = base_source(name, revision)
    in_cache = not Path(name).is_dir()
    files = base_files(source, source.parent.parent if in_cache else source)
    destination.mkdir(parents=True, exist_ok=True)
    for path in files:
        shutil.copyfile(path.resolve(), destination / path.name)
    manifest = {
        "source": name,
        "revision": revision,
        "files": {p.name: (destination / p.name).stat().st_size for p in files},
    }
    (destination / BUNDLE_MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    logger.info("Bundled base model %s: %s", name, ", ".join(p.name for p in files))
    return [p.name for p in files]
