"""An encoder base with the decoder core's reading interface.

Input: piece ids per window, without special tokens, as for `RepSLDecoder`. Each window is
framed by the tokenizer's own special tokens ([CLS] ... [SEP], <s> ... </s>), right-padded, and
run with a padding mask (an encoder attends both ways, so pads must be masked out, unlike a
causal decoder's trailing pads). Output: the last layer's state at each requested piece.
"""

from __future__ import annotations

import inspect
from typing import Any, List, Optional, Sequence, Tuple

import torch

from ..decoder.encoder import AdaptedBase, DecoderOutput, SequenceTooLongError, adapt_for_training
from ..decoder.families import UnsupportedModelError
from ..decoder.lora import MIXERS, is_paper_targets
from ..decoder.settings import DecoderSettings
from .families import check_encoder_settings

# Where transformers keeps an encoder's layers, and each layer's attention module.
LAYER_LISTS = ("encoder.layer", "layers")  # BERT-style stacks; ModernBERT
ATTENTION_NAMES = ("attention", "attn")  # BERT, RoBERTa, DeBERTa, ELECTRA, MPNet; ModernBERT


class RepSLEncoder(AdaptedBase):
    """A (LoRA-adapted or fully fine-tuned, early-exited) transformers encoder read per piece."""

    def __init__(
        self,
        model: torch.nn.Module,
        settings: DecoderSettings,
        *,
        prefix_ids: Sequence[int],
        suffix_ids: Sequence[int],
        pad_token_id: int,
    ):
        super().__init__()
        self.model = model
        self.settings = settings
        self.prefix_ids = list(prefix_ids)
        self.suffix_ids = list(suffix_ids)
        self.pad_token_id = pad_token_id
        self.bos_token_id: Optional[int] = None  # no BOS of its own: `prefix_ids` frame the input
        self.num_layers: int = len(encoder_layers(self.backbone))
        self.max_positions = usable_positions(self.backbone)

    @property
    def n_special(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def check_fits(self, length: int) -> None:
        """Refuse, up front, windows of `length` pieces (e.g. max_length) the encoder cannot take.
        Raises SequenceTooLongError with the largest max_length that fits."""
        if self.max_positions is not None and length + self.n_special > self.max_positions:
            raise SequenceTooLongError(
                f"A window of {length} pieces and its {self.n_special} special tokens needs {length + self.n_special} "
                f"positions, beyond this encoder's {self.max_positions}. Set max_length to at most "
                f"{self.max_positions - self.n_special} (longer docs are labelled in overlapping windows)."
            )

    def batch_inputs(self, sequences: Sequence[Sequence[int]]) -> dict:
        """Frame each window with the special tokens, right-pad, and mask the pads."""
        if len(sequences) == 0:
            raise ValueError("The encoder was given an empty batch; pass at least one sequence.")
        if any(len(ids) == 0 for ids in sequences):
            raise ValueError(
                "Cannot encode an empty sequence: it has no positions to label. Skip empty inputs "
                "before calling the encoder."
            )
        self.check_fits(max(len(ids) for ids in sequences))
        framed = [self.prefix_ids + list(ids) + self.suffix_ids for ids in sequences]
        longest = max(len(f) for f in framed)
        return {
            "input_ids": torch.tensor([f + [self.pad_token_id] * (longest - len(f)) for f in framed], dtype=torch.long),
            "attention_mask": torch.tensor([[1] * len(f) + [0] * (longest - len(f)) for f in framed], dtype=torch.long),
        }

    def forward(self, sequences: Sequence[Sequence[int]]) -> DecoderOutput:
        """[batch, max_len, hidden] states of the input pieces (zeros past each length)."""
        hidden = self._run(self.batch_inputs(sequences))
        lengths = torch.tensor([len(ids) for ids in sequences], device=hidden.device)
        start = len(self.prefix_ids)
        states = hidden[:, start : start + int(lengths.max())]
        valid = torch.arange(states.shape[1], device=hidden.device)[None, :] < lengths[:, None]
        return DecoderOutput(hidden=states * valid[:, :, None], lengths=lengths)

    def read(
        self, sequences: Sequence[Sequence[int]], windows: Sequence[int], positions: Sequence[int], prune: bool = True
    ) -> torch.Tensor:
        """The final states at `positions` (piece indices, without special tokens) of the
        sequences `windows`, one row per pair: what a tagger reads. `prune` is accepted for the
        decoder's interface; every row runs (the last layer's blocks are not position-wise here:
        BERT's output block adds the residual inside its norm)."""
        batch = self.batch_inputs(sequences)
        hidden = self._run(batch)
        width = hidden.shape[1]
        start = len(self.prefix_ids)
        rows = torch.tensor(
            [w * width + start + p for w, p in zip(windows, positions)], dtype=torch.long, device=hidden.device
        )
        return hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)

    def _run(self, batch: dict) -> torch.Tensor:
        device = self.device
        output = self.backbone(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        )
        return output.last_hidden_state


def encoder_layers(backbone: torch.nn.Module) -> torch.nn.ModuleList:
    """The encoder's per-layer list (`encoder.layer` in BERT-style stacks, `layers` in ModernBERT)."""
    for path in LAYER_LISTS:
        module: Any = backbone
        for part in path.split("."):
            module = getattr(module, part, None)
        if isinstance(module, torch.nn.ModuleList):
            return module
    raise UnsupportedModelError(
        f"{type(backbone).__name__} keeps its layers in none of {LAYER_LISTS} (DistilBERT and ALBERT lay them out "
        "otherwise), so early exit and LoRA's defaults cannot find them. Use a BERT, RoBERTa, XLM-RoBERTa, "
        "DeBERTa-v2/v3, ELECTRA, MPNet or ModernBERT checkpoint."
    )


def attention_projections(backbone: torch.nn.Module) -> Tuple[str, ...]:
    """Module paths of every linear layer inside each layer's attention block: what the papers'
    q/k/v/o LoRA targets are on an encoder (BERT's query/key/value and attention.output.dense,
    DeBERTa's *_proj, MPNet's q/k/v/o, ModernBERT's fused Wqkv and Wo)."""
    paths = {id(m): name for name, m in backbone.named_modules()}
    found: List[str] = []
    for i, layer in enumerate(encoder_layers(backbone)):
        block = next(
            (getattr(layer, n) for n in ATTENTION_NAMES if isinstance(getattr(layer, n, None), torch.nn.Module)), None
        )
        if block is None:
            raise ValueError(
                f"Layer {i} of {backbone.config.model_type} has no attention block named "
                f"{' or '.join(ATTENTION_NAMES)}: name LoRA's target_modules yourself."
            )
        found += [paths[id(m)] for m in block.modules() if isinstance(m, torch.nn.Linear)]
    return tuple(found)


def lora_targets(backbone: torch.nn.Module, requested: Sequence[str]) -> Tuple[str, ...]:
    """The papers' q/k/v/o (the default) and "mixers" mean the attention projections of every
    layer; any other names are the user's own and pass unchanged."""
    requested = tuple(requested)
    if is_paper_targets(requested):
        return attention_projections(backbone)
    if MIXERS in requested:
        return attention_projections(backbone) + tuple(t for t in requested if t != MIXERS)
    return requested


def usable_positions(backbone: torch.nn.Module) -> Optional[int]:
    """How many positions one input may use: `max_position_embeddings`, less the offset where
    positions start after the pad id (RoBERTa, XLM-RoBERTa, MPNet: padding_idx + 1)."""
    limit = getattr(backbone.config, "max_position_embeddings", None)
    if limit is None:
        return None
    padding_idx = getattr(getattr(backbone, "embeddings", None), "padding_idx", None)
    return int(limit) - (int(padding_idx) + 1 if isinstance(padding_idx, int) else 0)


def special_frame(tokenizer: Any) -> Tuple[List[int], List[int]]:
    """The special ids the tokenizer puts before and after a text ([CLS] / [SEP], <s> / </s>),
    found by encoding one word with and without them."""
    plain = tokenizer("a", add_special_tokens=False)["input_ids"]
    framed = tokenizer("a", add_special_tokens=True)["input_ids"]
    for start in range(len(framed) - len(plain) + 1):
        if framed[start : start + len(plain)] == plain:
            return list(framed[:start]), list(framed[start + len(plain) :])
    raise ValueError(
        "The tokenizer encodes a word differently with its special tokens than without: cannot tell where they go."
    )


def build_encoder(settings: DecoderSettings, config: Any) -> Tuple[RepSLEncoder, Any]:
    """Load an encoder (config read, `settings.name` resolved) and its tokenizer; early exit,
    quantization and LoRA as for decoders. Raises UnsupportedModelError for decoder-only settings."""
    from ..decoder.loading import load_base_model, load_tokenizer

    check_encoder_settings(settings, config)
    model = load_base_model(settings, config)
    if "attention_mask" not in inspect.signature(model.forward).parameters:
        raise UnsupportedModelError(
            f"{type(model).__name__} (model_type {config.model_type!r}) takes no attention mask, so the pads of a batch "
            "would reach every token and a doc's labels would depend on its batch. Use an encoder that takes one "
            "(BERT, RoBERTa, DeBERTa, ELECTRA, MPNet, ModernBERT)."
        )
    encoder_layers(model)  # refuse a layout we cannot cut or adapt before anything else is set up
    if getattr(model, "pooler", None) is not None:
        model.pooler = None  # the [CLS] pooler feeds sentence tasks: never read here, never trained
    targets = lora_targets(model, settings.lora.target_modules) if settings.lora is not None else None
    model = adapt_for_training(model, settings, targets)
    tokenizer = load_tokenizer(settings)
    prefix, suffix = special_frame(tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (config.pad_token_id or 0)
    return RepSLEncoder(model, settings, prefix_ids=prefix, suffix_ids=suffix, pad_token_id=int(pad)), tokenizer
