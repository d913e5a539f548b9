"""What one benchmark process measures: a grid cell (r, exit layer), or the fast paths.

Each runs in its own process (`python -m spacy_repsl.benchmark --worker ...`), so its peak
memory is its own and one cell's allocations do not slow the next.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .flops import Shape, decoder_flops
from .timing import fastest_per_batch, synchronize

DEFAULT_MODEL = dict(
    family="mistral",
    num_layers=32,
    hidden_size=256,
    num_heads=8,
    num_kv_heads=2,
    intermediate_size=896,
    max_positions=32768,
)
# Random models of real shapes (a 2000-piece vocabulary: it changes only the embedding's size) for
# the GPU table of issue 16: Qwen3-0.6B as it is, and Mistral-7B cut to 4 of its 32 layers, whose
# per-layer cost the exit layers give. Positions as the real models have them, so the default grid's
# r = 8 on 256-token docs (2,313 positions with a BOS per copy) fits.
SHAPES: Dict[str, Dict[str, Any]] = {
    "mistral-scaled": DEFAULT_MODEL,
    "qwen3-0.6b": dict(
        family="qwen3",
        num_layers=28,
        hidden_size=1024,
        num_heads=16,
        num_kv_heads=8,
        head_dim=128,
        intermediate_size=3072,
        max_positions=40960,
    ),
    "mistral-7b-4-layers": dict(
        family="mistral",
        num_layers=4,
        hidden_size=4096,
        num_heads=32,
        num_kv_heads=8,
        intermediate_size=14336,
        max_positions=32768,
    ),
}

# Each fast path switched off (or the base changed), against all of them on: r = 1, all layers.
ABLATIONS: List[Dict[str, Any]] = [
    {},
    {"merge": False},
    {"inference_mode": False},
    {"sort_by_length": False},
    {"eval_once": False},
    {"quantization": "nf4", "merge": False},
    {"quantization": "nf4", "merge": False, "compute_dtype": "bfloat16"},
]


def build_default_model(path: Path, shape: str = "mistral-scaled") -> Path:
    """A random decoder of `shape` (by default a scaled-down 32-layer Mistral: GQA 8/2 heads, MLP
    ratio 3.5), built once at `path`, and built again when the folder holds another shape (one
    built by an earlier version, say, with fewer positions)."""
    import json
    import shutil

    from ..decoder.tiny import build_tiny_decoder
    from ..experiments.demo import generate_corpus

    spec = dict(SHAPES[shape])
    marker = path / "benchmark-shape.json"
    wanted = json.dumps(spec, sort_keys=True)
    if (path / "config.json").is_file() and marker.is_file() and marker.read_text() == wanted:
        return path
    if path.exists():
        shutil.rmtree(path)
    family = spec.pop("family")
    build_tiny_decoder(family, path, texts=[t for t, _ in generate_corpus(400, 7)], vocab_size=2000, **spec)
    marker.write_text(wanted)
    return path


def benchmark_model(model: str, shape: str) -> Path:
    """The `--model` directory, or else a random decoder of `shape`, built once (the default
    shape in .benchmark-model/, others in .benchmark-model-<shape>/)."""
    if model:
        return Path(model)
    return build_default_model(
        Path(".benchmark-model" if shape == "mistral-scaled" else f".benchmark-model-{shape}"), shape
    )


def texts_and_gold(n_docs: int, seed: int):
    from ..experiments.demo import generate_corpus

    return generate_corpus(n_docs, seed)


def make_nlp(model: str, repetitions: int, exit_layer: Optional[int], args: Dict[str, Any]):
    import spacy

    nlp = spacy.blank("en")
    lora = {"@misc": "spacy-repsl.lora.v1"} if args["lora"] else None
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v1",
                "name": model,
                "repetitions": repetitions,
                "exit_layer": exit_layer,
                "quantization": args["quantization"],
                "lora": lora,
                "compute_dtype": args.get("compute_dtype", "auto"),
                "max_length": args["max_length"],
                "max_batch_tokens": args["max_batch_tokens"],
            }
        },
    )
    return nlp


def describe(variant: Dict[str, Any]) -> str:
    if not variant:
        return (
            "all fast paths (LoRA merged, inference_mode, length-sorted batches, eval mode set once, "
            "last layer's MLP on read rows only), fp32"
        )
    return ", ".join(f"{k}={v}" for k, v in variant.items())


def param_bytes(module) -> int:
    return sum(t.numel() * t.element_size() for t in list(module.parameters()) + list(module.buffers()))


def use_device(args: Dict[str, Any]) -> str:
    """Put this process on the benchmark's device: `gpu_id` >= 0 is what `spacy train --gpu-id`
    does (thinc's ops on that GPU, so the decoder loads there); returns the torch device."""
    gpu = args.get("gpu_id", -1)
    if gpu is None or gpu < 0:
        return "cpu"
    import spacy
    import torch

    spacy.require_gpu(gpu)
    torch.cuda.reset_peak_memory_stats(gpu)
    return f"cuda:{gpu}"


def pipe_runner(nlp, batches: Sequence[Sequence[str]], switches: Dict[str, bool]) -> Callable[[int], None]:
    """Runs `nlp.pipe` over batch j, as `nlp.pipe(texts, batch_size)` would meet it."""
    from ..models.fast_paths import FAST_PATHS

    def run(j: int) -> None:
        FAST_PATHS.update(switches)
        for _ in nlp.pipe(batches[j], batch_size=len(batches[j])):
            pass
        synchronize()

    return run


def initialized(model: str, repetitions: int, exit_layer: Optional[int], args: Dict[str, Any]):
    """A pipeline with its tagger initialized on the benchmark's labels, and the examples."""
    import torch
    from spacy.training import Example

    torch.manual_seed(0)
    data = texts_and_gold(args["docs"], 0)
    nlp = make_nlp(model, repetitions, exit_layer, args)
    examples = [Example.from_dict(nlp.make_doc(t), {"entities": e}) for t, e in data]
    optimizer = nlp.initialize(lambda: examples[:64])
    return nlp, examples, optimizer


def for_inference(model: str, repetitions: int, exit_layer: Optional[int], args: Dict[str, Any]):
    """An initialized pipeline with its adapters merged when `args["merge"]`; untrained, as
    adapter values do not change the speed."""
    nlp, examples, _ = initialized(model, repetitions, exit_layer, args)
    if args["merge"]:
        nlp.get_pipe("repsl_tagger").merge_adapters()
    return nlp, examples


def batches_of(examples, size: int) -> List[List[str]]:
    texts = [eg.reference.text for eg in examples]
    return [texts[j : j + size] for j in range(0, len(texts), size)]


def grid_cell(cell: Dict[str, Any]) -> Dict[str, Any]:
    """Train (warm-up + timed steps), merge, then time inference, taking turns batch by batch
    with the raw forward (the reference cell) or the reference pipeline (r = 0, all layers;
    every other cell), so that ratios are not at the mercy of the machine's slow spells."""
    import resource
    import time

    import torch

    from ..decoder.repetition import repeat_sequence
    from .baseline import HFBaseline

    args = cell["args"]
    device = use_device(args)
    nlp, examples, optimizer = initialized(cell["model"], cell["repetitions"], cell["exit_layer"], args)
    words = sum(len(eg.predicted) for eg in examples)
    tagger = nlp.get_pipe("repsl_tagger")
    runtime = tagger.model.attrs["runtime"]
    decoder = runtime.module.decoder

    train_batch = args["train_batch"]
    steps = examples[: train_batch * args["train_steps"]]
    nlp.update(steps[:train_batch], sgd=optimizer)  # warm-up
    start = time.perf_counter()
    for i in range(0, len(steps), train_batch):
        nlp.update(steps[i : i + train_batch], sgd=optimizer)
    synchronize()
    train_wps = sum(len(eg.predicted) for eg in steps) / (time.perf_counter() - start)
    peak_gpu: Dict[str, Optional[int]] = {"train": None, "infer": None}
    if device != "cpu":
        peak_gpu["train"] = torch.cuda.max_memory_allocated(device)
        torch.cuda.reset_peak_memory_stats(device)

    merged = tagger.merge_adapters() if args["merge"] else 0
    batches = batches_of(examples, args["batch_size"])
    ours = pipe_runner(nlp, batches, {})
    for j in range(len(batches)):  # warm-up, and the peak memory of this cell's own pipeline
        ours(j)
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if device != "cpu":
        peak_gpu["infer"] = torch.cuda.max_memory_allocated(device)
    runners = {"infer": ours}
    if cell.get("hf_baseline"):
        runners["hf"] = HFBaseline(
            cell["model"],
            batches,
            runtime.tokenizer,
            len(tagger.tag_names),
            device=device,
            dtype=decoder.backbone.get_input_embeddings().weight.dtype,
        )
    if cell.get("paired_reference"):  # speed-ups from turns taken in one process, not across processes
        reference, _ = for_inference(cell["model"], 0, None, args)
        runners["reference"] = pipe_runner(reference, batches, {})
        runners["reference"](0)
    seconds = dict(zip(runners, fastest_per_batch(list(runners.values()), len(batches), args["repeats"])))

    pieces = [runtime.tokenizer(eg.reference.text, add_special_tokens=False)["input_ids"] for eg in examples]
    lengths = [len(repeat_sequence(p, cell["repetitions"] + 1, bos_token_id=decoder.bos_token_id)) for p in pieces]
    config = decoder.backbone.config
    result = {
        "repetitions": cell["repetitions"],
        "exit_layer": cell["exit_layer"] or config.num_hidden_layers,
        "layers": cell["layers"],
        "infer_wps": words / seconds["infer"],
        "train_wps": train_wps,
        "merged_adapters": merged,
        "flops": decoder_flops(Shape.from_config(config), lengths, config.num_hidden_layers),
        "model_bytes": param_bytes(decoder.model),
        "embedding_bytes": param_bytes(decoder.backbone.get_input_embeddings()),
        "peak_rss_bytes": peak_rss,
        "peak_gpu_train_bytes": peak_gpu["train"],
        "peak_gpu_infer_bytes": peak_gpu["infer"],
        "words": words,
    }
    for name in ("hf", "reference"):
        if name in seconds:
            result[f"{name}_wps"] = words / seconds[name]
    return result


def fast_paths_cell(cell: Dict[str, Any]) -> Dict[str, Any]:
    """Every variant in this one process, taking turns batch by batch (r = 1, all layers)."""
    from ..models.fast_paths import FAST_PATHS

    variants = cell["variants"]
    use_device(cell["args"])
    runners = []
    for variant in variants:
        args = dict(cell["args"], **variant)
        nlp, examples = for_inference(cell["model"], 1, None, args)
        batches = batches_of(examples, args["batch_size"])  # the same docs and batches for every variant
        runners.append(pipe_runner(nlp, batches, {s: bool(args.get(s, True)) for s in FAST_PATHS}))
        runners[-1](0)  # warm-up
    words = sum(len(eg.predicted) for eg in examples)
    seconds = fastest_per_batch(runners, len(batches), cell["args"]["repeats"])
    FAST_PATHS.update({s: True for s in FAST_PATHS})
    return {"variants": [{"variant": v, "infer_wps": words / s} for v, s in zip(variants, seconds)]}
