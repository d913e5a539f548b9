"""Everything that decides how a base decoder is loaded and adapted, checked up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional, Sequence, Union

from .lora import LoraSettings
from .precision import COMPUTE_DTYPES
from .quantization import check_quantization
from .repetition import check_modes
from .unmasking import UnmaskSpec, parse_unmask

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager", "flash_attention_2", "flash_attention_3", "flex_attention")


@dataclass(frozen=True)
class DecoderSettings:
    """How to load and adapt a decoder.

    name: hub id or local directory; revision: branch, tag or commit on the hub.
    repetitions: r >= 0 extra copies of the input (k = r + 1 copies in all).
    unmask: which layers lose their causal mask (see `unmasking.UNMASK_FORMS`).
    exit_layer: keep layers [0, L) only; None keeps all.
    quantization: "nf4", "int8" or None. compute_dtype: "auto" (fp16 on CUDA, fp32 on CPU).
    lora: adapter settings, or None for full fine-tuning (unquantized models only).
    bos / positions: repetition choices, see `repetition`.
    """

    name: str
    revision: Optional[str] = None
    local_files_only: bool = False
    repetitions: int = 1
    unmask: Union[str, UnmaskSpec, Sequence[int], None] = "none"
    exit_layer: Optional[int] = None
    quantization: Optional[str] = None
    compute_dtype: str = "auto"
    lora: Optional[LoraSettings] = field(default_factory=LoraSettings)
    gradient_checkpointing: bool = False
    attn_implementation: str = "sdpa"
    bos: str = "once"
    positions: str = "continuous"
    device: str = "auto"

    def __post_init__(self) -> None:
        # An empty name is a template's "not set yet" (the shipped configs' paths.decoder, so that
        # spaCy's fill-config and debug tools accept them); loading refuses it (`require_name`).
        if not isinstance(self.name, str):
            raise ValueError(f"A decoder `name` is a hub id (e.g. Qwen/Qwen3-0.6B) or a local path, got {self.name!r}.")
        if isinstance(self.repetitions, bool) or not isinstance(self.repetitions, int) or self.repetitions < 0:
            raise ValueError(
                f"repetitions must be an integer >= 0 (0 = the plain causal decoder), got {self.repetitions!r}."
            )
        check_modes(self.repetitions + 1, self.bos, self.positions)
        object.__setattr__(self, "unmask", parse_unmask(self.unmask))
        object.__setattr__(self, "quantization", check_quantization(self.quantization))
        if self.compute_dtype != "auto" and self.compute_dtype not in COMPUTE_DTYPES:
            raise ValueError(
                f"Invalid compute_dtype {self.compute_dtype!r}: use 'auto' or one of {sorted(COMPUTE_DTYPES)}."
            )
        if self.attn_implementation not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(
                f"Invalid attn_implementation {self.attn_implementation!r}: use one of {ATTENTION_IMPLEMENTATIONS}."
            )
        if self.lora is None and self.quantization is not None:
            raise ValueError(
                f"Full fine-tuning (lora=None) cannot update {self.quantization}-quantized weights. "
                "Use LoRA adapters with a quantized base, or set quantization to null."
            )
        if self.lora is None and self.compute_dtype not in ("auto", "float32"):
            raise ValueError(
                "Full fine-tuning (lora=None) trains every weight, and trainable weights must be "
                f"float32; compute_dtype={self.compute_dtype!r} is not. Use 'auto' or 'float32', or LoRA."
            )
        if self.exit_layer is not None and (
            isinstance(self.exit_layer, bool) or not isinstance(self.exit_layer, int) or self.exit_layer < 1
        ):
            raise ValueError(f"exit_layer must be a positive integer or None, got {self.exit_layer!r}.")

    @property
    def copies(self) -> int:
        return self.repetitions + 1

    @property
    def unmask_spec(self) -> UnmaskSpec:
        """`unmask` as parsed in `__post_init__` (the field also takes the spec's text)."""
        assert isinstance(self.unmask, UnmaskSpec)
        return self.unmask

    @property
    def needs_maskable_attention(self) -> bool:
        """Whether this setup needs our own per-layer masks (flash/flex attention cannot take them)."""
        return not self.unmask_spec.is_none or self.positions != "continuous"


def require_name(settings: "DecoderSettings") -> None:
    if not settings.name:
        raise ValueError(
            "A decoder needs a `name`: a hub id (e.g. Qwen/Qwen3-0.6B) or a local path. In a spaCy config, set "
            "paths.decoder: python -m spacy train CONFIG --paths.decoder PATH_OR_HUB_ID ..."
        )
