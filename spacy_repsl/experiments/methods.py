"""Method names used in the grid, and the model settings each stands for.

- `r<k>`: sequence repetition with r = k (r0 is the plain causal decoder)
- `middle`, `full`: unmasking (no repetition)
- `exit<L>-r<k>`: early exit at layer L with repetition r = k
- `groups:<bits>`: layer-group unmasking (bit 0 = bottom group), no repetition
- `finetune`: an encoder fine-tuned with configs/encoder.cfg (the encoder row, `grid.plan_encoders`)
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Dict, List, Sequence

ENCODER_METHOD = "finetune"  # the encoder row: configs/encoder.cfg, one copy, nothing to unmask


def method_settings(method: str) -> Dict[str, Any]:
    """`repetitions`, `unmask`, `exit_layer` for a method name."""
    if match := re.fullmatch(r"r(\d+)", method):
        return {"repetitions": int(match[1]), "unmask": "none", "exit_layer": None}
    if method in ("middle", "full"):
        return {"repetitions": 0, "unmask": method, "exit_layer": None}
    if match := re.fullmatch(r"exit(\d+)-r(\d+)", method):
        return {"repetitions": int(match[2]), "unmask": "none", "exit_layer": int(match[1])}
    if match := re.fullmatch(r"groups:([01]+)", method):
        return {"repetitions": 0, "unmask": method, "exit_layer": None}
    if method == ENCODER_METHOD:
        return {"repetitions": 0, "unmask": "none", "exit_layer": None}
    raise ValueError(
        f"Unknown method {method!r}: use r<k> (e.g. r1), middle, full, exit<L>-r<k> (e.g. exit14-r2) "
        "or groups:<bits> (e.g. groups:0110)."
    )


def grid_methods(
    repetitions: Sequence[int], unmasking: Sequence[str], exit_layers: Sequence[int], exit_repetitions: Sequence[int]
) -> List[str]:
    """The main grid: the r-sweep, the unmasking methods, and early exit x r."""
    methods = [f"r{k}" for k in repetitions]
    methods += [m for m in unmasking if m in ("middle", "full")]
    methods += [f"exit{layer}-r{k}" for layer in exit_layers for k in exit_repetitions]
    for method in methods:
        method_settings(method)
    return list(dict.fromkeys(methods))


def group_sweep(m: int) -> List[str]:
    """All 2^m layer-group unmasking configurations (the "Looking right" paper)."""
    if not 1 <= m <= 8:
        raise ValueError(f"The number of layer groups m must be 1..8, got {m}.")
    return ["groups:" + "".join(bits) for bits in itertools.product("01", repeat=m)]


def slug(name: str) -> str:
    """A model id or path as a folder name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.strip("/")).strip("_")[-80:] or "model"
