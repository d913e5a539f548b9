"""Weight quantization of the frozen base (bitsandbytes): NF4 as in the papers, or int8."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

if TYPE_CHECKING:
    import logging

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


# bitsandbytes runs 4-bit and 8-bit layers on the CPU from 0.45 on.
CPU_SUPPORT_SINCE = (0, 45)


def check_quantization_support(mode: str, device: "torch.device") -> None:
    """Refuse, with the fix, a quantization mode this machine cannot run."""
    try:
        import bitsandbytes
    except ImportError:
        raise ImportError(
            f"quantization={mode!r} needs bitsandbytes: pip install 'bitsandbytes>=0.45', or set quantization to null."
        ) from None
    version = tuple(int(p) for p in bitsandbytes.__version__.split(".")[:2] if p.isdigit())
    if device.type == "cpu" and version < CPU_SUPPORT_SINCE:
        raise RuntimeError(
            f"quantization={mode!r} on the CPU needs bitsandbytes >= 0.45 (installed: "
            f"{bitsandbytes.__version__}). Upgrade it (pip install -U bitsandbytes), run on a CUDA "
            "GPU, or set quantization to null."
        )
    if device.type not in ("cpu", "cuda"):
        raise RuntimeError(
            f"quantization={mode!r} is not supported on {device.type} devices by bitsandbytes. Use the "
            "CPU or a CUDA GPU, or set quantization to null."
        )


def quantization_config(mode: str, compute_dtype: "torch.dtype") -> Any:
    """A transformers `BitsAndBytesConfig`; NF4 without double quantization, as in the paper."""
    from transformers import BitsAndBytesConfig

    if mode == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=False,
            bnb_4bit_compute_dtype=compute_dtype,
        )
    return BitsAndBytesConfig(load_in_8bit=True)


def disable_cpu_weight_packing(model: "torch.nn.Module") -> int:
    """Keep bitsandbytes from repacking 4-bit weights for its CPU inference kernel.

    bitsandbytes 0.50, on CPUs with AVX512-BF16, repacks 4-bit weights on the first no-grad
    eval forward and stores their scales (absmax) in bf16 for good. It never unpacks them for
    training, and the packed kernel has no autograd: later training steps would silently lose
    the gradient through every frozen 4-bit layer (torch only warns), and the rounded scales
    would make evaluation and training see slightly different weights. Returns the number of
    layers changed.
    """
    try:
        from bitsandbytes.nn import Linear4bit
    except ImportError:
        return 0
    changed = 0
    for module in model.modules():
        if isinstance(module, Linear4bit) and getattr(module, "support_avx512bf16_for_cpu", False):
            module.support_avx512bf16_for_cpu = False
            changed += 1
    return changed


class _CastNoticeOnce:
    """bitsandbytes logs "MatMul8bitLt: inputs will be cast ..." on every int8 forward on the
    CPU; the first says it all."""

    def __init__(self) -> None:
        self.seen = False

    def filter(self, record: "logging.LogRecord") -> bool:
        if "inputs will be cast" not in record.getMessage():
            return True
        if self.seen:
            return False
        self.seen = True
        return True


def quiet_int8_cast_notice() -> None:
    """Let bitsandbytes' int8 cast notice through once per process."""
    import logging

    log = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _CastNoticeOnce) for f in log.filters):
        log.addFilter(_CastNoticeOnce())
