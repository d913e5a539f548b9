"""python -m spacy_repsl.benchmark.training_profile: where a CPU training step's time goes, and
what grouping a batch by length (instead of padding it to its longest doc) and running the last
layer's MLP only on the rows a loss reads save.

The pipeline is `configs/lora_cpu.cfg` as `spacy train` builds it (LoRA r = 16 on q/k/v/o, head
dropout 0.1, max_length 128; repetitions and exit layer as given), initialized on the training
file; its optimizer is the config's. Batches are 8 random sentences of that file (the config's
`batch_by_sequence` size). Each step is timed in four parts: the torch forward (`TaggerShim`'s
`begin_update`), the backward (its backprop), the optimizer (`finish_update`), and the rest of
`nlp.update` (spaCy's Example handling, alignment, tokenization, the loss): "overhead". The
variants take turns batch by batch in one process, each batch keeping its fastest time
over `--passes` (`timing.fastest_per_batch`); the three ways of training (`VARIANTS`) take turns. The fixed cost of a pass is the
intercept of forward + backward time against padded pieces over single docs of several lengths
(`TRAIN_PASS_ROWS` is it in rows of the repeated input).
Writes the section 'training-step' of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence

from .sections import write_section

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "lora_cpu.cfg"
PARTS = ("forward", "backward", "optimizer", "overhead")


@contextmanager
def part_timers(totals: Dict[str, float]) -> Iterator[None]:
    """Add the seconds spent in the tagger shim's forward, backward and optimizer step to `totals`."""
    from ..models.shim import TaggerShim

    begin, finish = TaggerShim.begin_update, TaggerShim.finish_update

    def timed_begin(self: Any, inputs: Any) -> Any:
        start = time.perf_counter()
        output, backprop = begin(self, inputs)
        totals["forward"] += time.perf_counter() - start

        def timed_backprop(grads: Any) -> Any:
            start = time.perf_counter()
            result = backprop(grads)
            totals["backward"] += time.perf_counter() - start
            return result

        return output, timed_backprop

    def timed_finish(self: Any, optimizer: Any) -> None:
        start = time.perf_counter()
        finish(self, optimizer)
        totals["optimizer"] += time.perf_counter() - start

    TaggerShim.begin_update = timed_begin  # type: ignore[method-assign]  # put back below
    TaggerShim.finish_update = timed_finish  # type: ignore[method-assign]
    try:
        yield
    finally:
        TaggerShim.begin_update = begin  # type: ignore[method-assign]
        TaggerShim.finish_update = finish  # type: ignore[method-assign]


def build(model: str, train: Path, repetitions: int, exit_layer: Optional[int]) -> Any:
    """The config's pipeline and optimizer, initialized as `spacy train` does."""
    from spacy import util
    from spacy.training.initialize import init_nlp
    from spacy.util import registry

    overrides = {
        "paths.decoder": model,
        "paths.train": str(train),
        "paths.dev": str(train),
        "components.repsl_tagger.model.repetitions": repetitions,
        "components.repsl_tagger.model.exit_layer": exit_layer,
    }
    config = util.load_config(CONFIG, overrides=overrides, interpolate=False)
    nlp = init_nlp(config)
    optimizer = registry.resolve(nlp.config.interpolate()["training"])["optimizer"]
    return nlp, optimizer


def examples(nlp: Any, train: Path, count: int, seed: int = 0) -> List[Any]:
    from spacy.tokens import DocBin
    from spacy.training import Example

    docs = list(DocBin().from_disk(train).get_docs(nlp.vocab))
    random.Random(seed).shuffle(docs)
    return [Example(nlp.make_doc(d.text), d) for d in docs[:count]]


VARIANTS = {  # FAST_PATHS switches of each way of training, "before" first
    "before": {"train_groups": False, "read_rows": False},
    "grouped": {"train_groups": True, "read_rows": False},
    "now": {"train_groups": True, "read_rows": True},
}
LABELS = {
    "before": "padded to the batch's longest, every row of the last layer (before)",
    "grouped": "grouped by length (`padding_groups`)",
    "now": "grouped, and the last layer's MLP on the read rows only (now)",
}


def profile(nlp: Any, optimizer: Any, batches: List[List[Any]], passes: int) -> Dict[str, Dict[str, float]]:
    """Per variant: seconds per part summed over batches (each batch's fastest pass)."""
    from ..models import fast_paths
    from .timing import fastest_per_batch

    best: Dict[str, List[Dict[str, float]]] = {name: [{} for _ in batches] for name in VARIANTS}
    saved = dict(fast_paths.FAST_PATHS)

    def runner(name: str) -> Any:
        def run(j: int) -> None:
            fast_paths.FAST_PATHS.update(VARIANTS[name])
            totals = dict.fromkeys(PARTS[:3], 0.0)
            start = time.perf_counter()
            with part_timers(totals):
                nlp.update(batches[j], sgd=optimizer)
            totals["total"] = time.perf_counter() - start
            totals["overhead"] = totals["total"] - sum(totals[p] for p in PARTS[:3])
            if not best[name][j] or totals["total"] < best[name][j]["total"]:
                best[name][j] = totals

        return run

    try:
        fastest_per_batch([runner(name) for name in VARIANTS], len(batches), passes)
    finally:
        fast_paths.FAST_PATHS.update(saved)
    return {name: {part: sum(r[part] for r in rows) for part in (*PARTS, "total")} for name, rows in best.items()}


def pass_cost(nlp: Any, optimizer: Any, docs: List[Any], passes: int) -> Dict[str, float]:
    """Least-squares fit of forward + backward seconds = a + b x pieces over single docs; a / b
    is a pass's fixed cost in pieces."""
    from ..models.decoder_tagger import get_runtime
    from ..tokenization.pieces import tokenize_docs

    tagger = nlp.get_pipe("repsl_tagger")
    runtime = get_runtime(tagger.model)
    points = []
    for example in docs:
        pieces = len(tokenize_docs(runtime.tokenizer, [example.predicted], runtime.placeholder_id)[0].ids)
        fastest = float("inf")
        for _ in range(passes):
            totals = dict.fromkeys(PARTS[:3], 0.0)
            with part_timers(totals):
                nlp.update([example], sgd=optimizer)
            fastest = min(fastest, totals["forward"] + totals["backward"])
        points.append((pieces, fastest))
    n = len(points)
    mean_x, mean_y = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / sum((x - mean_x) ** 2 for x, _ in points)
    intercept = mean_y - slope * mean_x
    return {"intercept_ms": intercept * 1000, "ms_per_piece": slope * 1000, "pieces": intercept / slope, "docs": n}


def useful_fraction(nlp: Any, batches: List[List[Any]], grouped: bool) -> float:
    """Real pieces over padded pieces of the batches, padded to the longest or in groups."""
    from ..models.decoder_tagger import get_runtime, padding_groups, train_pass_cost
    from ..tokenization.pieces import tokenize_docs

    runtime = get_runtime(nlp.get_pipe("repsl_tagger").model)
    real = padded = 0
    for batch in batches:
        sizes = [
            len(p.ids) for p in tokenize_docs(runtime.tokenizer, [eg.predicted for eg in batch], runtime.placeholder_id)
        ]
        cost = train_pass_cost(runtime)
        groups = padding_groups(sizes, 128, 8192, cost) if grouped and cost is not None else [list(range(len(sizes)))]
        real += sum(sizes)
        padded += sum(len(g) * max(sizes[i] for i in g) for g in groups)
    return real / padded


def section(result: Dict[str, Any]) -> str:
    words, rows = result["words"], result["profile"]
    lines = [
        "## Training step: where the time goes on the CPU",
        "",
        f"Measured with `{result['command']}` on {result['machine']}: {result['model']}, "
        f"`configs/lora_cpu.cfg` (LoRA r = 16, q/k/v/o), r = {result['repetitions']}, exit layer "
        f"{result['exit_layer'] or 'none (all layers)'}, {result['batches']} batches of 8 random CoNLL-2003 "
        f"training sentences ({words} words), the three variants taking turns batch by batch, each batch's "
        f"fastest of {result['passes']} passes.",
        "",
        "| batching | forward | backward | optimizer | overhead (spaCy, alignment, loss) | step | training words/s | "
        "real pieces / padded |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, label in LABELS.items():
        r = rows[name]

        def share(part: str, r: Dict[str, float] = r) -> str:
            return f"{r[part] / result['batches'] * 1000:.0f} ms ({r[part] / r['total']:.0%})"

        lines.append(
            f"| {label} | {share('forward')} | {share('backward')} | {share('optimizer')} | {share('overhead')} "
            f"| {r['total'] / result['batches'] * 1000:.0f} ms | {words / r['total']:.0f} | "
            f"{result['useful'][name != 'before']:.0%} |"
        )
    fit = result["pass_cost"]
    lines += [
        "",
        f"Speed-up of the training step: {rows['before']['total'] / rows['grouped']['total']:.2f}x from "
        f"grouping, {rows['before']['total'] / rows['now']['total']:.2f}x with both. "
        f"A pass's fixed cost (forward + backward against pieces over {fit['docs']} single docs): "
        f"{fit['intercept_ms']:.0f} ms + {fit['ms_per_piece']:.1f} ms per piece, i.e. {fit['pieces']:.0f} pieces "
        f"(the grouping above used `TRAIN_PASS_ROWS` = {result['pass_cost_used']} rows, i.e. "
        f"{result['pass_cost_used'] / (result['repetitions'] + 1):.0f} pieces of one copy, "
        "`models/decoder_tagger.py`; the fit moves by several pieces between runs). Grouping changes only the time: a doc's outputs and "
        "gradients do not depend on its group (padding is masked), and the last layer's unread rows (earlier "
        "copies, BOS, padding, later pieces of a word) reach no loss (`decoder/read_rows.py`): with dropout off, "
        "the same loss and gradients (tests). Dropout masks are drawn over other shapes, so a seeded run does "
        "not repeat one of the earlier code bit for bit.",
    ]
    return "\n".join(lines)


def main(argv: Optional[Sequence[str]] = None) -> None:
    import torch

    from ..models.decoder_tagger import TRAIN_PASS_ROWS
    from .report import machine

    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.training_profile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("model", help="a local decoder (directory or GGUF file), e.g. SmolLM2-135M")
    parser.add_argument("train", type=Path, help="a .spacy training file (e.g. the project's CoNLL-2003 train.spacy)")
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--exit-layer", type=int, default=15)
    parser.add_argument("--batches", type=int, default=12)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args(argv)
    if args.batches < 1 or args.passes < 1:
        parser.error("--batches and --passes must be at least 1")
    torch.manual_seed(0)
    nlp, optimizer = build(args.model, args.train, args.repetitions, args.exit_layer or None)
    sample = examples(nlp, args.train, 8 * args.batches + 8)
    batches = [sample[i : i + 8] for i in range(0, 8 * args.batches, 8)]
    nlp.update(batches[0], sgd=optimizer)  # warm-up
    print(f"profiling {len(batches)} batches x {args.passes} passes", flush=True)
    rows = profile(nlp, optimizer, batches, args.passes)
    singles = sorted(sample[8 * args.batches :], key=len)
    result = {
        "profile": rows,
        "pass_cost": pass_cost(nlp, optimizer, singles, args.passes),
        "useful": {False: useful_fraction(nlp, batches, False), True: useful_fraction(nlp, batches, True)},
        "words": sum(len(eg) for batch in batches for eg in batch),
        "batches": len(batches),
        "pass_cost_used": TRAIN_PASS_ROWS,
        "passes": args.passes,
        "repetitions": args.repetitions,
        "exit_layer": args.exit_layer,
        "model": Path(args.model).name,
        "machine": "{cpus} CPUs ({processor}), {torch_threads} torch threads, "
        "torch {torch}, transformers {transformers}".format(**machine(-1)),
        "command": "python -m spacy_repsl.benchmark.training_profile "
        + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    text = section(result)
    print(text, flush=True)
    write_section(args.output, "training-step", text)


if __name__ == "__main__":
    main()
