"""What a loaded decoder stack offers each method, found on the model itself.

Each method needs something different (issue 26): repetition only a causal forward; early exit a
per-layer list (cut through the config, see `early_exit`); restarted positions a forward that
takes `position_ids`; unmasking an attention module per layer that takes its mask through the
`attention_mask` keyword (transformers' shared mask interface, where our hooks replace it). A
hybrid model offers unmasking on its attention layers only: a recurrence (linear attention, a
short convolution, a state-space layer) only ever sees the past, so it stays causal.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import FrozenSet, List, Optional, Tuple

import torch

from .families import UnsupportedModelError
from .unmasking import UnmaskSpec

# A layer's token mixers, by the attribute transformers gives them, and what they are when they
# are not attention. Attention is told by the module itself, not its name: every transformers
# attention module has an `is_causal` attribute, and no recurrence has one (Nemotron-H names its
# attention, Mamba and MLP layers all `mixer`).
TOKEN_MIXERS = (
    ("self_attn", "attention"),
    ("linear_attn", "linear attention"),
    ("conv", "short convolution"),
    ("mamba", "state-space (Mamba)"),
    ("mixer", "state-space (Mamba)"),
)


FEED_FORWARD_KIND = "feed-forward"


def is_attention(module: torch.nn.Module) -> bool:
    return hasattr(module, "is_causal")


def token_mixers(layer: torch.nn.Module) -> List[Tuple[torch.nn.Module, str]]:
    """(module, label by its name) of each token-mixer attribute the layer has."""
    found = [(getattr(layer, name, None), label) for name, label in TOKEN_MIXERS]
    return [(m, label) for m, label in found if isinstance(m, torch.nn.Module)]


def mixer_kind(module: torch.nn.Module, label: str) -> str:
    """ "attention", a recurrence's kind, or "feed-forward" for a block that mixes no tokens (a
    Nemotron-H layer whose `mixer` is an MLP or mixture of experts)."""
    if is_attention(module):
        return "attention"
    name = type(module).__name__
    if "MLP" in name or "MoE" in name or "Expert" in name:
        return FEED_FORWARD_KIND
    return label


def attention_module(layer: torch.nn.Module) -> Optional[torch.nn.Module]:
    """The layer's attention module (under any mixer name), or None for a recurrent layer."""
    for name, _ in TOKEN_MIXERS:
        module = getattr(layer, name, None)
        if isinstance(module, torch.nn.Module) and is_attention(module):
            return module
    return None


@dataclass(frozen=True)
class DecoderStack:
    """A loaded stack: per layer what mixes its tokens, which layers attend, whether the forward
    takes position ids, and whether every attention module takes an `attention_mask`."""

    model_type: str
    kinds: Tuple[str, ...]
    attention_layers: Tuple[int, ...]
    takes_position_ids: bool
    maskable: bool

    @property
    def num_layers(self) -> int:
        return len(self.kinds)


def layer_list(backbone: torch.nn.Module) -> torch.nn.ModuleList:
    """The stack's per-layer list (`layers` in every transformers decoder of the 5.x line)."""
    layers = getattr(backbone, "layers", None)
    if isinstance(layers, torch.nn.ModuleList):
        return layers
    model_type = getattr(backbone.config, "model_type", "?")
    raise UnsupportedModelError(
        f"model_type {model_type!r} ({type(backbone).__name__}) has no per-layer list `layers`, the decoder "
        "stack spacy-repsl runs, cuts for early exit and hooks for unmasking; it is not a decoder-only model "
        "of the transformers 5 layout (an encoder, or an older architecture such as GPT-2). Use a decoder "
        "such as Qwen3, Llama, Gemma 3, Phi-3, OLMo 2, Granite, LFM2, Falcon-H1 or Mamba 2."
    )


def inspect_stack(backbone: torch.nn.Module) -> DecoderStack:
    """Describe `backbone` (the bare transformers model); refuses what is not a causal decoder."""
    model_type = getattr(backbone.config, "model_type", "?")
    kinds, attention, maskable = [], [], True
    for i, layer in enumerate(layer_list(backbone)):
        mixers = list(dict.fromkeys(mixer_kind(m, label) for m, label in token_mixers(layer)))
        if not mixers:
            children = ", ".join(name for name, _ in layer.named_children())
            raise UnsupportedModelError(
                f"Layer {i} of {model_type} has no token mixer spacy-repsl knows (its parts: {children}; known: "
                f"{', '.join(name for name, _ in TOKEN_MIXERS)}). Please report the model type."
            )
        module = attention_module(layer)
        if module is not None:
            if getattr(module, "is_causal", True) is False:
                raise UnsupportedModelError(
                    f"Layer {i} of {model_type} attends bidirectionally by its config (e.g. "
                    "use_bidirectional_attention = true): it is an encoder, not a causal decoder. Load it "
                    "with that flag false and choose unmask='full' to remove the causal mask with spacy-repsl."
                )
            maskable = maskable and "attention_mask" in inspect.signature(module.forward).parameters
            attention.append(i)
        kinds.append(" + ".join(mixers))
    return DecoderStack(
        model_type=model_type,
        kinds=tuple(kinds),
        attention_layers=tuple(attention),
        takes_position_ids="position_ids" in inspect.signature(backbone.forward).parameters,
        maskable=maskable,
    )


def unmasked_layers(stack: DecoderStack, spec: UnmaskSpec, exit_layer: Optional[int] = None) -> FrozenSet[int]:
    """The attention layers `spec` unmasks. "full", "middle" and "groups:" select layers of the
    whole stack and unmask the attention layers among them (on a hybrid, "full" is every attention
    layer); "layers:" must name attention layers only. Raises UnsupportedModelError with what can run."""
    requested = spec.layers(stack.num_layers)
    if not requested:
        return frozenset()
    attention = frozenset(stack.attention_layers)
    cut = (
        f" With exit_layer = {exit_layer} only layers 0..{exit_layer - 1} run: a higher exit layer may keep "
        "an attention layer."
        if exit_layer is not None
        else ""
    )
    if not attention:
        raise UnsupportedModelError(
            f"unmask={str(spec)!r} cannot run on {stack.model_type}: it has no attention layer (every layer is "
            f"{stack.kinds[0]}, which only ever sees the past, so there is no causal mask to remove). Use "
            f'repetitions (e.g. repetitions = 1) with unmask = "none".{cut}'
        )
    if not stack.maskable:
        raise UnsupportedModelError(
            f"The attention modules of {stack.model_type} take no `attention_mask` keyword, so per-layer masks "
            f'cannot reach them and unmask={str(spec)!r} cannot run. Use repetitions with unmask = "none".'
        )
    if spec.kind == "layers":
        recurrent = sorted(requested - attention)
        if recurrent:
            first = recurrent[0]
            raise UnsupportedModelError(
                f"Layer {first} of {stack.model_type} is a {stack.kinds[first]} layer: it cannot be unmasked (a "
                "recurrence only ever sees the past). Use repetitions, or unmask only attention layers: "
                f"layers:{','.join(str(i) for i in sorted(requested & attention) or stack.attention_layers)}."
            )
    chosen = requested & attention
    if not chosen:
        raise UnsupportedModelError(
            f"unmask={str(spec)!r} selects layers {sorted(requested)} of {stack.model_type}, none of them an "
            f"attention layer (its attention layers: {list(stack.attention_layers)}). Use repetitions, or "
            f"unmask layers:{','.join(str(i) for i in stack.attention_layers)}.{cut}"
        )
    return chosen


def check_positions(stack: DecoderStack, positions: str) -> None:
    """positions='restart' numbers each copy anew: the model must take position ids."""
    if positions == "restart" and (not stack.takes_position_ids or not stack.attention_layers):
        why = "takes none" if not stack.takes_position_ids else "runs no attention layer that would read them"
        raise UnsupportedModelError(
            f"positions='restart' needs position ids read by attention layers, and {stack.model_type} {why} "
            "(its layers know order by recurrence alone). Use positions='continuous'."
        )
