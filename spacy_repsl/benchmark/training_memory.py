"""python -m spacy_repsl.benchmark.training_memory: peak memory of one training update on one
long document, with and without recomputing sub-batches in backprop.

Each (doc length, setting) runs in its own process on a tiny 4-layer, 64-wide Llama (LoRA off,
fp32): the process's peak RSS after loading and one warm-up update on a short doc, then after
one `nlp.update` on a doc of N tokens. The growth is what the long doc cost. Writes the section
'training-memory' of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .sections import write_section


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(decoder: str, tokens: int, recompute: bool) -> Dict[str, Any]:
    import spacy
    from spacy.training import Example

    from ..models import fast_paths

    fast_paths.RECOMPUTE_SUB_BATCHES["enabled"] = recompute
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v1",
                "name": decoder,
                "quantization": None,
                "lora": None,
                "repetitions": 1,
                "max_batch_tokens": 8192,
            }
        },
    )
    short = Example.from_dict(nlp.make_doc("John lives in Paris ."), {"entities": [(0, 4, "PER")]})
    optimizer = nlp.initialize(lambda: [short])
    nlp.update([short], sgd=optimizer)
    before = peak_mb()
    words = ("John lives in Paris and works for Acme . " * (tokens // 9 + 1)).split()[:tokens]
    doc = nlp.make_doc(" ".join(words))
    long = Example.from_dict(doc, {"entities": [(0, 4, "PER")]})
    nlp.update([long], sgd=optimizer)
    return {
        "tokens": len(doc),
        "recompute": recompute,
        "before_mb": before,
        "peak_mb": peak_mb(),
        "growth_mb": peak_mb() - before,
    }


def section(rows: List[Dict[str, Any]]) -> str:
    lines = [
        "## Training memory: one update on one long document",
        "",
        "Measured with `python -m spacy_repsl.benchmark.training_memory`: a tiny 4-layer, 64-wide Llama, r = 1, "
        "max_length 256, max_batch_tokens 8192 (the training default), one `nlp.update` on one doc, each in its own "
        "process; growth is the peak RSS after the update minus the peak after loading and a short warm-up "
        "update.",
        "",
        "| doc tokens | growth, sub-batches recomputed (default) | growth, all activations kept |",
        "|---|---|---|",
    ]
    by = {(r["tokens"], r["recompute"]): r for r in rows}
    for tokens in sorted({r["tokens"] for r in rows}):
        on, off = by.get((tokens, True)), by.get((tokens, False))

        def cell(r):
            return f"{r['growth_mb']:.0f} MB" if r else "–"

        lines.append(f"| {tokens} | {cell(on)} | {cell(off)} |")
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.training_memory",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tokens", default="1000,8000,24000")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), args.worker[2] == "1")))
        return
    from ..decoder.tiny import build_tiny_decoder

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        decoder = str(build_tiny_decoder("llama", Path(tmp) / "tiny", num_layers=4, hidden_size=64))
        for tokens in [int(t) for t in args.tokens.split(",")]:
            for recompute in (True, False):
                env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
                out = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "spacy_repsl.benchmark.training_memory",
                        "--worker",
                        decoder,
                        str(tokens),
                        "1" if recompute else "0",
                    ],
                    capture_output=True,
                    text=True,
                    env=env,
                )
                if out.returncode != 0:
                    raise RuntimeError(out.stderr[-3000:])
                rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
                print(f"{tokens} tokens, recompute={recompute}: +{rows[-1]['growth_mb']:.0f} MB", flush=True)
    text = section(rows)
    write_section(args.output, "training-memory", text)
    print("\n" + text)


if __name__ == "__main__":
    main()
