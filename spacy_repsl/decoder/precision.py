"""Device and compute dtype defaults.

bitsandbytes runs 4-bit layers on CPU too, but with a bf16/fp16 compute dtype a CPU training
step is 30-45x slower than with fp32 (see NOTES). So "auto" means fp32 on CPU and fp16 on
CUDA, the papers' QLoRA compute dtype.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

COMPUTE_DTYPES = ("float32", "float16", "bfloat16")


def resolve_device(device: str = "auto") -> "torch.device":
    """ "auto" is the first CUDA device when there is one, else the CPU."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"Invalid device {device!r}: use 'auto', 'cpu', 'cuda' or 'cuda:<n>'.") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device={device!r} was requested but CUDA is not available here (torch "
            f"{torch.__version__}). Use device='cpu' or 'auto', or install a CUDA build of torch."
        )
    return resolved


def resolve_compute_dtype(name: str, device: "torch.device") -> "torch.dtype":
    """The dtype activations (and 4-bit matmuls) run in."""
    import torch

    if name == "auto":
        return torch.float16 if device.type == "cuda" else torch.float32
    if name not in COMPUTE_DTYPES:
        raise ValueError(f"Invalid compute_dtype {name!r}: use 'auto' or one of {sorted(COMPUTE_DTYPES)}.")
    return getattr(torch, name)
