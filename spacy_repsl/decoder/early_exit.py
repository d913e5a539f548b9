"""Early exit: keep only layers [0, L) so the rest are never loaded, allocated or run.

The config is cut before the weights load, so transformers builds L layers and skips the
checkpoint's weights for the others. The model's final norm is still applied to layer L's
output (the output equals `norm(hidden_states[L])` of the full model): the norm's scale is
learned for the last layer, but a fine-tuned head adapts to it and it keeps the scale of the
features comparable across exit layers.
"""

from __future__ import annotations

import copy
from typing import Any, Optional

# Config lists with one entry per layer (cut to the kept layers), and lists of layer indices
# (the kept ones stay): Gemma 3, Qwen3, hybrids' layer_types; SmolLM3's no_rope_layers; LFM2's
# full_attn_idxs.
PER_LAYER_LISTS = ("layer_types", "no_rope_layers")
LAYER_INDEX_LISTS = ("full_attn_idxs",)


class ExitLayerError(ValueError):
    """An exit layer outside 1..N."""


def check_exit_layer(exit_layer: Optional[int], num_layers: int) -> int:
    """The number of layers to keep; `None` keeps all."""
    if exit_layer is None:
        return num_layers
    if isinstance(exit_layer, bool) or not isinstance(exit_layer, int) or not 1 <= exit_layer <= num_layers:
        raise ExitLayerError(
            f"exit_layer={exit_layer!r} is out of range for a model with {num_layers} layers: "
            f"use an integer from 1 to {num_layers}, or null to run every layer."
        )
    return exit_layer


def truncate_config(config: Any, exit_layer: Optional[int]) -> Any:
    """A copy of `config` that builds only the first `exit_layer` layers."""
    kept = check_exit_layer(exit_layer, config.num_hidden_layers)
    config = copy.deepcopy(config)
    config.num_hidden_layers = kept
    for name in PER_LAYER_LISTS:
        value = getattr(config, name, None)
        if isinstance(value, (list, tuple)) and len(value) > kept:
            _set(config, name, list(value)[:kept])
    for name in LAYER_INDEX_LISTS:
        value = getattr(config, name, None)
        if isinstance(value, (list, tuple)):
            _set(config, name, [i for i in value if i < kept])
    return config


def _set(config: Any, name: str, value: list) -> None:
    try:
        setattr(config, name, value)
    except AttributeError:  # a read-only property derived from num_hidden_layers (Falcon-H1's layer_types)
        pass
