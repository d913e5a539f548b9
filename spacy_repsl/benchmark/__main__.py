"""python -m spacy_repsl.benchmark: speed and memory of repetition x early exit, honestly.

Each (r, exit layer) cell runs in its own process (so peak memory is its own): training
words/s through `nlp.update`, inference words/s through `nlp.pipe`, the model's parameter
memory and the process's peak RSS. Speed-ups are relative to all layers at r = 0, next to the
ideal speed-up from counted FLOPs for the actual token counts. The raw transformers
token-classification forward on the same weights and batches (r = 0) gives our overhead.
Writes BENCHMARKS.md and BENCHMARKS.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .cells import ABLATIONS, SHAPES, benchmark_model, describe, fast_paths_cell, grid_cell
from .report import fast_path_report, machine, report
from .sections import write_section


def run_cell(cell: Dict[str, Any]) -> Dict[str, Any]:
    """One worker process; its last stdout line is the JSON result."""
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    out = subprocess.run(
        [sys.executable, "-m", "spacy_repsl.benchmark", "--worker", json.dumps(cell)],
        capture_output=True,
        text=True,
        env=env,
    )
    if out.returncode != 0:
        what = "fast paths" if "variants" in cell else f"cell r={cell['repetitions']} L={cell['exit_layer']}"
        raise RuntimeError(f"benchmark {what} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def worker(cell: Dict[str, Any]) -> Dict[str, Any]:
    return fast_paths_cell(cell) if "variants" in cell else grid_cell(cell)


def run_rounds(cells: List[Dict[str, Any]], rounds: int, name: Callable[[Dict[str, Any]], str]) -> List[Dict[str, Any]]:
    """Each cell `rounds` times, round after round (so slow spells of the machine spread over
    cells), keeping each cell's fastest inference round; prints progress."""
    best: List[Dict[str, Any]] = []
    for round_ in range(1, rounds + 1):
        for i, cell in enumerate(cells):
            start = time.perf_counter()
            result = run_cell(cell)
            if len(best) <= i:
                best.append(result)
            elif result["infer_wps"] > best[i]["infer_wps"]:
                best[i] = result
            prefix = f"round {round_}/{rounds}, " if rounds > 1 else ""
            print(
                f"[{prefix}{i + 1}/{len(cells)}] {name(cell)}: {result['infer_wps']:.0f} words/s inference, "
                f"{result['train_wps']:.0f} words/s training ({time.perf_counter() - start:.0f}s)",
                flush=True,
            )
    return best


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model", default="", help="a local decoder directory (default: build a random one of --shape)"
    )
    parser.add_argument(
        "--shape",
        default="mistral-scaled",
        choices=sorted(SHAPES),
        help="the random decoder to build when --model is not given (built once, in .benchmark-model/ "
        "for the default, .benchmark-model-<shape>/ otherwise)",
    )
    parser.add_argument(
        "--gpu-id",
        type=int,
        default=-1,
        help="run on this GPU (as `spacy train --gpu-id`); writes the section 'gpu-grid' of BENCHMARKS.md "
        "and BENCHMARKS.gpu.json, so the CPU table stays",
    )
    parser.add_argument(
        "--compute-dtype",
        default="auto",
        choices=["auto", "float32", "float16", "bfloat16"],
        help="the decoder's compute dtype (auto: fp16 on a GPU, fp32 on the CPU); with LoRA and no "
        "quantization, also the base weights' dtype",
    )
    parser.add_argument("--repetitions", default="0,1,2,4,8")
    parser.add_argument("--exit-layers", default="", help="comma-separated; default N/4, N/2, 3N/4, N")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--train-batch", type=int, default=8)
    parser.add_argument("--train-steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5, help="passes over the docs; each batch keeps its fastest")
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="run the whole grid this many times (a fresh process per cell each time) and keep "
        "each cell's fastest round: on a shared machine whole processes run 10-25%% slower "
        "at times",
    )
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--max-batch-tokens", type=int, default=8192)
    parser.add_argument("--quantization", default=None, choices=[None, "nf4", "int8"])
    parser.add_argument("--no-lora", dest="lora", action="store_false")
    parser.add_argument("--no-merge", dest="merge", action="store_false", help="keep LoRA unmerged for inference")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument(
        "--ablations", action="store_true", help="also measure each fast path switched off (r = 1, all layers)"
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("docs", "batch_size", "repeats", "rounds", "train_batch", "train_steps"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    args.parser = parser
    return args


def main(argv: Optional[Sequence[str]] = None) -> None:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    from transformers import AutoConfig

    model = benchmark_model(args.model, args.shape)
    n_layers = AutoConfig.from_pretrained(model).num_hidden_layers
    exits = [int(x) for x in args.exit_layers.split(",") if x] or sorted(
        {max(1, n_layers * k // 4) for k in (1, 2, 3, 4)}
    )
    reps = [int(x) for x in args.repetitions.split(",") if x]
    bad = [layer for layer in exits if not 1 <= layer <= n_layers] + [r for r in reps if r < 0]
    if bad:
        args.parser.error(f"exit layers must be in 1..{n_layers} and repetitions >= 0 (got {bad})")
    settings = {
        k: getattr(args, k)
        for k in (
            "docs",
            "batch_size",
            "train_batch",
            "train_steps",
            "repeats",
            "rounds",
            "max_length",
            "max_batch_tokens",
            "quantization",
            "lora",
            "merge",
            "gpu_id",
            "compute_dtype",
        )
    }
    pairs = [(r, layer) for layer in sorted(set(exits), reverse=True) for r in sorted(set(reps))]
    if (0, n_layers) not in pairs:  # every speed-up and the raw-forward ratio are relative to it
        print(f"Adding the reference cell r=0 L={n_layers}: speed-ups are relative to it.", flush=True)
        pairs.insert(0, (0, n_layers))
    cells = [
        {
            "model": str(model),
            "repetitions": r,
            "exit_layer": None if layer == n_layers else layer,
            "args": settings,
            "hf_baseline": (r, layer) == (0, n_layers),
            "paired_reference": (r, layer) != (0, n_layers),
            "layers": n_layers,
        }
        for r, layer in pairs
    ]
    results = run_rounds(cells, args.rounds, lambda c: f"r={c['repetitions']} L={c['exit_layer'] or n_layers}")
    fast_paths: List[Dict[str, Any]] = []
    if args.ablations:
        print(f"[fast paths] {len(ABLATIONS)} variants in one process, r=1 L={n_layers}", flush=True)
        fast_paths = run_cell({"model": str(model), "args": settings, "variants": ABLATIONS})["variants"]
        for r in fast_paths:
            print(f"[fast paths] {describe(r['variant'])}: {r['infer_wps']:.0f} words/s inference", flush=True)
    command = "python -m spacy_repsl.benchmark " + " ".join(argv if argv is not None else sys.argv[1:])
    on_gpu = args.gpu_id >= 0
    info = {
        "machine": machine(args.gpu_id),
        "settings": settings,
        "model": str(args.model or f"random {args.shape} {SHAPES[args.shape]}, vocabulary of 2000 pieces"),
    }
    text = report(results, info, command.strip()) + fast_path_report(fast_paths)
    write_section(args.output, "gpu-grid" if on_gpu else "grid", text)
    args.output.with_suffix(".gpu.json" if on_gpu else ".json").write_text(
        json.dumps({"info": info, "cells": results, "fast_paths": fast_paths}, indent=2) + "\n"
    )
    print(text)


if __name__ == "__main__":
    main()
