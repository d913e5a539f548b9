"""python -m spacy_repsl.benchmark.long_documents: what a long document costs against the same text
as sentences.

A doc longer than `max_length` pieces runs in windows, each carrying `window_context` pieces of
context on both sides of the pieces it labels; the windows of all docs of a batch share the
decoder's passes under `max_batch_tokens`. Measured, per model (the real SmolLM2-135M checkpoint
when `--model` is given, and the benchmark's random decoder), with a `repsl_tagger` at the given r
and exit layer (an untrained head: the speed does not depend on the weights):

- the first `--sentences` CoNLL-2003 test sentences (generated ones without the data) as that
  many docs (`nlp.pipe`, default batch size) and joined into one doc, at `window_context` 0, the
  default (`DecoderTagger.v2`'s `max_length // 16`), twice the default and v1's default
  (`max_length // 4`); one process, taking turns, fastest of `--rounds`; seconds per 1,000 tokens
  and the ratio one doc / sentences;
- documents of `--sizes` tokens (the sentences repeated to that length), one round each;
- `label` in a fresh process on one record of 10k, 100k and 1.1M tokens (7.7 MB of "Berlin Berlin ...") with the
  labelling benchmark's trained tiny pipeline: seconds and peak RSS, so memory against length.

Writes the section "long documents" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from .sections import write_section

SHARED = Path(__file__).resolve().parents[3] / "shared"


def sentences(conll_dir: Optional[Path], n: int) -> List[str]:
    """The first `n` CoNLL-2003 test sentences as text, or generated sentences without the data."""
    if conll_dir is not None and (conll_dir / "test.txt").is_file():
        from ..datasets.conll03 import read_sentences

        return [" ".join(w for w, _ in s) for s in read_sentences(conll_dir / "test.txt")][:n]
    from .cells import texts_and_gold

    return [text for text, _ in texts_and_gold(n, 0)]


def tagger(model: Path, repetitions: int, exit_layer: Optional[int]) -> Any:
    import spacy
    import torch
    from spacy.training import Example

    torch.manual_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe(
        "repsl_tagger",
        config={
            "model": {
                "@architectures": "spacy-repsl.DecoderTagger.v2",
                "name": str(model),
                "repetitions": repetitions,
                "exit_layer": exit_layer,
                "quantization": None,
                "lora": {"@misc": "spacy-repsl.lora.v1"},
            }
        },
    )
    nlp.initialize(
        lambda: [
            Example.from_dict(nlp.make_doc("John lives in Paris ."), {"entities": [(0, 4, "PER"), (14, 19, "LOC")]})
        ]
    )
    tagger: Any = nlp.get_pipe("repsl_tagger")
    tagger.merge_adapters()
    return nlp


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure_model(
    model: Path, texts: List[str], sizes: Sequence[int], repetitions: int, exit_layer: Optional[int], rounds: int
) -> Dict[str, Any]:
    from ..tokenization.windows import default_context

    nlp = tagger(model, repetitions, exit_layer)
    attrs = nlp.get_pipe("repsl_tagger").model.attrs
    default = attrs["window_context"]  # v2's default, resolved when the model was built
    contexts = {
        "0": 0,
        f"{default} (the default)": default,
        f"{2 * default} (twice the default)": 2 * default,
        f"{default_context(attrs['max_length'])} (v1's default)": default_context(attrs["max_length"]),
    }
    joined = " ".join(texts)
    tokens = len(nlp.make_doc(joined))

    def run(batch: List[str], context: int) -> None:
        attrs["window_context"] = context
        for _ in nlp.pipe(batch):
            pass

    run(texts[:32], default)  # warm-up
    best: Dict[str, float] = {}
    for i in range(rounds):
        cases = [("sentences", texts, default)] + [
            (f"one doc, context {name}", [joined], c) for name, c in contexts.items()
        ]
        for name, batch, context in cases[i % len(cases) :] + cases[: i % len(cases)]:
            best[name] = min(
                best.get(name, float("inf")), timed(lambda batch=batch, context=context: run(batch, context))
            )
    per_size = {}
    for size in sizes:
        words = joined.split()
        text = " ".join((words * (size // len(words) + 1))[:size])
        per_size[size] = timed(lambda text=text: run([text], default)) / size * 1000
    return {
        "tokens": tokens,
        "docs": len(texts),
        "max_length": attrs["max_length"],
        "default_context": default,
        "per_1k": {name: seconds / tokens * 1000 for name, seconds in best.items()},
        "per_size": per_size,
    }


def long_records(base: Path, lengths: Sequence[int]) -> List[Dict[str, float]]:
    from .labelling import build_pipeline, peak_rss

    pipeline = build_pipeline(base)
    found = []
    for n in lengths:
        corpus = base / f"record{n}.jsonl"
        corpus.write_text(json.dumps({"text": "Berlin " * (n - 1) + "Paris"}) + "\n", encoding="utf-8")
        result = peak_rss(pipeline, corpus, base / f"record{n}.out.jsonl")
        found.append(
            {"tokens": n, "mb_text": corpus.stat().st_size / 1e6, "seconds": 1 / result["rate"], "rss_mb": result["mb"]}
        )
    return found


def report(results: Dict[str, Dict[str, Any]], records: List[Dict[str, float]], args: Any) -> str:
    from .engines import where

    lines = [
        "## Long documents: the same text as sentences and as one document",
        "",
        f"Measured with `python -m spacy_repsl.benchmark.long_documents {' '.join(args.argv)}` on {where()}. "
        f"r = {args.repetitions}; the decoder's own defaults otherwise (`max_length` 256 pieces, "
        "`window_context` = `max_length // 16` (`DecoderTagger.v2`), `max_batch_tokens` 512 on the CPU); one process, the cases "
        f"taking turns, fastest of {args.rounds} rounds. Seconds per 1,000 spaCy tokens:",
        "",
    ]
    for name, r in results.items():
        per = r["per_1k"]
        lines += [
            f"**{name}** ({r['docs']} sentences, {r['tokens']:,} tokens):",
            "",
            "| the text as | s / 1k tokens | relative to sentences |",
            "|---|---|---|",
        ]
        for case, seconds in per.items():
            lines.append(f"| {case} | {seconds:.3f} | {seconds / per['sentences']:.2f} |")
        lines += ["", "| one document of | s / 1k tokens | relative to sentences |", "|---|---|---|"]
        for size, seconds in r["per_size"].items():
            lines.append(f"| {size:,} tokens | {seconds:.3f} | {seconds / per['sentences']:.2f} |")
        lines.append("")
    if records:
        lines += [
            '`label` in a fresh process, one record ("Berlin Berlin ... Paris"), the labelling benchmark\'s '
            "trained tiny pipeline (random 4-layer, 64-wide Llama, r = 1): time and peak resident memory "
            "against the record's length:",
            "",
            "| tokens | text, MB | seconds (process start and loading included) | peak RSS, MB |",
            "|---|---|---|---|",
        ]
        lines += [f"| {r['tokens']:,} | {r['mb_text']:.1f} | {r['seconds']:.1f} | {r['rss_mb']:.0f} |" for r in records]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    import sys

    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.long_documents",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a real checkpoint folder (e.g. SmolLM2-135M converted: project/assets/smollm2-135m)",
    )
    parser.add_argument("--exit-layer", type=int, default=None, help="the real model's exit layer (default: all)")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--conll03", type=Path, default=SHARED / "data" / "conll2003")
    parser.add_argument("--sentences", type=int, default=150)
    parser.add_argument("--sizes", default="1000,10000,100000", help="document lengths in tokens, one round each")
    parser.add_argument(
        "--random-sizes",
        default="1000,10000",
        help="document lengths for the random model (its 32 layers are slower per token)",
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--records",
        default="10000,100000,1100000",
        help="tokens of the label records (1.1M: a 7.7 MB record); '' leaves them out",
    )
    parser.add_argument("--bench-model", default="", help="the random model's folder ('': build the default)")
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    args.argv = list(argv if argv is not None else sys.argv[1:])
    from .cells import benchmark_model

    texts = sentences(args.conll03 if args.conll03.is_dir() else None, args.sentences)
    results: Dict[str, Dict[str, Any]] = {}
    if args.model is not None:
        name = f"{args.model.name}, exit {args.exit_layer or 'none'}"
        results[name] = measure_model(
            args.model,
            texts,
            [int(s) for s in args.sizes.split(",") if s],
            args.repetitions,
            args.exit_layer,
            args.rounds,
        )
        print(name, results[name], flush=True)
    random_model = benchmark_model(args.bench_model, "mistral-scaled")
    results["random 32-layer, 256-wide Mistral (the benchmark's model)"] = measure_model(
        random_model, texts, [int(s) for s in args.random_sizes.split(",") if s], args.repetitions, None, args.rounds
    )
    records: List[Dict[str, float]] = []
    if args.records:
        with tempfile.TemporaryDirectory() as tmp:
            records = long_records(Path(tmp), [int(n) for n in args.records.split(",")])
    text = report(results, records, args)
    write_section(args.output, "long documents", text)
    print(text)


if __name__ == "__main__":
    main()
