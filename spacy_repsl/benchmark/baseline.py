"""The raw transformers forward our pipeline is compared with."""

from __future__ import annotations

from typing import Any, Sequence

from .timing import synchronize


class HFBaseline:
    """`AutoModelForTokenClassification` on the same weights and the same batches, pre-tokenized
    and padded: our side's tokenization, alignment and decoding are not timed for it."""

    def __init__(
        self,
        model_dir: str,
        batches: Sequence[Sequence[str]],
        tokenizer: Any,
        num_labels: int,
        device: str = "cpu",
        dtype: Any = None,
    ):
        import torch
        from transformers import AutoModelForTokenClassification

        self.torch = torch
        self.model = (
            AutoModelForTokenClassification.from_pretrained(
                model_dir, num_labels=num_labels, attn_implementation="sdpa", dtype=dtype or torch.float32
            )
            .to(device)
            .eval()
        )
        self.batches = [tokenizer(list(texts), padding=True, return_tensors="pt").to(device) for texts in batches]
        self(0)  # warm-up

    def __call__(self, index: int) -> Any:
        """One forward of batch `index` (waiting for the GPU, if any, to finish it)."""
        with self.torch.inference_mode():
            out = self.model(**self.batches[index])
        synchronize()
        return out
