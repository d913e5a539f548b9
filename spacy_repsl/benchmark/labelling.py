"""python -m spacy_repsl.benchmark.labelling: `python -m spacy_repsl.label` against the loop a
user writes instead, the Ray Data engine with 1 and 2 workers, and peak memory on a large corpus.

- Throughput: a trained tiny pipeline (random 4-layer, 64-wide Llama with LoRA, r = 1), a JSONL
  file of generated documents of 5-40 words. `label` (read, label, write JSONL) against a plain
  loop over the same file (`json.loads` each line, `nlp.pipe(texts)`, the entities' offsets
  collected, nothing written), in one process, taking turns, fastest round each.
- Ray: the same file through `--engine ray` with 1 and 2 actors of 1 CPU each, timed whole
  (the actors' start and pipeline loading included; the local Ray instance is started before).
- Memory: `label` in a fresh process over 20k and over 200k documents; peak RSS of each.
Writes the section 'labelling' of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .sections import write_section
from .timing import rates

WORDS = (
    "John Smith lives in Paris and Mary works for Acme Corp in Berlin , the United Nations met in Geneva on "
    "Monday officials said today people news"
).split()


def write_corpus(path: Path, n: int, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 40)))
            f.write(json.dumps({"text": text, "id": i}) + "\n")
    return path


def build_pipeline(base: Path) -> Path:
    import spacy
    from spacy.training import Example

    from ..decoder.tiny import build_tiny_decoder

    decoder = build_tiny_decoder("llama", base / "tiny", texts=[" ".join(WORDS)], num_layers=4, hidden_size=64)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v1",
                "name": str(decoder),
                "quantization": None,
                "repetitions": 1,
            }
        },
    )
    examples = [
        Example.from_dict(nlp.make_doc("John Smith lives in Paris ."), {"entities": [(0, 10, "PER"), (20, 25, "LOC")]})
    ]
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(10):
        nlp.update(examples, sgd=optimizer)
    nlp.to_disk(base / "pipeline")
    return base / "pipeline"


def plain_loop(nlp, path: Path) -> int:
    """What a user writes instead: read the texts, nlp.pipe, collect the entities."""
    with path.open(encoding="utf-8") as f:
        texts = [json.loads(line)["text"] for line in f]
    found = 0
    for doc in nlp.pipe(texts):
        found += len([(e.start_char, e.end_char, e.label_) for e in doc.ents])
    return found


def throughput(pipeline: Path, corpus: Path, out: Path, rounds: int) -> Dict[str, float]:
    import spacy

    from ..label.run import Options, label

    nlp = spacy.load(pipeline)
    n = sum(1 for _ in corpus.open())
    plain_loop(nlp, corpus)  # warm-up
    times: Dict[str, List[float]] = {"ours": [], "hand": []}  # ours: label; hand: the plain loop
    for i in range(rounds):
        for name in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
            start = time.perf_counter()
            if name == "hand":
                plain_loop(nlp, corpus)
            else:
                label(
                    Options(pipeline=str(pipeline), input=str(corpus), output=out, overwrite=True, progress_every=0),
                    stream=open(os.devnull, "w"),
                    nlp=nlp,
                )
            times[name].append(time.perf_counter() - start)
    return rates(times, n)


def with_ray(pipeline: Path, corpus: Path, out: Path, workers: int) -> Dict[str, float]:
    """Docs/s over the whole run, the seconds until the first record (actors starting, each
    loading the pipeline), and docs/s after it (steady state)."""
    from ..label.run import Options, label

    start = time.perf_counter()
    summary = label(
        Options(
            pipeline=str(pipeline),
            input=str(corpus),
            output=out,
            overwrite=True,
            progress_every=0,
            engine="ray",
            num_workers=workers,
        ),
        stream=open(os.devnull, "w"),
    )
    assert summary.first_record is not None and summary.steady_rate is not None, "the Ray run labelled nothing"
    return {
        "fixed": summary.first_record,
        "whole": summary.labelled / (time.perf_counter() - start),
        "steady": summary.steady_rate,
    }


def peak_rss(pipeline: Path, corpus: Path, out: Path) -> Dict[str, float]:
    """Peak resident memory (MB) and docs/s of `label` in a fresh process."""
    code = (
        "import resource, sys, time; from spacy_repsl.label.__main__ import main; t = time.perf_counter(); "
        f"code = main([{str(pipeline)!r}, {str(corpus)!r}, {str(out)!r}, '--overwrite', '--progress-every', '0']); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)"
    )
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    seconds, kb = done.stdout.split()[-2:]
    n = sum(1 for _ in corpus.open())
    return {"docs": n, "mb": int(kb) / 1024, "rate": n / float(seconds)}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.labelling",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--docs", type=int, default=5000, help="documents for the throughput and Ray runs")
    parser.add_argument("--large", type=int, default=200000, help="documents for the memory run")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    from .engines import where

    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        pipeline = build_pipeline(base)
        corpus = write_corpus(base / "corpus.jsonl", args.docs)
        speed = throughput(pipeline, corpus, base / "out.jsonl", args.rounds)
        import ray

        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        try:
            rays = {w: with_ray(pipeline, corpus, base / f"ray{w}.jsonl", w) for w in (1, 2)}
        finally:
            ray.shutdown()
        memory = [
            peak_rss(pipeline, write_corpus(base / f"m{n}.jsonl", n, seed=1), base / f"m{n}.out.jsonl")
            for n in (args.large // 10, args.large)
        ]
    text = "\n".join(
        [
            "## Labelling a corpus",
            "",
            f"Measured with `python -m spacy_repsl.benchmark.labelling --rounds {args.rounds} --docs {args.docs} --large "
            f"{args.large}` on {where()}: a trained tiny pipeline (random 4-layer, 64-wide Llama with LoRA, r = 1) over "
            "generated JSONL documents of 5-40 words. No GPU was lent to this session: the GPU table is not measured.",
            "",
            "The pipeline loaded once; `label` given it (`spacy_repsl.label.run.label(options, nlp=nlp)`), so the "
            "ratio is what reading, record building and writing cost:",
            "",
            "| way | docs/s (fastest round) | relative to the plain loop | median of per-round ratios |",
            "|---|---|---|---|",
            f"| plain loop (`json.loads` each line, `nlp.pipe(texts)`, entities collected, nothing written) | "
            f"{speed['hand']:.0f} | 1.00 | 1.00 |",
            f"| `label`, local engine (read, label, write JSONL with spans and ids) | {speed['ours']:.0f} | "
            f"{speed['ours'] / speed['hand']:.2f} | {speed['median_ratio']:.2f} |",
            "",
            f"Ray Data engine on the same {args.docs:,} documents, actors of 1 CPU each on a local Ray instance with "
            "2 CPUs (started beforehand). Start-up is the time until the first record is written (actors starting, "
            "each loading the pipeline, the first batch); steady docs/s is after it:",
            "",
            "| workers | start-up, s | docs/s, whole run | docs/s, steady | steady relative to the plain loop |",
            "|---|---|---|---|---|",
            *[
                f"| {w} | {r['fixed']:.1f} | {r['whole']:.0f} | {r['steady']:.0f} | {r['steady'] / speed['hand']:.2f} |"
                for w, r in rays.items()
            ],
            "",
            "Peak resident memory of `label` in a fresh process (the pipeline, torch and spaCy included), by corpus size:",
            "",
            "| documents | peak RSS, MB | docs/s |",
            "|---|---|---|",
            *[f"| {m['docs']:,} | {m['mb']:.0f} | {m['rate']:.0f} |" for m in memory],
        ]
    )
    write_section(args.output, "labelling", text)
    print(text)


if __name__ == "__main__":
    main()
