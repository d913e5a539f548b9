"""The decoder as a token encoder: repetition, per-layer masks and early exit in one module.

Input: token ids per example, without special tokens. Output: one hidden vector per input
token, from the last copy, right-padded to a [batch, max_len, hidden] tensor.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import torch

from .attention import MASKS_KWARG, LayerMasks, attention_plan, install_mask_hooks
from .families import MASKABLE_ATTENTION
from .lora import apply_lora, make_trainables_fp32, trainable_parameters
from .quantization import disable_cpu_weight_packing, quiet_int8_cast_notice
from .read_rows import install_read_rows, worth_pruning
from .repetition import RepeatedSequence, repeat_sequence
from .settings import DecoderSettings
from .stack import attention_module, check_positions, inspect_stack, layer_list, unmasked_layers
from .unmasking import UnmaskSpec


@dataclass
class DecoderOutput:
    """`hidden[b, i]` is input token i of example b (zeros past `lengths[b]`)."""

    hidden: torch.Tensor
    lengths: torch.Tensor


class SequenceTooLongError(ValueError):
    """A repeated example exceeds the model's positions."""


class AdaptedBase(torch.nn.Module):
    """What the tagger needs of any adapted base, decoder or encoder: the (peft-wrapped) model
    in `model`, its bare transformers stack, width, device and trainable parameters."""

    model: torch.nn.Module

    @property
    def backbone(self) -> torch.nn.Module:
        """The transformers stack (inside the peft wrapper, if any)."""
        model = self.model
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        return model

    @property
    def hidden_size(self) -> int:
        return self.backbone.config.hidden_size

    @property
    def device(self) -> torch.device:
        return self.backbone.get_input_embeddings().weight.device

    def trainable_parameters(self) -> List[torch.nn.Parameter]:
        return trainable_parameters(self.model)


class RepSLDecoder(AdaptedBase):
    """A (quantized, LoRA-adapted, early-exited) HF decoder that sees right context."""

    def __init__(
        self,
        model: torch.nn.Module,
        settings: DecoderSettings,
        *,
        bos_token_id: Optional[int],
        pad_token_id: int,
    ):
        super().__init__()
        self.model = model
        self.settings = settings
        self.bos_token_id = bos_token_id
        self.pad_token_id = pad_token_id
        backbone = self.backbone
        config = backbone.config
        self.stack = inspect_stack(backbone)
        self.num_layers: int = self.stack.num_layers
        spec: UnmaskSpec = settings.unmask  # type: ignore[assignment]
        self.unmasked_layers = unmasked_layers(self.stack, spec, settings.exit_layer)
        check_positions(self.stack, settings.positions)
        self.plan = attention_plan(config, self.unmasked_layers, self.stack.attention_layers)
        self.attention = config._attn_implementation
        # A plain causal decoder (no layer unmasked, positions counting on across copies, pads
        # only at the end) is what transformers' own causal + padding mask describes; our
        # per-layer masks and hooks are needed only for unmasking and restarted positions.
        self.uses_layer_masks = self.attention in MASKABLE_ATTENTION and settings.needs_maskable_attention
        layers = layer_list(backbone)
        self._hooks = (
            install_mask_hooks({i: attention_module(layers[i]) for i in self.stack.attention_layers})
            if self.uses_layer_masks
            else []
        )
        self.read_rows, self._read_hooks = install_read_rows(layers)
        self.max_positions: Optional[int] = getattr(config, "max_position_embeddings", None)

    @property
    def prefix_ids(self) -> List[int]:
        """The special ids in front of an input: the BOS the tokenizer adds, if any (as for encoders)."""
        return [self.bos_token_id] if self.bos_token_id is not None else []

    @property
    def suffix_ids(self) -> List[int]:
        """The special ids after an input: none for a decoder."""
        return []

    def repeat(self, ids: Sequence[int]) -> RepeatedSequence:
        return repeat_sequence(
            ids,
            self.settings.copies,
            bos_token_id=self.bos_token_id,
            bos=self.settings.bos,
            positions=self.settings.positions,
        )

    def _too_long(self, length: int, highest: int) -> "SequenceTooLongError":
        fixes = "Shorten the input (max_length) or lower repetitions"
        if self.settings.positions != "restart" and self.settings.copies > 1:
            fixes += ", or use positions='restart' (each copy then needs only its own positions)"
        return SequenceTooLongError(
            f"An input of {length} tokens repeated {self.settings.copies} times needs position {highest}, "
            f"beyond the model's {self.max_positions} positions. {fixes}."
        )

    def check_fits(self, length: int) -> None:
        """Refuse, up front, inputs of `length` pieces (e.g. max_length) the model cannot take."""
        if self.max_positions is not None and length > 0:
            highest = max(self.repeat([0] * length).position_ids)
            if highest >= self.max_positions:
                raise self._too_long(length, highest)

    def batch_inputs(self, sequences: Sequence[Sequence[int]]) -> Tuple[List[RepeatedSequence], dict]:
        """Repeat each example, then right-pad: pads only ever follow the last copy. Positions
        and lengths only for per-layer masks: a plain causal model needs neither (see `_run`)."""
        if len(sequences) == 0:
            raise ValueError("The decoder was given an empty batch; pass at least one sequence.")
        repeated = [self.repeat(ids) for ids in sequences]
        longest = max(len(r) for r in repeated)
        if self.max_positions is not None:
            highest = max(max(r.position_ids) for r in repeated)
            if highest >= self.max_positions:
                raise self._too_long(max(r.length for r in repeated), highest)
        pad = [self.pad_token_id] * longest
        batch = {"input_ids": torch.tensor([r.input_ids + pad[: longest - len(r)] for r in repeated], dtype=torch.long)}
        if self.uses_layer_masks:
            zeros = [0] * longest
            batch["position_ids"] = torch.tensor(
                [r.position_ids + zeros[: longest - len(r)] for r in repeated], dtype=torch.long
            )
            batch["lengths"] = torch.tensor([len(r) for r in repeated])
        return repeated, batch

    def forward(self, sequences: Sequence[Sequence[int]]) -> DecoderOutput:
        repeated, batch = self.batch_inputs(sequences)
        return self.last_copy(self._run(batch), repeated)

    def read(
        self, sequences: Sequence[Sequence[int]], windows: Sequence[int], positions: Sequence[int], prune: bool = True
    ) -> torch.Tensor:
        """The final states at `positions` of the last copies of the sequences `windows`, one row
        per pair: what a tagger reads, without copying out whole last copies. With `prune` the
        last layer's MLP runs only for these rows (see read_rows; in training too, unless the
        layers are checkpointed)."""
        repeated, batch = self.batch_inputs(sequences)
        width = batch["input_ids"].shape[1]
        rows = torch.tensor(
            [w * width + repeated[w].last_copy_start + p for w, p in zip(windows, positions)],
            dtype=torch.long,
            device=self.device,
        )
        skip = prune and worth_pruning(
            len(rows), len(repeated) * width, in_training=not self.settings.gradient_checkpointing
        )
        with self.read_rows.reading(rows if skip else None):
            hidden = self._run(batch)
        return hidden.reshape(-1, hidden.shape[-1]).index_select(0, rows)

    def _run(self, batch: dict) -> torch.Tensor:
        """The last hidden states of a batch from `batch_inputs`: [batch, positions, hidden]."""
        device = self.device
        input_ids = batch["input_ids"].to(device)
        kwargs: dict = {}
        if self.uses_layer_masks:
            lengths = batch["lengths"].to(device)
            masks = LayerMasks(lengths, input_ids.shape[1], self.plan, boolean=self.attention == "sdpa")
            dtype = self.backbone.get_input_embeddings().weight.dtype
            # A 4D mask makes transformers skip building its own; the hooks then set each layer's.
            kwargs["attention_mask"] = masks.model_mask(dtype)
            kwargs[MASKS_KWARG] = masks
            kwargs["position_ids"] = batch["position_ids"].to(device)
        # Else a plain causal decoder with positions 0..T-1 (transformers' default) and pads
        # only after each sequence's last token: no real position ever attends to a pad, so no
        # mask at all. Under SDPA that is the `is_causal` kernel instead of a dense mask, the
        # fastest exact one (flash on CPU and CUDA); what padded positions compute is never read.
        output = self.backbone(input_ids=input_ids, use_cache=False, **kwargs)
        if self.uses_layer_masks and masks.seen != set(self.stack.attention_layers):
            missing = sorted(set(self.stack.attention_layers) - masks.seen)
            raise RuntimeError(
                f"Per-layer attention masks were not applied in layer(s) {missing}: the model's "
                "attention modules were bypassed, so unmasking and padding would be wrong. "
                "Please report this with your transformers version."
            )
        return output.last_hidden_state

    @staticmethod
    def last_copy(hidden: torch.Tensor, repeated: Sequence[RepeatedSequence]) -> DecoderOutput:
        """Gather the last copy's states into [batch, max_len, hidden]; zeros past each length."""
        device = hidden.device
        starts = torch.tensor([r.last_copy_start for r in repeated], device=device)
        lengths = torch.tensor([r.length for r in repeated], device=device)
        offsets = torch.arange(int(lengths.max()), device=device)
        index = (starts[:, None] + offsets[None, :]).clamp(max=hidden.shape[1] - 1)
        gathered = hidden.gather(1, index[:, :, None].expand(-1, -1, hidden.shape[2]))
        valid = (offsets[None, :] < lengths[:, None])[:, :, None]
        return DecoderOutput(hidden=gathered * valid, lengths=lengths)


def special_token_ids(tokenizer: Any) -> Tuple[Optional[int], int]:
    """(BOS id if the tokenizer adds one itself, pad id): what the model was trained to see."""
    bos = getattr(tokenizer, "bos_token_id", None)
    probe = tokenizer("a", add_special_tokens=True)["input_ids"]
    adds_bos = bos is not None and len(probe) > 0 and probe[0] == bos
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0
    return (bos if adds_bos else None), int(pad)


def enable_checkpointing(model: torch.nn.Module) -> None:
    """Non-reentrant checkpointing: it needs no input grads and replays our mask kwargs."""
    if hasattr(model, "activation_checkpointing_enable"):  # transformers >= 5.2x
        model.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    else:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def adapt_for_training(
    model: torch.nn.Module, settings: DecoderSettings, lora_targets: Optional[Tuple[str, ...]] = None
) -> torch.nn.Module:
    """Quantized-training preparation, gradient checkpointing, then LoRA adapters (the only
    trainables) or, for full fine-tuning, every weight trainable in fp32. `lora_targets`: the
    module names the adapters go on, when the caller resolved them (encoders); else the
    settings' (see `lora.target_modules`)."""
    if settings.quantization is not None:
        from peft import prepare_model_for_kbit_training

        disable_cpu_weight_packing(model)
        if settings.quantization == "int8":
            quiet_int8_cast_notice()
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    if settings.gradient_checkpointing:
        enable_checkpointing(model)
    if settings.lora is not None:
        for param in model.parameters():
            param.requires_grad_(False)
        lora = (
            settings.lora if lora_targets is None else dataclasses.replace(settings.lora, target_modules=lora_targets)
        )
        model = apply_lora(model, lora)
    else:
        make_trainables_fp32(model)
    return model


def build_decoder(settings: DecoderSettings, config: Optional[Any] = None) -> Tuple[RepSLDecoder, Any]:
    """Load base model and tokenizer, apply quantization, LoRA, checkpointing and masks.
    `config`: the checkpoint's config when the caller has read it (then `settings.name` is
    already resolved, see `loading.resolve_base`)."""
    from .loading import load_base_model, load_config, load_tokenizer, resolve_base

    if config is None:
        settings = resolve_base(settings)
        config = load_config(settings)
    model = adapt_for_training(load_base_model(settings, config), settings)
    tokenizer = load_tokenizer(settings)
    bos, pad = special_token_ids(tokenizer)
    return RepSLDecoder(model, settings, bos_token_id=bos, pad_token_id=pad), tokenizer
