"""The last layer's feed-forward block runs only on the rows that are read.

The last layer's MLP is position-wise, and its output reaches nothing but the final norm and
the read-out. Rows that nobody reads (BOS, padding, the earlier copies under repetition,
pieces after a token's first under first-piece pooling) need not be computed: at r = 1 that
is over half of the last layer's rows, and the MLP is most of a layer's cost. Their outputs
come back as zeros (the residual passes through), so they are junk and must not be read.

In training too, unless the layers are checkpointed (`gradient_checkpointing`: the recomputation
in backprop runs after the rows are reset, so it would compute every row and no longer match the
forward). The rows that are read get the same values, so the same loss and gradients; the others
get no gradient either way.
"""

from __future__ import annotations

import contextlib
from typing import Any, Iterator, List, Optional

import torch


class ReadRows:
    """Forward hooks for one MLP: while `rows` (indices into the flattened batch x positions)
    is set, the MLP sees only those rows of its input and its output is scattered back.
    A class with methods, not closures, so a model with its hooks can still be pickled."""

    def __init__(self) -> None:
        self.rows: Optional[torch.Tensor] = None
        self.shape: Optional[torch.Size] = None

    def before(self, module: torch.nn.Module, args: tuple) -> Optional[tuple]:
        if self.rows is None:
            return None
        hidden = args[0]
        self.shape = hidden.shape
        return (hidden.reshape(-1, hidden.shape[-1]).index_select(0, self.rows),) + tuple(args[1:])

    def after(self, module: torch.nn.Module, args: tuple, output: torch.Tensor) -> Optional[torch.Tensor]:
        if self.rows is None:
            return None
        assert self.shape is not None  # set by `before` whenever rows are
        full = output.new_zeros(self.shape[:-1] + output.shape[-1:])
        full.view(-1, output.shape[-1]).index_copy_(0, self.rows, output)
        return full

    @contextlib.contextmanager
    def reading(self, rows: Optional[torch.Tensor]) -> Iterator[None]:
        """Compute only `rows` inside the block (None: all rows); always reset afterwards."""
        self.rows = rows
        try:
            yield
        finally:
            self.rows, self.shape = None, None


FEED_FORWARD = ("mlp", "feed_forward")  # the position-wise block of a layer, by its transformers name


def install_read_rows(layers: Any) -> "tuple[ReadRows, List[Any]]":
    """Hook the last layer's position-wise block (`mlp`, or `feed_forward` in LFM2 and Falcon-H1);
    returns the hook object and the handles (keep them to remove). A last layer without one (Mamba 2's
    is its mixer alone, which is not position-wise) is left as it is: every row is computed."""
    hook = ReadRows()
    block = next((getattr(layers[-1], name) for name in FEED_FORWARD if hasattr(layers[-1], name)), None)
    if block is None:
        return hook, []
    return hook, [block.register_forward_pre_hook(hook.before), block.register_forward_hook(hook.after)]


def worth_pruning(n_rows: int, total: int, in_training: bool = False) -> bool:
    """Gathering and scattering cost a little: prune only when a tenth or more can be skipped.
    With gradients on, only where the caller says training may prune (`in_training`: no layer
    checkpointing)."""
    return (in_training or torch.is_grad_enabled() is False) and n_rows < 0.9 * total
