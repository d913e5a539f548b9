"""`spacy-repsl.DecoderTagger.v1`/`.v2`: docs -> per-token tag logits, through the decoder core
(`Decoder.v1`/`.v2`: per-token vectors for listeners). v2 differs from v1 in one default only
(`window_context`, see `_context_v2`).

The thinc model is built from the config without touching torch or the hub; the base model
loads when the model is initialized (`nlp.initialize`) or when a trained pipeline is read from
disk, once the number of tags is known. The torch module lives in a `TaggerShim` (a thinc
`PyTorchShim`), so spaCy's optimizer updates its trainable parameters (LoRA adapters or all
weights, and the head) in `finish_update`.
"""

import dataclasses
import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from ..decoder.lora import PAPER_TARGETS, LoraSettings
from ..decoder.settings import DecoderSettings
from ..tokenization.pieces import POOLING_MODES, build_batch, tokenize_docs
from ..tokenization.windows import default_context_v2, plan_windows
from .fast_paths import FAST_PATHS, RECOMPUTE_SUB_BATCHES

InT = List[Doc]
OutT = List[Floats2d]


# The builders' default LoRA block, as a config promise rather than a LoraSettings object, so that a
# config filled from the signature (a component added with another architecture than the
# factory's default) still serializes; `_decoder_model` resolves it when a builder is called directly.
DEFAULT_LORA: Dict[str, Any] = {"@misc": "spacy-repsl.lora.v1"}


@registry.misc("spacy-repsl.lora.v1")
def lora_v1(
    r: int = 16,
    alpha: int = 16,
    dropout: float = 0.1,
    target_modules: List[str] = list(PAPER_TARGETS),
) -> LoraSettings:
    """LoRA adapter settings (the SR paper's by default); set `lora = null` for full fine-tuning.

    Args:
        r: the adapters' rank. Applies to every method.
        alpha: LoRA's scaling numerator (the update is scaled by alpha / r).
        dropout: dropout on the adapters' input, in [0, 1).
        target_modules: the linear layers that get adapters, by name (the paper's: q/k/v/o
            projections). A name the model lacks is refused with the model's linear layers.

    Returns:
        LoraSettings: read by the architectures' `lora` setting.
    """
    return LoraSettings(r=r, alpha=alpha, dropout=dropout, target_modules=tuple(target_modules))


@registry.architectures("spacy-repsl.DecoderTagger.v1")
def build_decoder_tagger_v1(
    name: str,
    revision: Optional[str] = None,
    repetitions: int = 1,
    unmask: str = "none",
    exit_layer: Optional[int] = None,
    quantization: Optional[str] = "nf4",
    compute_dtype: str = "auto",
    lora: Optional[LoraSettings] = DEFAULT_LORA,  # type: ignore[assignment]
    pooling: str = "first",
    max_length: int = 256,
    window_context: Optional[int] = None,
    head_dropout: float = 0.1,
    gradient_checkpointing: bool = False,
    attn_implementation: str = "sdpa",
    bos: str = "once",
    positions: str = "continuous",
    max_batch_tokens: Optional[int] = None,
    local_files_only: bool = False,
    isolate_docs: bool = False,
    nO: Optional[int] = None,
) -> Model[InT, OutT]:
    # docstring: _TAGGER_DOC below (the settings' entries are shared with build_decoder_v1)
    return _decoder_model("repsl_decoder_tagger", **locals(), head=True)  # every setting, as given


@registry.architectures("spacy-repsl.Decoder.v1")
def build_decoder_v1(
    name: str,
    revision: Optional[str] = None,
    repetitions: int = 1,
    unmask: str = "none",
    exit_layer: Optional[int] = None,
    quantization: Optional[str] = "nf4",
    compute_dtype: str = "auto",
    lora: Optional[LoraSettings] = DEFAULT_LORA,  # type: ignore[assignment]
    pooling: str = "first",
    max_length: int = 256,
    window_context: Optional[int] = None,
    gradient_checkpointing: bool = False,
    attn_implementation: str = "sdpa",
    bos: str = "once",
    positions: str = "continuous",
    max_batch_tokens: Optional[int] = None,
    local_files_only: bool = False,
    isolate_docs: bool = False,
) -> Model[InT, OutT]:
    # docstring: _DECODER_DOC below
    return _decoder_model("repsl_decoder", **locals(), head_dropout=0.0, nO=None, head=False)  # every setting, as given


# One text for the settings both builders share (the settings reference is generated from these).
_SETTINGS_ARGS = """        name: the base: a hub id, a local checkpoint directory or a `.gguf` file (converted once into a
            cache). An encoder checkpoint (BERT ... ModernBERT) also works, as the papers' baseline:
            repetitions, unmask and positions then must stay at 0 / "none" / "continuous".
        revision: a branch, tag or commit of a hub id; None: the default branch.
        repetitions: r, sequence repetition: the input is fed r + 1 times and labelled from the last
            copy (r = 0: the plain causal decoder). Each copy costs a pass's length again.
        unmask: causal-mask removal: "none", "full" (every attention layer), "middle" (the SR paper's
            band), `"groups:0011"` (m equal layer groups as bits, the first the bottom group) or
            `"layers:10,11"` (0-based). Counted over the layers that run (after `exit_layer`).
        exit_layer: early exit: load, tune and run layers [0, L) only, with the final norm applied;
            None runs them all. Works with every method.
        quantization: the frozen base's weights: "nf4" (4-bit, QLoRA as the papers), "int8" or None
            (the compute dtype). On a CPU, None is far faster.
        compute_dtype: "auto" (float16 on CUDA, float32 on a CPU), "float32", "float16" or "bfloat16".
            Trainable weights are always float32.
        lora: a `spacy-repsl.lora.v1` block (r 16, alpha 16, dropout 0.1 on q/k/v/o), or null for full
            fine-tuning (unquantized bases only).
        pooling: how a spaCy token reads its subword pieces: "first" (the papers') or "mean".
        max_length: subword pieces per window; a longer doc is labelled in overlapping windows.
        window_context: pieces of context on either side of a window's labelled core. null:
            `max_length // 4` in v1, `max_length // 16` in v2 (a long doc then costs about 1.1x its
            sentences, against 1.9x; BENCHMARKS.md "long documents").
"""
_MORE_SETTINGS_ARGS = """        gradient_checkpointing: recompute activations in backprop (less memory, same gradients).
        attn_implementation: "sdpa", "eager", "flash_attention_2/3" or "flex_attention"; flash and
            flex take no custom masks, so they are refused with unmasking or restarted positions.
        bos: with repetition, where the BOS token goes: "once" (before the first copy) or "every"
            (before each copy, as the reference code does for Gemma and Mistral).
        positions: with repetition, "continuous" (0..len-1 over all copies, as the papers) or
            "restart" (each copy numbered as if alone).
        max_batch_tokens: padded pieces per decoder pass; null picks by device (512 for prediction on
            a CPU, 8192 on a GPU and for training).
        local_files_only: never contact the model hub (also set by HF_HUB_OFFLINE=1).
        isolate_docs: run every doc in a pass of its own, so its probabilities are bit-identical
            whatever its batch (slower; by default they agree to float rounding).
"""
_TAGGER_DOC = """A decoder LM as a token tagger: docs -> per-token tag logits (the model of `repsl_tagger`).

    Args:
{settings}        head_dropout: dropout before the tag head, in [0, 1). (DecoderTagger only.)
{more_settings}        nO: the number of tags (2 x labels + 1), set from the labels at initialization.

    Returns:
        Model: `List[Doc] -> List[Floats2d]`, per doc a `(len(doc), nO)` array of logits.

    Raises:
        ValueError: a setting out of its range, or a combination the model cannot run (the message
            names the fix); at initialization, a base that cannot be loaded.
    """
_DECODER_DOC = """Docs -> one vector per spaCy token (width: the decoder's hidden size, float32), read from
    the copy and layer the method reads, exactly as `spacy-repsl.DecoderTagger.v1` reads them
    before its head: the model of `repsl_decoder`, which `spacy-repsl.DecoderListener.v1` layers
    in other components listen to.

    Args:
{settings}{more_settings}
    Returns:
        Model: `List[Doc] -> List[Floats2d]`, per doc a `(len(doc), hidden size)` array.

    Raises:
        ValueError: as `spacy-repsl.DecoderTagger.v1`.
    """
build_decoder_tagger_v1.__doc__ = _TAGGER_DOC.format(settings=_SETTINGS_ARGS, more_settings=_MORE_SETTINGS_ARGS)
build_decoder_v1.__doc__ = _DECODER_DOC.format(settings=_SETTINGS_ARGS, more_settings=_MORE_SETTINGS_ARGS)


def _context_v2(build_v1: Callable[..., Model[InT, OutT]], name: str) -> Callable[..., Model[InT, OutT]]:
    """`build_v1` with `window_context = null` read as `max_length // 16` (v1: `max_length // 4`);
    every other setting, its default and its meaning unchanged. Why: with a quarter of the window
    as context on both sides, a long document cost 1.7-1.9x the same text as sentences on
    SmolLM2-135M; with a sixteenth, 1.1x (BENCHMARKS.md, "long documents")."""
    signature = inspect.signature(build_v1)

    @functools.wraps(build_v1)
    def build_v2(*args: Any, **kwargs: Any) -> Model[InT, OutT]:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        if bound.arguments["window_context"] is None:
            max_length = bound.arguments["max_length"]
            if isinstance(max_length, int) and not isinstance(max_length, bool):
                bound.arguments["window_context"] = default_context_v2(max_length)
        return build_v1(*bound.args, **bound.kwargs)

    build_v2.__name__ = build_v2.__qualname__ = name
    # v2's docstring is v1's: its `window_context` entry already says both defaults.
    build_v2.__doc__ = "(v2: `window_context = null` is `max_length // 16`.) " + (build_v1.__doc__ or "").lstrip()
    return build_v2


build_decoder_tagger_v2 = registry.architectures("spacy-repsl.DecoderTagger.v2")(
    _context_v2(build_decoder_tagger_v1, "build_decoder_tagger_v2")
)
build_decoder_v2 = registry.architectures("spacy-repsl.Decoder.v2")(_context_v2(build_decoder_v1, "build_decoder_v2"))


def _decoder_model(
    model_name: str,
    *,
    name: str,
    revision: Optional[str],
    repetitions: int,
    unmask: str,
    exit_layer: Optional[int],
    quantization: Optional[str],
    compute_dtype: str,
    lora: Optional[LoraSettings],
    pooling: str,
    max_length: int,
    window_context: Optional[int],
    head_dropout: float,
    gradient_checkpointing: bool,
    attn_implementation: str,
    bos: str,
    positions: str,
    max_batch_tokens: Optional[int],
    local_files_only: bool,
    isolate_docs: bool,
    nO: Optional[int],
    head: bool,
) -> Model[InT, OutT]:
    if isinstance(lora, dict):  # DEFAULT_LORA (or another block) passed outside a config
        lora = registry.resolve({"lora": lora})["lora"]
    settings = DecoderSettings(
        name=name,
        revision=revision,
        local_files_only=local_files_only,
        repetitions=repetitions,
        unmask=unmask,
        exit_layer=exit_layer,
        quantization=quantization,
        compute_dtype=compute_dtype,
        lora=lora,
        gradient_checkpointing=gradient_checkpointing,
        attn_implementation=attn_implementation,
        bos=bos,
        positions=positions,
    )
    for key, value in (
        ("max_length", max_length),
        ("max_batch_tokens", max_batch_tokens),
        ("window_context", window_context),
        ("repetitions", repetitions),
    ):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(
                f"{key} must be a whole number, got {value!r} ({type(value).__name__}): write "
                f"{key} = {str(value).strip(chr(34))} in the config, without quotes."
            )
    if pooling not in POOLING_MODES:
        raise ValueError(f"Unknown pooling {pooling!r}: use 'first' (the papers') or 'mean'.")
    plan_windows(0, max_length, window_context)  # validates max_length and the context
    if not 0.0 <= head_dropout < 1.0:
        raise ValueError(f"head_dropout must be in [0, 1), got {head_dropout!r}.")
    if max_batch_tokens is not None and max_batch_tokens < max_length:
        raise ValueError(f"max_batch_tokens ({max_batch_tokens}) must be at least max_length ({max_length}).")
    return Model(
        model_name,
        forward,
        init=init,
        dims={"nO": nO},
        attrs={
            "settings": settings,
            "pooling": pooling,
            "max_length": max_length,
            "window_context": window_context,
            "head_dropout": head_dropout,
            "max_batch_tokens": max_batch_tokens,
            "isolate_docs": isolate_docs,
            "head": head,  # False: token vectors for listeners (`spacy-repsl.Decoder.v1`)
            "runtime": None,
        },
    )


@dataclasses.dataclass
class TaggerRuntime:
    """What exists once the base model is loaded: the tokenizer and the torch module."""

    tokenizer: Any
    module: Any
    placeholder_id: int
    base_path: Optional[Path] = None
    merged: bool = False  # merge_adapters(): folded for good, no longer trainable
    folded: bool = False  # LoRA folded into the base weights for prediction, unfolded to train
    unwrapped: list = dataclasses.field(default_factory=list)  # the LoRA wrappers set aside while folded
    revision: Optional[str] = None  # the revision loaded (the config's, or a saved pipeline's pin)
    base_fingerprint: Optional[dict] = None  # computed once, when first saved or checked


def init(model: Model, X: Optional[InT] = None, Y: Optional[Any] = None) -> None:
    if model.attrs["runtime"] is None:
        load_runtime(model)


def thinc_device() -> str:
    """The torch device matching thinc's current ops: CUDA under `spacy train --gpu-id`."""
    from thinc.api import get_current_ops
    from thinc.backends import CupyOps

    if isinstance(get_current_ops(), CupyOps):
        import torch

        return f"cuda:{torch.cuda.current_device()}"
    return "cpu"


def load_runtime(model: Model, base_path: Optional[Path] = None, revision: Optional[str] = None) -> TaggerRuntime:
    """Load the base decoder (from `base_path` when a bundled copy exists, else at `revision`
    when given: a saved pipeline's pinned commit), add the head."""
    from .base import build_base
    from .processes import make_forks_safe
    from .shim import TaggerShim
    from .torch_tagger import TaggerModule

    if model.attrs["runtime"] is not None:
        return model.attrs["runtime"]
    make_forks_safe()
    head = model.attrs.get("head", True)
    n_tags = model.get_dim("nO") if model.has_dim("nO") else None
    if head and not n_tags:
        raise ValueError(
            "The tagger's number of tags is not known yet: add labels (initialize from examples, "
            "or pass a labels file) before initializing the model."
        )
    settings: DecoderSettings = model.attrs["settings"]
    overrides: dict = {"device": thinc_device()}
    if base_path is not None:
        overrides.update(name=str(base_path), revision=None, local_files_only=True)
    elif revision:
        overrides.update(revision=revision)
    decoder, tokenizer = build_base(dataclasses.replace(settings, **overrides))
    decoder.check_fits(model.attrs["max_length"])  # at initialize, not when the first long doc arrives
    module = TaggerModule(
        decoder, n_tags if head else None, dropout=model.attrs["head_dropout"], pooling=model.attrs["pooling"]
    )
    if not head:
        model.set_dim("nO", module.n_tags, force=True)
    placeholder = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else decoder.pad_token_id
    runtime = TaggerRuntime(
        tokenizer=tokenizer,
        module=module,
        placeholder_id=int(placeholder),
        base_path=base_path,
        revision=None if base_path is not None else overrides.get("revision", settings.revision),
    )
    model.attrs["runtime"] = runtime
    model.shims.append(
        TaggerShim(module, device=decoder.device, before_step=functools.partial(set_folded, runtime, False))
    )
    return runtime


def can_fold(runtime: TaggerRuntime) -> bool:
    """Fold LoRA for prediction only where folding and unfolding are exact to float rounding and
    do not drift: an fp32, unquantized base. A 4-bit base would be re-quantized (lossy), and a
    16-bit one rounds at every fold and unfold, so its frozen weights would drift over the
    evaluations of a training run; those keep the adapters separate."""
    import torch

    decoder = runtime.module.decoder
    if runtime.merged or decoder.settings.quantization is not None or not hasattr(decoder.model, "merge_adapter"):
        return False
    return decoder.backbone.get_input_embeddings().weight.dtype == torch.float32


def set_folded(runtime: TaggerRuntime, folded: bool) -> None:
    """Fold the adapters into the base weights (prediction) or take them out again (training,
    saving, loading); peft's reversible merge, so the adapters themselves never change. While
    folded, the LoRA parameters are out of the module tree: anything that reads or writes them
    unfolds first."""
    from ..decoder.lora import fold_adapters, unfold_adapters

    if folded == runtime.folded:
        return
    model = runtime.module.decoder.model
    if folded:
        runtime.unwrapped = fold_adapters(model)
    else:
        unfold_adapters(model, runtime.unwrapped)
        runtime.unwrapped = []
    runtime.folded = folded
    runtime.module.forget_trainables()


def merge_adapters(model: Model) -> int:
    """Fold LoRA adapters into the base weights for faster inference; returns how many.

    Afterwards the model predicts the same (up to rounding; with a 4-bit base the merged
    weights are re-quantized) but can no longer be trained or saved as adapters.
    """
    runtime = get_runtime(model)
    decoder = runtime.module.decoder
    if not hasattr(decoder.model, "merge_and_unload"):
        return 0
    set_folded(runtime, False)
    count = sum(1 for name, _ in decoder.model.named_modules() if name.endswith("lora_A"))
    decoder.model = decoder.model.merge_and_unload()
    runtime.module.forget_trainables()
    runtime.merged = True
    return count


def get_runtime(model: Model) -> TaggerRuntime:
    if "settings" not in model.attrs:
        raise ValueError(
            "This model reads a shared repsl_decoder through a listener (spacy-repsl.ListenerTagger.v1): the "
            "decoder, its adapters and its base belong to the repsl_decoder component; use that one."
        )
    runtime = model.attrs["runtime"]
    if runtime is None:
        raise ValueError(
            "The repsl_tagger model is not initialized: call nlp.initialize() before training, "
            "or load a trained pipeline with spacy.load()."
        )
    return runtime


def sub_batches(sizes: Sequence[int], max_length: int, max_tokens: int) -> List[List[int]]:
    """Doc indices grouped by length, each group padding to at most `max_tokens` pieces.

    Sorting by length keeps padding low; a doc's outputs do not depend on its group. Docs of
    `max_length` pieces or more (every window of theirs full width) share one group, however many:
    the forward runs its windows `max_tokens // max_length` at a time, so the windows of several
    long docs fill each other's passes, and none is padded.
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i]) if FAST_PATHS["sort_by_length"] else range(len(sizes))
    groups: List[List[int]] = []
    current: List[int] = []
    windows, widest = 0, 1
    for i in order:
        width = min(max(widest, sizes[i], 1), max_length)
        n_windows = max(1, -(-sizes[i] // max_length))
        full_width = width == widest == max_length  # the group and this doc: windows of max_length
        if current and (windows + n_windows) * width > max_tokens and not full_width:
            groups.append(current)
            current, windows, widest = [], 0, 1
            width = min(max(sizes[i], 1), max_length)
        current.append(i)
        windows += n_windows
        widest = width
    if current:
        groups.append(current)
    return groups


def padding_groups(sizes: Sequence[int], max_length: int, max_tokens: int, pass_cost: float) -> List[List[int]]:
    """Doc indices sorted by length and cut where padding would cost more than another pass.

    A training batch of 8 random CoNLL-2003 sentences padded to its longest is 43% real pieces:
    the rest is compute on padding. Each group of the sorted order pads only to its own widest;
    the partition minimises the sum over groups of `pass_cost + windows x widest` (padded
    pieces; `pass_cost` is one pass's fixed cost in pieces), each group within `max_tokens`
    (dynamic programming over the sorted order, O(n^2) at worst). A doc's outputs and gradients
    do not depend on its group (padding is masked), so this changes only the time.
    """
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    windows = [max(1, -(-sizes[i] // max_length)) for i in order]
    widths = [min(max(sizes[i], 1), max_length) for i in order]
    best, cut = [0.0] + [float("inf")] * len(order), [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        count = 0
        for start in range(end - 1, -1, -1):  # the group order[start:end]; its widest is the last
            count += windows[start]
            padded = count * widths[end - 1]
            if padded > max_tokens and start < end - 1:
                break
            if best[start] + pass_cost + padded < best[end]:
                best[end], cut[end] = best[start] + pass_cost + padded, start
    groups: List[List[int]] = []
    end = len(order)
    while end > 0:
        groups.append(order[cut[end] : end])
        end = cut[end]
    return groups[::-1]


# One training pass's fixed cost on the CPU (forward and backward through the layers, the head
# and the loss's read-out, whatever the length) in rows of the decoder's input, from the profile
# of SmolLM2-135M at r = 1 (BENCHMARKS.md, "Training step": fits of 11 and 17 pieces, i.e. 22 and
# 34 rows of two copies, in two runs). A cut costs this much; a piece of padding costs one row per
# copy. On a GPU a pass costs far more and padding little: batches are not cut there.
TRAIN_PASS_ROWS = 28


def train_pass_cost(runtime: "TaggerRuntime") -> Optional[float]:
    """The fixed cost of a pass in pieces of one copy for `padding_groups`, or None where batches
    are not cut (not on the CPU)."""
    decoder = runtime.module.decoder
    if decoder.device.type != "cpu":
        return None
    return TRAIN_PASS_ROWS / max(1, getattr(decoder.settings, "copies", 1))


# Padded subwords per forward pass when `max_batch_tokens` is not set. Measured on the CPU
# (BENCHMARKS.md, "Defaults"): small passes are up to 2x faster in prediction (they stay in
# cache); on a GPU large ones fill the device. Training keeps the large budget on either (a
# smaller one would split batches into passes that are recomputed in backprop).
AUTO_BUDGET = {"cpu": 512, "cuda": 8192, "train": 8192}


def token_budget(model: Model, is_train: bool) -> int:
    """The padded subwords one forward pass may take: the setting, or the device's default."""
    if model.attrs["max_batch_tokens"] is not None:
        return model.attrs["max_batch_tokens"]
    device = get_runtime(model).module.decoder.device.type
    budget = AUTO_BUDGET["train"] if is_train else AUTO_BUDGET.get(device, AUTO_BUDGET["cuda"])
    return max(budget, model.attrs["max_length"])


def windows_per_pass(batch: Any, max_tokens: int) -> int:
    """How many of the batch's (padded) windows fit in `max_tokens` pieces; at least one."""
    width = max((len(s) for s in batch.sequences), default=1)
    return max(1, max_tokens // max(1, width))


def forward(model: Model[InT, OutT], docs: InT, is_train: bool) -> Tuple[OutT, Callable]:
    import torch
    from thinc.api import ArgsKwargs, torch2xp, xp2torch

    runtime = get_runtime(model)
    shim = model.shims[0]
    ops = model.ops
    n_tags = model.get_dim("nO")
    pieces = tokenize_docs(runtime.tokenizer, docs, runtime.placeholder_id)
    outputs: List[Any] = [None] * len(docs)
    callbacks = []
    budget = token_budget(model, is_train)
    sizes = [len(p.ids) for p in pieces]
    if model.attrs["isolate_docs"] and not is_train:  # bit-identical whatever the batch, but slower
        groups = [[i] for i in range(len(docs))]
    elif is_train and FAST_PATHS["train_groups"] and (pass_cost := train_pass_cost(runtime)) is not None:
        groups = padding_groups(sizes, model.attrs["max_length"], budget, pass_cost)
    else:
        groups = sub_batches(sizes, model.attrs["max_length"], budget)
    batches = [
        build_batch(
            [pieces[i] for i in group], model.attrs["max_length"], model.attrs["window_context"], model.attrs["pooling"]
        )
        for group in groups
    ]
    # A batch beyond the budget runs its windows in several passes; in training, each pass then
    # keeps only its logits and recomputes its activations in backprop, so memory stays bounded.
    budgets = [windows_per_pass(b, budget) for b in batches]
    padded = sum(len(b.sequences) * max((len(s) for s in b.sequences), default=0) for b in batches)
    runtime.module.recompute = is_train and padded > budget and RECOMPUTE_SUB_BATCHES["enabled"]
    if runtime.folded or (FAST_PATHS["fold_adapters"] and can_fold(runtime)):
        set_folded(runtime, not is_train and FAST_PATHS["fold_adapters"])
    for group, batch, max_windows in zip(groups, batches, budgets):
        if batch.n_tokens == 0:
            for i in group:
                outputs[i] = ops.alloc2f(0, n_tags)
            continue
        if is_train or not FAST_PATHS["inference_mode"]:
            logits, backprop_torch = shim(ArgsKwargs(args=(batch,), kwargs={"max_windows": max_windows}), is_train)
        else:
            with torch.inference_mode():  # no autograd bookkeeping at all in prediction
                logits, backprop_torch = shim(ArgsKwargs(args=(batch,), kwargs={"max_windows": max_windows}), is_train)
        array = torch2xp(logits, ops=ops)
        start = 0
        for i, length in zip(group, batch.doc_lengths):
            outputs[i] = array[start : start + length]
            start += length
        callbacks.append((group, logits, backprop_torch))

    def backprop(d_outputs: OutT) -> InT:
        for group, logits, backprop_torch in callbacks:
            d_group = ops.xp.concatenate([d_outputs[i] for i in group])
            d_logits = xp2torch(d_group, device=logits.device)
            backprop_torch(ArgsKwargs(args=(logits,), kwargs={"grad_tensors": (d_logits,)}))
        return []

    return outputs, backprop
