"""LoRA adapters (peft) on the kept layers, with the SR paper's defaults."""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, List, Tuple

if TYPE_CHECKING:
    import torch

PAPER_TARGETS: Tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
MAMBA_FUSED = ("out_proj",)  # read by Mamba's fused kernel directly: no adapter there


@dataclass(frozen=True)
class LoraSettings:
    """r 16, alpha 16, dropout 0.1 on q/k/v/o: the SR paper's QLoRA recipe (on models whose token
    mixers are named otherwise, their projections: see `target_modules`)."""

    r: int = 16
    alpha: int = 16
    dropout: float = 0.1
    target_modules: Tuple[str, ...] = field(default=PAPER_TARGETS)
    bias: str = "none"

    def __post_init__(self) -> None:
        if not isinstance(self.r, int) or self.r < 1:
            raise ValueError(f"LoRA r must be a positive integer, got {self.r!r}.")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {self.dropout!r}.")
        if not self.target_modules:
            raise ValueError("LoRA target_modules is empty: name at least one, e.g. q_proj.")
        if self.bias not in ("none", "all", "lora_only"):
            raise ValueError(f"LoRA bias must be 'none', 'all' or 'lora_only', got {self.bias!r}.")
        object.__setattr__(self, "target_modules", tuple(self.target_modules))


def apply_lora(model: "torch.nn.Module", settings: LoraSettings) -> Any:
    """Wrap `model` in a peft model; the adapters (the only trainables) are fp32."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(target_modules(model, settings.target_modules)),
        bias=settings.bias,
    )
    with warnings.catch_warnings():  # peft reads transformers 5's deprecated alias; nothing for users to do
        warnings.filterwarnings("ignore", message="`is_gradient_checkpointing` is deprecated", category=FutureWarning)
        peft_model = get_peft_model(model, config)
    make_trainables_fp32(peft_model)
    return peft_model


MIXERS = "mixers"  # a target_modules entry: every token mixer's linear projections


def is_paper_targets(requested: Tuple[str, ...]) -> bool:
    """Whether `requested` is the paper's q/k/v/o (in any order), the default: on a model that names
    its attention projections otherwise it stands for those."""
    return set(requested) == set(PAPER_TARGETS) and len(requested) == len(PAPER_TARGETS)


def target_modules(model: "torch.nn.Module", requested: Tuple[str, ...]) -> Tuple[str, ...]:
    """The module names LoRA adapts. The paper's q/k/v/o (in any order) are taken literally when
    the model has all four; on one that names its attention projections otherwise they mean those
    (Phi-3's fused qkv_proj, LFM2's out_proj), and on a model without attention (Mamba 2) its
    recurrent layers' projections. "mixers" means every token mixer's linear projections, the
    recurrent layers' of a hybrid too. Never a Mamba mixer's out_proj: its fused kernel reads
    that weight directly, past any adapter (peft refuses it). Raises ValueError naming the
    modules that exist when a requested one does not."""
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    requested = tuple(requested)
    paper = is_paper_targets(requested)
    if MIXERS in requested or (paper and not set(PAPER_TARGETS) <= present):
        # Full module paths, not leaf names: LFM2's attention and convolutions both have an out_proj.
        attention, recurrent = mixer_projections(model)
        chosen = attention + recurrent if MIXERS in requested else (attention or recurrent)
        extra = [t for t in requested if t != MIXERS] if MIXERS in requested else []
        requested = tuple(chosen) + tuple(extra)
    missing = [t for t in requested if t.rsplit(".", 1)[-1] not in present]
    if missing:
        import torch

        linear = sorted(
            {name.rsplit(".", 1)[-1] for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
        )
        raise ValueError(
            f"LoRA target module(s) {missing} do not exist in this model. Its linear layers are named: {linear}; "
            f"\"{MIXERS}\" means every token mixer's projections (an encoder's: its attention's)."
        )
    return requested


def mixer_projections(model: "torch.nn.Module") -> Tuple[List[str], List[str]]:
    """Module paths of the linear layers inside attention modules, and inside recurrent mixers."""
    import torch

    from .stack import FEED_FORWARD_KIND, layer_list, mixer_kind, token_mixers

    paths = {id(m): name for name, m in model.named_modules()}
    attention: List[str] = []
    recurrent: List[str] = []
    for layer in layer_list(model):
        for module, label in token_mixers(layer):
            kind = mixer_kind(module, label)
            if kind == FEED_FORWARD_KIND:
                continue
            skip = MAMBA_FUSED if kind.startswith("state-space") else ()
            found = [
                paths[id(m)]
                for _, m in module.named_modules()
                if isinstance(m, torch.nn.Linear) and paths[id(m)].rsplit(".", 1)[-1] not in skip
            ]
            (attention if kind == "attention" else recurrent).extend(found)
    return attention, recurrent


def make_trainables_fp32(model: "torch.nn.Module") -> None:
    """spaCy's optimizer updates trainable torch parameters in place: they must be fp32."""
    import torch

    for param in model.parameters():
        if param.requires_grad and param.dtype != torch.float32:
            param.data = param.data.float()


def trainable_parameters(model: "torch.nn.Module") -> List["torch.nn.Parameter"]:
    return [p for p in model.parameters() if p.requires_grad]


def fold_adapters(model: Any) -> List[Tuple[Any, str, Any, Any]]:
    """Merge LoRA into the base weights (peft's merge) and put each base layer back in its
    wrapper's place, so prediction runs plain layers without peft's per-call dispatch (about 4%
    of a forward pass on the CPU). The base weights are kept as they were, so `unfold_adapters`
    puts them back bit for bit: subtracting the deltas again (peft's unmerge) would round them
    at every evaluation of a training run, and a run resumed from a checkpoint (which starts from
    the base as loaded) would drift from the uninterrupted one. Returns what `unfold_adapters`
    needs."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    kept = {
        id(m): m.get_base_layer().weight.detach().clone()
        for m in model.modules()
        if isinstance(m, BaseTunerLayer) and not m.merged
    }
    model.merge_adapter()
    swapped = []
    for name, module in list(model.named_modules()):
        if isinstance(module, BaseTunerLayer) and module.merged:
            parent_name, _, attr = name.rpartition(".")
            parent = model.get_submodule(parent_name)
            setattr(parent, attr, module.get_base_layer())
            swapped.append((parent, attr, module, kept.get(id(module))))
    return swapped


def unfold_adapters(model: Any, swapped: List[Tuple[Any, str, Any, Any]]) -> None:
    """Put the LoRA wrappers back and their base weights as they were before `fold_adapters`
    (peft's unmerge, subtracting the deltas, where a weight was not kept)."""
    for parent, attr, layer, weight in swapped:
        setattr(parent, attr, layer)
        if weight is not None and hasattr(layer, "merged_adapters"):
            layer.get_base_layer().weight.data.copy_(weight)
            layer.merged_adapters.clear()
    model.unmerge_adapter()  # what is still merged: nothing, where every weight was kept
