"""BENCHMARKS.md: the grid table, the targets, the fast paths."""

from __future__ import annotations

import json
import os
import platform
from typing import Any, Dict, List, Optional

from .cells import describe


def machine(gpu_id: Optional[int] = None) -> Dict[str, Any]:
    """Where the benchmark ran; `device` is GPU `gpu_id`'s name, "CPU" for a negative id, and
    for None the first GPU's name where there is one."""
    import peft
    import spacy
    import torch
    import transformers

    if gpu_id is None:
        gpu_id = 0 if torch.cuda.is_available() else -1
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name(gpu_id) if gpu_id >= 0 else "CPU",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "peft": peft.__version__,
        "spacy": spacy.__version__,
    }


def fast_path_report(results: List[Dict[str, Any]]) -> str:
    if not results:
        return ""
    base = results[0]["infer_wps"]
    lines = [
        "",
        "## Fast paths, each switched off (r = 1, all layers, inference)",
        "",
        "All variants in one process, taking turns batch by batch (each batch's fastest of the passes),",
        "so they are compared under the same machine conditions.",
        "",
        "| variant | words/s | relative to all fast paths |",
        "|---|---|---|",
    ]
    lines += [f"| {describe(r['variant'])} | {r['infer_wps']:.0f} | {r['infer_wps'] / base:.2f} |" for r in results]
    return "\n".join(lines) + "\n"


def report(results: List[Dict[str, Any]], info: Dict[str, Any], command: str) -> str:
    base = next(r for r in results if r["repetitions"] == 0 and r["exit_layer"] == r["layers"])
    full = base["model_bytes"]
    gpu = any(r.get("peak_gpu_infer_bytes") is not None for r in results)
    lines = [
        "# Benchmarks on the GPU" if gpu else "# Benchmarks",
        "",
        f"Measured with `{command}`.",
        "",
        f"Machine: {info['machine']['device']}, {info['machine']['processor']}, {info['machine']['cpus']} CPUs "
        f"({info['machine']['torch_threads']} torch threads), {info['machine']['platform']}; Python "
        f"{info['machine']['python']}, torch {info['machine']['torch']}, transformers {info['machine']['transformers']}, "
        f"peft {info['machine']['peft']}, spaCy {info['machine']['spacy']}.",
        "",
        f"Model: {info['model']}. Settings: {json.dumps(info['settings'])}.",
        "",
        "Speed-up is inference words/s relative to all layers at r = 0 (the papers' Table 2 form); ideal is",
        "the ratio of counted forward FLOPs for the actual token counts; memory is the decoder's parameter",
        "memory (expected: embeddings + L/N of the rest) and the process's peak RSS. Inference runs",
        f"`nlp.pipe` over the {info['settings']['docs']} docs in batches of {info['settings']['batch_size']}; each batch's time is the fastest of "
        f"{info['settings']['repeats']} passes (noise",
        "on a shared machine only ever adds time), and words/s is all words over the sum of those times.",
        "Each cell's speed-up is paired: the reference pipeline (r = 0, all layers) runs in the cell's",
        "process on the same batches, taking turns with it; the raw transformers baseline is timed",
        "the same way against the reference cell. Peak RSS is taken before the reference is loaded."
        + (
            f" Each cell is its fastest of {info['settings']['rounds']} rounds over the whole grid, a fresh process each."
            if info["settings"].get("rounds", 1) > 1
            else ""
        ),
        "",
        "| r | exit L | infer words/s | speed-up | ideal | measured/ideal | train words/s | model MB | expected MB | peak RSS MB |"
        + (" peak GPU MB, training | peak GPU MB, inference |" if gpu else ""),
        "|---|---|---|---|---|---|---|---|---|---|" + ("---|---|" if gpu else ""),
    ]
    for r in results:
        speedup = r["infer_wps"] / r.get("reference_wps", base["infer_wps"])
        ideal = base["flops"] / r["flops"]
        expected = r["embedding_bytes"] + (full - base["embedding_bytes"]) * r["exit_layer"] / r["layers"]
        r.update(speedup=speedup, ideal_speedup=ideal, efficiency=speedup / ideal, expected_model_bytes=expected)
        lines.append(
            f"| {r['repetitions']} | {r['exit_layer']} | {r['infer_wps']:.0f} | {speedup:.2f} | {ideal:.2f} | "
            f"{speedup / ideal:.2f} | {r['train_wps']:.0f} | {r['model_bytes'] / 2**20:.1f} | {expected / 2**20:.1f} | "
            f"{r['peak_rss_bytes'] / 2**20:.0f} |"
            + (f" {r['peak_gpu_train_bytes'] / 2**20:.0f} | {r['peak_gpu_infer_bytes'] / 2**20:.0f} |" if gpu else "")
        )
    ratio = base["infer_wps"] / base["hf_wps"]
    worst = min(results, key=lambda r: r["efficiency"])
    memory_off = max(abs(r["model_bytes"] / r["expected_model_bytes"] - 1) for r in results)
    lines += [
        "",
        "## Targets",
        "",
        f"- `nlp.pipe` at r = 0 vs the raw transformers token-classification forward on the same weights and batches: "
        f"{base['infer_wps']:.0f} vs {base['hf_wps']:.0f} words/s = **{ratio:.2f}x** (target >= 0.90; ours includes "
        f"tokenization, alignment and decoding). {'Met.' if ratio >= 0.9 else 'Not met.'}",
        f"- Lowest measured/ideal speed-up: **{worst['efficiency']:.2f}** at r = {worst['repetitions']}, L = "
        f"{worst['exit_layer']} (target >= 0.85 in every cell). "
        f"{'Met.' if worst['efficiency'] >= 0.85 else 'Not met in ' + str(sum(r['efficiency'] < 0.85 for r in results)) + ' of ' + str(len(results)) + ' cells.'}",
        f"- Model memory at exit L vs embeddings + L/N of the rest: largest deviation **{100 * memory_off:.1f}%** "
        f"(target within 5%). {'Met.' if memory_off <= 0.05 else 'Not met.'}",
    ]
    return "\n".join(lines) + "\n"
