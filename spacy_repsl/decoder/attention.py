"""Per-layer attention masks, forced onto every attention call.

transformers 5 builds one mask for the whole model and, for an unpadded batch under SDPA,
often none at all, leaving the module's own `is_causal=True` in charge: an "unmasked" layer
would silently turn causal again. So we never rely on its mask. Each kept layer's attention
module gets a forward pre-hook that replaces `attention_mask` with the mask for that layer
(causal or bidirectional, padding always masked, sliding window kept; the cheapest exact form,
see `LayerMasks.for_layer`), taken from a
`LayerMasks` object passed down through the model's `**kwargs`. Passing it as a keyword
(not stashing it on a module) keeps gradient checkpointing correct: the recomputation in
the backward pass gets the same kwargs. After every forward the encoder checks that each
hook ran, so a model that bypasses them fails loudly instead of computing causally.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, FrozenSet, List, Optional, Sequence, Set, Tuple

import torch

MASKS_KWARG = "repsl_masks"


@dataclass(frozen=True)
class LayerAttention:
    """How one layer attends: bidirectionally or not, and within which window."""

    bidirectional: bool
    window: Optional[int] = None


def attention_plan(
    config: Any, unmasked: FrozenSet[int], attention_layers: Optional[Sequence[int]] = None
) -> List[Optional[LayerAttention]]:
    """One `LayerAttention` per attention layer that runs (None for a recurrent layer of a hybrid),
    keeping the model's sliding windows.

    Models with `layer_types` (Gemma 2/3, Qwen3, SmolLM3, hybrids) window only their
    "sliding_attention" layers; otherwise a `sliding_window` in the config applies to every
    layer (Mistral, Phi-3). `attention_layers`: indices of the layers that attend (all if None).
    """
    num_layers = config.num_hidden_layers
    attending = set(range(num_layers) if attention_layers is None else attention_layers)
    window = getattr(config, "sliding_window", None)
    layer_types = getattr(config, "layer_types", None)
    plan: List[Optional[LayerAttention]] = []
    for i in range(num_layers):
        if i not in attending:
            plan.append(None)
            continue
        if layer_types is not None:
            w = window if layer_types[i] == "sliding_attention" else None
        else:
            w = window
        plan.append(LayerAttention(bidirectional=i in unmasked, window=w))
    return plan


class LayerMasks:
    """The masks of one forward pass, built lazily and shared by layers that agree.

    Sequences are right-padded; `lengths` are their valid lengths. Bidirectional windows are
    symmetric (|i - j| < window). Boolean masks go to SDPA, additive float masks to eager.
    """

    def __init__(self, lengths: torch.Tensor, total: int, plan: List[Optional[LayerAttention]], boolean: bool):
        self.lengths = lengths
        self.total = total
        self.plan = plan
        self.boolean = boolean
        self.seen: Set[int] = set()
        self._cache: Dict[Tuple[LayerAttention, torch.dtype], torch.Tensor] = {}

    def allowed(self, layer: LayerAttention) -> torch.Tensor:
        """Boolean [batch, 1, query, key]: True where a query may attend to a key."""
        idx = torch.arange(self.total, device=self.lengths.device)
        query, key = idx[:, None], idx[None, :]
        allowed = (idx[None, :] < self.lengths[:, None])[:, None, None, :]
        if not layer.bidirectional:
            allowed = allowed & (key <= query)
        if layer.window is not None:
            near = (query - key) < layer.window
            if layer.bidirectional:
                near = near & ((key - query) < layer.window)
            allowed = allowed & near
        # A broadcast view: a bidirectional mask without a window costs batch x keys only.
        return allowed.expand(len(self.lengths), 1, self.total, self.total)

    def for_layer(self, index: int, dtype: torch.dtype) -> Optional[torch.Tensor]:
        """Layer `index`'s mask, recording that the layer asked for it. None for a causal layer
        without a window under SDPA: pads only ever follow a sequence's last token, so causality
        alone keeps every real query off them, and SDPA's `is_causal` kernels (flash, on CPU and
        CUDA) need no dense mask. What padded queries compute is never read."""
        self.seen.add(index)
        layer = self.plan[index]
        assert layer is not None, f"layer {index} has no attention to mask"
        if self.boolean and not layer.bidirectional and layer.window is None:
            return None
        return self._mask(layer, dtype)

    def model_mask(self, dtype: torch.dtype) -> torch.Tensor:
        """A 4D placeholder for the model's own mask slot: given one, transformers builds no mask
        of its own, and every layer's hook replaces it (checked after each forward)."""
        dtype = torch.bool if self.boolean else dtype
        allow_all = torch.full((), self.boolean or 0.0, dtype=dtype, device=self.lengths.device)
        return allow_all.expand(len(self.lengths), 1, self.total, self.total)

    def _mask(self, layer: LayerAttention, dtype: torch.dtype) -> torch.Tensor:
        key = (layer, torch.bool if self.boolean else dtype)
        if key not in self._cache:
            allowed = self.allowed(layer)
            if layer.bidirectional and layer.window is None:
                # Every query row is the same (padding only): one row per sequence, which the
                # kernels broadcast, instead of batch x queries x keys.
                allowed = allowed[:, :, :1, :]
            if self.boolean:
                mask = allowed.contiguous()  # materialized once, shared by the layers: kernels copy views
            else:
                mask = torch.zeros((), dtype=dtype, device=allowed.device)
                mask = mask.masked_fill(~allowed, torch.finfo(dtype).min)
            self._cache[key] = mask
        return self._cache[key]


class LayerMaskHook:
    """Forward pre-hook that gives layer `index` its own mask. A class, not a closure, so a
    model with its hooks can be pickled (spaCy's n_process > 1 under the spawn start method)."""

    def __init__(self, index: int) -> None:
        self.index = index

    def __call__(self, module: torch.nn.Module, args: tuple, kwargs: dict):
        masks: Optional[LayerMasks] = kwargs.pop(MASKS_KWARG, None)
        if masks is None:
            return args, kwargs
        if "attention_mask" not in kwargs:
            raise RuntimeError(
                f"Layer {self.index}'s attention module was called without an `attention_mask` "
                "keyword; this transformers version passes masks differently, so per-layer "
                "masks cannot be applied. Please report it with your transformers version."
            )
        hidden = kwargs.get("hidden_states", args[0] if args else None)
        dtype = hidden.dtype if hidden is not None else torch.float32
        kwargs["attention_mask"] = masks.for_layer(self.index, dtype)
        return args, kwargs


def install_mask_hooks(attention_modules: Dict[int, torch.nn.Module]) -> List[Any]:
    """Hook each attention layer's module (layer index -> module); returns the handles (keep them to remove)."""
    return [
        module.register_forward_pre_hook(LayerMaskHook(i), with_kwargs=True) for i, module in attention_modules.items()
    ]
