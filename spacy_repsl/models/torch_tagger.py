"""The torch module the tagger trains: decoder core -> token vectors -> dropout + linear head
(or, for the shared decoder `repsl_decoder`, the token vectors themselves)."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import torch

from ..decoder.encoder import RepSLDecoder
from ..tokenization.pieces import PieceBatch, split_batch
from .fast_paths import FAST_PATHS
from .passes import listening, report_pass


class TaggerModule(torch.nn.Module):
    """Per-token tag logits for a `PieceBatch`, one row per spaCy token of the batch's docs; with
    `n_tags=None`, the token vectors themselves (float32, width `decoder.hidden_size`), for the
    listeners of a shared decoder."""

    def __init__(self, decoder: RepSLDecoder, n_tags: Optional[int], *, dropout: float = 0.1, pooling: str = "first"):
        super().__init__()
        self.decoder = decoder
        self.pooling = pooling
        self.dropout = torch.nn.Dropout(dropout if n_tags is not None else 0.0)
        self.head: torch.nn.Module = (
            torch.nn.Identity()
            if n_tags is None
            else torch.nn.Linear(decoder.hidden_size, n_tags).to(device=decoder.device, dtype=torch.float32)
        )
        # Set per training update by the thinc model: when an update runs in several sub-batches,
        # each keeps only its logits and recomputes its activations in backprop (same dropout
        # masks, same gradients), so training memory is bounded by one sub-batch, not the update.
        self.recompute = False
        self._trainables: Optional[list] = None

    def trainable_named_parameters(self) -> list:
        """(name, parameter) of every trainable parameter, found once: walking the module tree of
        a peft-wrapped decoder costs milliseconds per call (hundreds of modules), which every
        training step would otherwise pay several times (gradient checks, unscaling, the optimizer
        step). `forget_trainables` after the tree changes (folding, merging)."""
        if self._trainables is None:
            self._trainables = [(n, p) for n, p in self.named_parameters() if p.requires_grad]
        return self._trainables

    def forget_trainables(self) -> None:
        self._trainables = None

    @property
    def n_tags(self) -> int:
        """The width of a token's output row: tags, or the decoder's hidden size without a head."""
        return getattr(self.head, "out_features", self.decoder.hidden_size)

    def forward(self, batch: PieceBatch, max_windows: Optional[int] = None) -> torch.Tensor:
        """Logits for the batch's tokens, in at most `max_windows` windows per decoder pass."""
        parts: List[Tuple[PieceBatch, Any]] = split_batch(batch, max_windows) if max_windows else [(batch, None)]
        outputs, done = [], 0
        for part, _ in parts:
            outputs.append(self._part(part))
            if len(parts) > 1 and listening():
                done += part.n_tokens
                report_pass(done, batch.n_tokens)
        if len(parts) == 1:
            return outputs[0]
        order = torch.tensor([t for _, tokens in parts for t in tokens], device=outputs[0].device)
        inverse = torch.empty_like(order)
        inverse[order] = torch.arange(len(order), device=order.device)
        return torch.cat(outputs)[inverse]

    def _part(self, batch: PieceBatch) -> torch.Tensor:
        if self.recompute and torch.is_grad_enabled():
            from torch.utils.checkpoint import checkpoint

            return checkpoint(self.logits, batch, use_reentrant=False, preserve_rng_state=True)
        return self.logits(batch)

    def logits(self, batch: PieceBatch) -> torch.Tensor:
        device = self.decoder.device
        if batch.n_tokens == 0:
            return torch.zeros((0, self.n_tags), device=device, requires_grad=self.training)
        prune = FAST_PATHS["read_rows"]
        if self.pooling == "first":
            vectors = self.decoder.read(batch.sequences, batch.token_window, batch.token_first, prune).float()
        else:
            states = self.decoder.read(batch.sequences, batch.piece_window, batch.piece_position, prune).float()
            tokens = torch.tensor(batch.piece_token, device=device)
            sums = torch.zeros((batch.n_tokens, states.shape[1]), device=device).index_add(0, tokens, states)
            counts = torch.zeros(batch.n_tokens, device=device).index_add(
                0, tokens, torch.ones_like(tokens, dtype=torch.float32)
            )
            vectors = sums / counts[:, None]
        return self.head(self.dropout(vectors))

    def trainable_state(self) -> dict:
        """The trained parameters (LoRA or all decoder weights, and the head), by name."""
        return {name: p.detach() for name, p in self.named_parameters() if p.requires_grad}
