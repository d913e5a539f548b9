"""The offline demo: why a causal decoder needs right context, in a few CPU minutes.

It generates sentences with two entities whose names carry no information: the type of one is
decided by the word right *after* it ("kolbar corp" is an ORG, "kolbar river" a LOC), the type
of the other by the word right *before* it ("buy kolbar" is a PRODUCT). A tiny random decoder,
built locally, is fine-tuned as a `repsl_tagger` for each setting (r = 0, 1, 2, middle and full
unmasking, early exit with r = 1), and the right-context and left-context labels are scored
separately. A causal decoder (r = 0) cannot see the deciding word for the right-context labels.

python -m spacy_repsl.experiments.demo --output metrics/ [--conll03-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ..datasets.demo import LEFT_CUES, RIGHT_CUES, Example, generate_corpus

__all__ = ["LEFT_CUES", "RIGHT_CUES", "generate_corpus", "run_demo"]

SETTINGS: Dict[str, Dict[str, Any]] = {
    "r0": {"repetitions": 0},
    "r1": {"repetitions": 1},
    "r2": {"repetitions": 2},
    "middle": {"repetitions": 0, "unmask": "middle"},
    "full": {"repetitions": 0, "unmask": "full"},
    "exit2-r1": {"repetitions": 1, "exit_layer": 2},
}


def conll_corpus(directory: Path, n_train: int, n_test: int) -> Tuple[List[Example], List[Example]]:
    """The first sentences of real CoNLL-2003 (train and test), as (text, entities)."""
    from ..datasets import conll03

    conversion = conll03.convert(directory)

    def examples(docs, n):
        return [(d.text, [(e.start_char, e.end_char, e.label_) for e in d.ents]) for d in docs[:n]]

    return examples(conversion.docs["train"], n_train), examples(conversion.docs["test"], n_test)


def score(nlp: Any, data: Sequence[Example], labels: Optional[Sequence[str]] = None) -> float:
    from ..iob.scoring import SpanCounts

    counts = SpanCounts()
    for doc, (_, gold) in zip(nlp.pipe([t for t, _ in data]), data):
        predicted = [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        keep = (lambda s: s[2] in labels) if labels is not None else (lambda s: True)
        counts.add([g for g in gold if keep(g)], [p for p in predicted if keep(p)])
    return counts.micro()["f"]


def train_setting(
    decoder: Path,
    settings: Dict[str, Any],
    train: Sequence[Example],
    epochs: int,
    seed: int,
    batch_size: int = 16,
    on_epoch: Optional[Callable[[int], None]] = None,
) -> Any:
    import spacy
    from spacy.training import Example as SpacyExample
    from thinc.api import fix_random_seed

    fix_random_seed(seed)
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy-repsl.DecoderTagger.v2",
        "name": str(decoder),
        "quantization": None,
        "lora": None,
        "max_length": 128,
        "head_dropout": 0.1,
        "unmask": "none",
        "exit_layer": None,
    }
    model.update(settings)
    nlp.add_pipe("repsl_tagger", config={"model": model})
    examples = [SpacyExample.from_dict(nlp.make_doc(t), {"entities": ents}) for t, ents in train]
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(seed)
    for epoch in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        for i in range(0, len(order), batch_size):
            nlp.update(order[i : i + batch_size], sgd=optimizer)
        if on_epoch is not None:
            on_epoch(epoch + 1)
    return nlp


def run_demo(
    output: Path,
    *,
    n_train: int = 600,
    n_test: int = 200,
    epochs: int = 6,
    seed: int = 0,
    settings: Optional[Sequence[str]] = None,
    conll03_dir: Optional[Path] = None,
    decoder_dir: Optional[Path] = None,
) -> Dict[str, Dict[str, Optional[float]]]:
    from ..decoder.tiny import build_tiny_decoder

    output.mkdir(parents=True, exist_ok=True)
    if conll03_dir:
        train, test = conll_corpus(conll03_dir, n_train, n_test)
        corpus_name = f"CoNLL-2003 ({len(train)} train / {len(test)} test sentences)"
    else:
        train, test = generate_corpus(n_train, seed), generate_corpus(n_test, seed + 1)
        corpus_name = f"generated ({len(train)} train / {len(test)} test sentences)"
    decoder = decoder_dir or output / "demo-decoder"
    if not (Path(decoder) / "config.json").is_file():
        build_tiny_decoder("llama", decoder, texts=[t for t, _ in train], seed=seed, num_layers=4, hidden_size=64)
    print(f"Demo on {corpus_name}, a tiny random Llama-style decoder (4 layers), {epochs} epochs, seed {seed}")
    results: Dict[str, Dict[str, Optional[float]]] = {}
    names = list(settings or SETTINGS)
    begin = time.perf_counter()
    for k, name in enumerate(names):
        start = time.perf_counter()

        def progress(epoch: int, name: str = name, k: int = k, start: float = start) -> None:
            elapsed = time.perf_counter() - begin
            done = k + epoch / epochs  # settings finished, counting this one's epochs
            left = elapsed / done * (len(names) - done)
            print(
                f"  {name} ({k + 1}/{len(names)}): epoch {epoch}/{epochs}, {time.perf_counter() - start:.0f} s; "
                f"about {left:.0f} s left for the demo",
                flush=True,
            )

        nlp = train_setting(decoder, SETTINGS[name], train, epochs, seed, on_epoch=progress)
        right = None if conll03_dir else score(nlp, test, sorted(set(RIGHT_CUES.values())))
        left = None if conll03_dir else score(nlp, test, sorted(set(LEFT_CUES.values())))
        results[name] = {
            "f1_right": right,
            "f1_left": left,
            "f1": score(nlp, test),
            "seconds": time.perf_counter() - start,
        }
        print(f"  {name}: {format_row(name, results[name])}", flush=True)
    write_outputs(output, results, corpus_name)
    return results


def pct(value: Optional[float]) -> str:
    return "–" if value is None else f"{100 * value:.1f}"


def format_row(name: str, r: Dict[str, Optional[float]]) -> str:
    return (
        f"F1 right-context {pct(r['f1_right'])}, left-context {pct(r['f1_left'])}, "
        f"all {pct(r['f1'])} ({r['seconds']:.1f}s)"
    )


def write_outputs(output: Path, results: Dict[str, Dict[str, Optional[float]]], corpus_name: str) -> None:
    lines = [
        f"# Demo: {corpus_name}",
        "",
        "Test micro-F1 (strict IOB2). Right-context labels are decided by the word after the name,",
        "left-context labels by the word before it.",
        "",
        "| setting | F1 right-context | F1 left-context | F1 all | seconds |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {n} | {pct(r['f1_right'])} | {pct(r['f1_left'])} | {pct(r['f1'])} | {r['seconds']:.1f} |"
        for n, r in results.items()
    ]
    table = "\n".join(lines) + "\n"
    (output / "demo.md").write_text(table)
    (output / "demo.json").write_text(json.dumps(results, indent=2) + "\n")
    print()
    print(table)
    plot(output / "demo.png", results)
    print(f"Wrote {output / 'demo.md'}, {output / 'demo.json'} and {output / 'demo.png'}")


def plot(path: Path, results: Dict[str, Dict[str, Optional[float]]]) -> None:
    from .plots import _pyplot

    plt = _pyplot()
    names = list(results)
    fig, ax = plt.subplots(figsize=(1.4 * len(names) + 2, 3.6))
    series = [("f1_right", "right-context labels"), ("f1_left", "left-context labels"), ("f1", "all labels")]
    series = [(k, label) for k, label in series if any(results[n][k] is not None for n in names)]
    width = 0.8 / len(series)
    for i, (key, label) in enumerate(series):
        xs = [x + (i - (len(series) - 1) / 2) * width for x in range(len(names))]
        ax.bar(xs, [100 * (results[n][key] or 0.0) for n in names], width=width, label=label)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylim(0, 100)
    ax.set_ylabel("test micro-F1")
    ax.set_title("A causal decoder (r0) cannot label what depends on words to its right")
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.experiments.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--output", type=Path, default=Path("metrics"))
    parser.add_argument("--train", type=int, default=600)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--settings", default=",".join(SETTINGS), help=f"comma-separated, from {', '.join(SETTINGS)}")
    parser.add_argument("--conll03-dir", default="", help="use real CoNLL-2003 files from this folder instead")
    parser.add_argument(
        "--decoder-dir",
        type=Path,
        default=None,
        help="where the tiny decoder is built (and reused); default OUTPUT/demo-decoder",
    )
    args = parser.parse_args(argv)
    settings = [s for s in args.settings.split(",") if s]
    unknown = [s for s in settings if s not in SETTINGS]
    if unknown:
        parser.error(f"unknown setting(s) {unknown}: use {', '.join(SETTINGS)}")
    run_demo(
        args.output,
        n_train=args.train,
        n_test=args.test,
        epochs=args.epochs,
        seed=args.seed,
        settings=settings,
        conll03_dir=Path(args.conll03_dir) if args.conll03_dir else None,
        decoder_dir=args.decoder_dir,
    )


if __name__ == "__main__":
    main()
