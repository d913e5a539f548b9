"""Switches for the benchmark's before/after measurements; all are on in normal use.

They live apart from the architectures so that the torch module, its shim and the builders each
read them without importing one another (`benchmark` flips them, then puts them back).
"""

from typing import Dict

FAST_PATHS: Dict[str, bool] = {
    "inference_mode": True,
    "sort_by_length": True,
    "eval_once": True,
    "fold_adapters": True,
    "read_rows": True,
    "train_groups": True,
}

# Training updates in several sub-batches recompute each one's activations in backprop (bounded
# memory, identical gradients); off only to measure what it saves.
RECOMPUTE_SUB_BATCHES: Dict[str, bool] = {"enabled": True}
