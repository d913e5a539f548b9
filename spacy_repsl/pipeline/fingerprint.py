"""What a trained pipeline depends on besides its own weights: the base model and the method.

A pipeline saves its adapters and head, not the base. Loaded over another base of the same
shape (another family, a re-initialised copy, a hub id that moved on), or with the method
settings edited in config.cfg (r, unmasking, pooling ...), it would load silently and predict
something else. So a save records a fingerprint of the base (its config, and per weight file
the size and hashes of three sampled 1 MiB chunks: cheap for a 15 GB checkpoint) and the method
settings, and loading compares them. Pure functions, tested directly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Dict, List, Mapping

from ..decoder.gguf import SOURCE_FILE as GGUF_SOURCE_FILE

CHUNK = 1 << 20
# Settings that change what the trained model computes; editing one after training changes
# its predictions. The LoRA ones: alpha scales every adapter's output (alpha / r), r and the
# target modules decide which weights exist, bias whether biases were trained. (LoRA dropout acts
# only in training; quantization and compute dtype are deployment choices and may change.)
METHOD_SETTINGS = (
    "repetitions",
    "unmask",
    "exit_layer",
    "pooling",
    "positions",
    "bos",
    "max_length",
    "window_context",
    "lora_r",
    "lora_alpha",
    "lora_target_modules",
    "lora_bias",
)
# Keys of config.json that say nothing about the weights.
IGNORED_CONFIG_KEYS = (
    "_name_or_path",
    "transformers_version",
    "torch_dtype",
    "dtype",
    "use_cache",
    "attn_implementation",
    "_attn_implementation_autoset",
    "quantization_config",
)


def file_digest(path: Path) -> Dict[str, Any]:
    """Size and a hash of the first, middle and last MiB."""
    size = path.stat().st_size
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for offset in sorted({0, max(0, size // 2 - CHUNK // 2), max(0, size - CHUNK)}):
            handle.seek(offset)
            sha.update(handle.read(CHUNK))
    return {"size": size, "sampled_sha256": sha.hexdigest()}


def base_fingerprint(directory: Path) -> Dict[str, Any]:
    """The fingerprint of a checkpoint folder: its config (minus load-time keys) and weights."""
    directory = Path(directory)
    config = json.loads((directory / "config.json").read_text())
    for key in IGNORED_CONFIG_KEYS:
        config.pop(key, None)
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"))
    weights = {p.name: file_digest(p) for p in sorted(directory.glob("*.safetensors"))}
    out = {
        "config_sha256": hashlib.sha256(canonical.encode()).hexdigest(),
        "weights": weights,
        "model_type": config.get("model_type"),
    }
    gguf = directory / GGUF_SOURCE_FILE  # a checkpoint converted from a GGUF file: that file's full hash
    if gguf.is_file():
        out["gguf_sha256"] = json.loads(gguf.read_text()).get("sha256")
    return out


def fingerprint_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> List[str]:
    """What differs, in words; empty when the bases are the same."""
    out = []
    if saved.get("model_type") != current.get("model_type"):
        out.append(f"model type {saved.get('model_type')!r} when saved, {current.get('model_type')!r} now")
    elif saved.get("config_sha256") != current.get("config_sha256"):
        out.append("the model config (config.json) differs")
    if saved.get("gguf_sha256") and current.get("gguf_sha256") and saved["gguf_sha256"] != current["gguf_sha256"]:
        out.append("the GGUF file it was converted from differs (SHA-256)")
    old, new = saved.get("weights", {}), current.get("weights", {})
    if set(old) != set(new):
        out.append(f"weight files {sorted(old)} when saved, {sorted(new)} now")
    else:
        changed = [name for name in old if old[name] != new[name]]
        if changed:
            out.append(f"the weights differ ({', '.join(changed)})")
    return out


def method_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> Dict[str, str]:
    """Setting -> what differs, in words, for the method settings that changed since saving."""
    return {
        key: f"{key} = {saved[key]!r} when trained, {current.get(key)!r} now"
        for key in METHOD_SETTINGS
        if key in saved and saved[key] != current.get(key)
    }
