"""Weight quantization of the frozen base (bitsandbytes): NF4 as in the papers, or int8."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import torch

QUANTIZATION_MODES = ("nf4", "int8")


def check_quantization(mode: Optional[str]) -> Optional[str]:
    if mode in (None, "none", "null", ""):
        return None
    if mode not in QUANTIZATION_MODES:
        raise ValueError(
            f"Invalid quantization {mode!r}: use 'nf4' (4-bit NormalFloat, the papers' QLoRA "
            "setting), 'int8', or null for unquantized weights."
        )
    return mode


def quantization_config(mode: str, compute_dtype: "torch.dtype") -> Any:
    """A transformers `BitsAndBytesConfig`; NF4 without double quantization, as in the paper."""
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        raise ImportError(
            f"quantization={mode!r} needs bitsandbytes: pip install 'bitsandbytes>=0.45', or "
            "set quantization to null."
        ) from None
    from transformers import BitsAndBytesConfig

    if mode == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=False,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)
