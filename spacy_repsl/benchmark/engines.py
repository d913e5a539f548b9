"""python -m spacy_repsl.benchmark.engines: wall time of a small grid, local engine vs Ray.

What a user with one machine compares: the same 4-run grid (tiny Llama, demo corpus) through
`python -m spacy_repsl.experiments train` with `--engine local` (one run after another, torch
using every core) and with `--engine ray` (one CPU per run, so as many runs at once as there are
cores), each command timed whole, Ray's start and shutdown included. Rounds alternate the two
engines, each in a fresh project directory; the fastest round of each is kept. Prints a Markdown
section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .sections import write_section

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "tiny.cfg"


def prepare(base: Path, sizes=(600, 150, 10)) -> Path:
    from ..datasets import demo
    from ..decoder.tiny import build_tiny_decoder

    conversion = demo.convert(seed=0, sizes=sizes)
    conversion.write(base / "corpus" / "demo")
    build_tiny_decoder("llama", base / "tiny", texts=[d.text for d in conversion.docs["train"]], seed=0)
    return base


def time_grid(base: Path, engine: str, work: Path, epochs: int) -> float:
    shutil.copytree(base / "corpus", work / "corpus")
    cmd = [
        sys.executable,
        "-m",
        "spacy_repsl.experiments",
        "train",
        "--engine",
        engine,
        "--root",
        str(work),
        "--config",
        str(CONFIG),
        "--datasets",
        "demo",
        "--models",
        str(base / "tiny"),
        "--repetitions",
        "0,1",
        "--unmasking=",
        "--seeds",
        "1,2",
        "--",
        "--training.max_epochs",
        str(epochs),
        "--training.eval_frequency",
        "50",
        "--training.batcher.size",
        "16",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    start = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise RuntimeError(f"{engine} grid failed:\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return seconds


def where(gpu_id: Optional[int] = None) -> str:
    """The machine and the versions, for a BENCHMARKS.md section (`gpu_id` as `report.machine`)."""
    from .report import machine

    try:
        from ray import __version__ as ray_version
    except ImportError:
        ray_version = "not installed"

    m = machine(gpu_id)
    return (
        f"{m['device']}, {m['processor']}, {m['cpus']} CPUs, {m['platform']}; Python {m['python']}, torch "
        f"{m['torch']}, spaCy {m['spacy']}, Ray {ray_version}"
    )


def section(times: Dict[str, List[float]], rounds: int, epochs: int, machine: str) -> str:
    """The BENCHMARKS.md section, from every round's wall time per engine."""
    local, ray = min(times["local"]), min(times["ray"])
    return "\n".join(
        [
            "## Scale-out: a 4-run grid, local engine vs Ray",
            "",
            f"Measured with `python -m spacy_repsl.benchmark.engines --rounds {rounds} --epochs {epochs}` on {machine}.",
            "",
            f"Tiny Llama (4 layers, hidden 64), the demo corpus (600 training sentences), runs r0 and r1 x seeds 1, 2, "
            f"{epochs} epochs each; the whole `python -m spacy_repsl.experiments train` command is timed (imports, "
            f"Ray's start and shutdown included), in a fresh project each time, engines alternating; fastest of "
            f"{rounds} rounds.",
            "",
            "| engine | wall time | speed relative to local |",
            "|---|---|---|",
            f"| `--engine local` (one run after another, torch on all cores) | {local:.1f} s | 1.00 |",
            f"| `--engine ray` (2 runs at once, 1 CPU and 1 torch thread each) | {ray:.1f} s | {local / ray:.2f} |",
            "",
            f"All rounds: local {', '.join(f'{s:.1f}' for s in times['local'])} s; ray "
            f"{', '.join(f'{s:.1f}' for s in times['ray'])} s. No GPU was lent to this session, so the 2-run grid with "
            "one GPU per run is not measured yet.",
        ]
    )


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.engines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument(
        "--output", type=Path, default=Path("BENCHMARKS.md"), help="the section 'scale-out' is rewritten"
    )
    args = parser.parse_args(argv)
    best: Dict[str, List[float]] = {"local": [], "ray": []}
    with tempfile.TemporaryDirectory() as tmp:
        base = prepare(Path(tmp) / "base")
        for i in range(args.rounds):
            for engine in ("local", "ray") if i % 2 == 0 else ("ray", "local"):
                seconds = time_grid(base, engine, Path(tmp) / f"{engine}{i}", args.epochs)
                best[engine].append(seconds)
                print(f"round {i + 1}: {engine} {seconds:.1f}s", flush=True)
    text = section(best, args.rounds, args.epochs, where())
    write_section(args.output, "scale-out", text)
    print("\n" + text)


if __name__ == "__main__":
    main()
