"""python -m spacy_repsl.benchmark.defaults: what a pipeline loaded with `spacy.load` and used
with nothing tuned gets from folding LoRA into the base weights for prediction.

The setting of issue 13's measurement: a random 8-layer, 256-wide Llama with LoRA (fp32, no
quantization), a pipeline saved and loaded back, 256 texts of 8-30 words, `nlp.pipe(texts,
batch_size=256)`. Folding on and off take turns in one process (alternating order each round);
each keeps its fastest round. Writes the section 'defaults' of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from . import training_step
from .sections import write_section
from .timing import rates, ratio_table

GRID = [(size, tokens) for size in (32, 256, 1000) for tokens in (None, 256, 1024, 2048, 8192)]
WORDS = "the a John Paris lives works in for Acme Corp said today Berlin people news met and".split()


def hand_written(model_dir: str, texts: Sequence[str], repetitions: int, n_labels: int, batch_size: int = 32):
    """What a careful engineer writes instead: fast tokenizer, texts sorted by length, batches
    of 32, `AutoModelForTokenClassification`, argmax; with r > 0 the ids repeated r + 1 times
    (BOS once) and the labels read from the last copy. Returns a function that runs it all."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForTokenClassification.from_pretrained(
        model_dir, num_labels=n_labels, attn_implementation="sdpa"
    ).eval()
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0

    def run() -> List[Any]:
        ids = tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        labels: List[Any] = [None] * len(ids)
        with torch.inference_mode():
            for b in range(0, len(order), batch_size):
                chunk = order[b : b + batch_size]
                rows = [bos + ids[i] * (repetitions + 1) for i in chunk]
                width = max(len(r) for r in rows)
                input_ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
                mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
                predicted = model(input_ids=input_ids, attention_mask=mask).logits.argmax(-1)
                for row, i in enumerate(chunk):
                    end = len(rows[row])
                    labels[i] = predicted[row, end - len(ids[i]) : end].tolist()
        return labels

    run()  # warm-up
    return run


def versus_hand_written(path: Path, texts: Sequence[str], rounds: int) -> Dict[int, Dict[str, float]]:
    """Our default `nlp.pipe(texts)` on a `spacy.load`-ed pipeline vs the hand-written loop, for r = 0, 1."""
    import spacy
    from spacy.training import Example

    out: Dict[int, Dict[str, float]] = {}
    words = sum(len(t.split()) for t in texts)
    for r in (0, 1):
        nlp = spacy.blank("en")
        nlp.add_pipe(
            "repsl_tagger",
            config={
                "model": {
                    "@architectures": "spacy-repsl.DecoderTagger.v1",
                    "name": str(path),
                    "quantization": None,
                    "repetitions": r,
                }
            },
        )
        example = [Example.from_dict(nlp.make_doc("John lives in Paris ."), {"entities": [(0, 4, "PER")]})]
        optimizer = nlp.initialize(lambda: example)  # noqa: B023 (called at once, in this iteration)
        nlp.update(example, sgd=optimizer)
        nlp.to_disk(path.parent / f"pipeline-r{r}")
        nlp = spacy.load(path.parent / f"pipeline-r{r}")
        list(nlp.pipe(texts[:8]))
        tagger: Any = nlp.get_pipe("repsl_tagger")
        loop = hand_written(str(path), texts, r, len(tagger.tag_names))
        times: Dict[str, List[float]] = {"ours": [], "hand": []}
        for i in range(rounds):
            for name in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
                start = time.perf_counter()
                list(nlp.pipe(texts)) if name == "ours" else loop()
                times[name].append(time.perf_counter() - start)
        out[r] = rates(times, words)
    return out


def read_rows_gain(path: Path, texts: Sequence[str], rounds: int) -> Dict[int, Dict[str, float]]:
    """Prediction words/s with the last layer's MLP on read rows only ("ours") and on every row
    ("hand", the reference side of `rates`), at r = 0, 1 and 2, taking turns each round."""
    import spacy

    from ..models import fast_paths

    out: Dict[int, Dict[str, float]] = {}
    words = sum(len(t.split()) for t in texts)
    for r in (0, 1, 2):
        nlp = spacy.load(
            path.parent / "pipeline",
            config={
                "components.repsl_tagger.model.repetitions": r,
                "components.repsl_tagger.accept_changes": ["repetitions"],
            },
        )
        list(nlp.pipe(texts[:8]))
        times: Dict[str, List[float]] = {"ours": [], "hand": []}
        for i in range(rounds):
            for name in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
                fast_paths.FAST_PATHS["read_rows"] = name == "ours"
                start = time.perf_counter()
                list(nlp.pipe(texts))
                times[name].append(time.perf_counter() - start)
        fast_paths.FAST_PATHS["read_rows"] = True
        out[r] = rates(times, words)
    return out


def sample_texts(n: int = 256) -> List[str]:
    rng = random.Random(0)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 30))) for _ in range(n)]


def shim_gain(path: Path, texts: Sequence[str], rounds: int, batch_size: int = 8) -> Dict[int, Dict[str, float]]:
    """Training words/s of `nlp.update` with our shim ("ours": trainable parameters found once,
    modes switched only when needed, see models/shim.py) against thinc's stock `PyTorchShim` path
    ("hand"), same pipeline, same batches, taking turns; at r = 0 and 1."""
    from ..models import fast_paths

    records = training_step.annotated_texts(texts)
    batches = [list(range(b, min(b + batch_size, len(records)))) for b in range(0, len(records), batch_size)]
    words = sum(len(t.split()) for t in texts)
    out: Dict[int, Dict[str, float]] = {}
    for r in (0, 1):
        step = training_step.ours(str(path), records, r)
        step(batches[0])
        times: Dict[str, List[float]] = {"ours": [], "hand": []}
        for i in range(rounds):
            for name in ("ours", "hand") if i % 2 == 0 else ("hand", "ours"):
                fast_paths.FAST_PATHS["eval_once"] = name == "ours"
                start = time.perf_counter()
                for batch in batches:
                    step(batch)
                times[name].append(time.perf_counter() - start)
        fast_paths.FAST_PATHS["eval_once"] = True
        out[r] = rates(times, words)
    return out


def measure_versus(model: Path, rounds: int, docs: int, train_batch_sizes: Sequence[int]) -> Dict[str, Any]:
    """Only the comparisons with what a user writes instead (prediction, and training at each
    batch size), on a given checkpoint (e.g. the converted SmolLM2-135M: real vocabulary and depth)."""
    texts = sample_texts(docs)
    with tempfile.TemporaryDirectory() as tmp:
        # the pipelines are saved beside the model: keep them out of the user's folder
        link = Path(tmp) / "model"
        link.symlink_to(Path(model).resolve(), target_is_directory=True)
        hand = versus_hand_written(link, texts, rounds)
        training = {
            size: training_step.versus_hand_written(link, texts, rounds, batch_size=size) for size in train_batch_sizes
        }
        shim = shim_gain(link, texts, rounds)
    return {"hand": hand, "training": training, "shim": shim}


def measure(rounds: int) -> Dict[str, Any]:
    import spacy
    from spacy.training import Example

    from ..decoder.tiny import build_tiny_decoder
    from ..models import fast_paths

    texts = sample_texts()
    with tempfile.TemporaryDirectory() as tmp:
        path = build_tiny_decoder("llama", Path(tmp) / "llama", texts=texts, num_layers=8, hidden_size=256)
        # Once while the process is as fresh as a user's, and again after the grid: its
        # 8192-token passes free large blocks, after which glibc keeps big allocations on its
        # heap instead of mapping fresh pages, and passes of ~1000 tokens (the hand loop's) get
        # faster. Both are reported.
        hand = versus_hand_written(path, texts, rounds)
        nlp = spacy.blank("en")
        nlp.add_pipe(
            "repsl_tagger",
            config={
                "model": {"@architectures": "spacy-repsl.DecoderTagger.v1", "name": str(path), "quantization": None}
            },
        )
        example = [Example.from_dict(nlp.make_doc("John lives in Paris ."), {"entities": [(0, 4, "PER")]})]
        optimizer = nlp.initialize(lambda: example)  # noqa: B023 (called at once, in this iteration)
        nlp.update(example, sgd=optimizer)
        nlp.to_disk(Path(tmp) / "pipeline")
        nlp = spacy.load(Path(tmp) / "pipeline")
        tagger: Any = nlp.get_pipe("repsl_tagger")
        grid_best = {cell: float("inf") for cell in GRID}
        for i in range(rounds):
            for size, tokens in GRID if i % 2 == 0 else GRID[::-1]:
                tagger.model.attrs["max_batch_tokens"] = tokens
                start = time.perf_counter()
                list(nlp.pipe(texts, batch_size=size))
                grid_best[(size, tokens)] = min(grid_best[(size, tokens)], time.perf_counter() - start)
        tagger.model.attrs["max_batch_tokens"] = None
        best = {True: float("inf"), False: float("inf")}
        for i in range(rounds):
            for fold in (True, False) if i % 2 == 0 else (False, True):
                fast_paths.FAST_PATHS["fold_adapters"] = fold
                list(nlp.pipe(texts[:8]))  # warm-up, and the fold or unfold happens here
                start = time.perf_counter()
                list(nlp.pipe(texts, batch_size=256))
                best[fold] = min(best[fold], time.perf_counter() - start)
        fast_paths.FAST_PATHS["fold_adapters"] = True
        read_rows = read_rows_gain(path, texts, rounds)
        hand_after_grid = versus_hand_written(path, texts, rounds)
        training = {size: training_step.versus_hand_written(path, texts, rounds, batch_size=size) for size in (8, 32)}
        shim = shim_gain(path, texts, rounds)
    words = sum(len(t.split()) for t in texts)
    return {
        "folded": words / best[True],
        "separate": words / best[False],
        "hand": hand,
        "hand_after_grid": hand_after_grid,
        "training": training,
        "shim": shim,
        "read_rows": read_rows,
        "grid": {cell: words / seconds for cell, seconds in grid_best.items()},
    }


def training_lines(training: Dict[int, Dict], shim: Dict[int, Dict[str, float]]) -> List[str]:
    """Markdown: ours vs the transformers + peft step per batch size, then ours vs thinc's stock shim."""
    lines: List[str] = []
    for size, result in training.items():
        lines += [f"Batches of {size}:", "", *ratio_table(result, "transformers + peft step"), ""]
    return lines + [
        "Where per-step time outside the model went (batches of 8): `nlp.update` with our thinc shim (trainable "
        "parameters found once, no module-tree walks per step: `spacy_repsl/models/shim.py`) against thinc's stock "
        "`PyTorchShim` path, same pipeline and batches, taking turns:",
        "",
        *ratio_table(shim, "thinc's stock shim"),
    ]


def grid_table(grid: Dict) -> List[str]:
    sizes = sorted({s for s, _ in grid})
    budgets = list(dict.fromkeys(t for _, t in grid))

    def name(t):
        return "auto (CPU: 512)" if t is None else str(t)

    top = max(grid.values())
    lines = [
        "| batch_size \\ max_batch_tokens | " + " | ".join(name(t) for t in budgets) + " |",
        "|---" * (len(budgets) + 1) + "|",
    ]
    for size in sizes:
        lines.append(
            f"| {size} | " + " | ".join(f"{grid[(size, t)]:.0f} ({grid[(size, t)] / top:.2f})" for t in budgets) + " |"
        )
    return lines


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.benchmark.defaults",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--output", type=Path, default=Path("BENCHMARKS.md"))
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help="a checkpoint directory (e.g. project/assets/smollm2-135m, the real SmolLM2-135M): only the "
        "comparisons with the hand-written loop and the transformers + peft step, on it (own section)",
    )
    parser.add_argument("--docs", type=int, default=64, help="with --model: texts per round")
    args = parser.parse_args(argv)
    from .engines import where

    if args.model is not None:
        if not (args.model / "config.json").is_file():
            parser.error(f"--model {args.model} is not a checkpoint directory (no config.json)")
        versus = measure_versus(args.model, args.rounds, args.docs, (8, 32))
        text = "\n".join(
            [
                f"## Defaults on a given checkpoint: {args.model.name}",
                "",
                f"Measured with `python -m spacy_repsl.benchmark.defaults --model {args.model} --docs {args.docs} --rounds "
                f"{args.rounds}` on {where()}: the checkpoint as it is (unquantized fp32, LoRA r 16 / alpha 16 / dropout 0.1, "
                f"head dropout 0.1 on both sides), {args.docs} texts of 8-30 words, both sides taking turns in one process. "
                "Prediction: our `nlp.pipe(texts)` on a `spacy.load`-ed pipeline against the hand-written loop described "
                "in the section above:",
                "",
                *ratio_table(versus["hand"], "hand-written loop"),
                "",
                "Training: `nlp.update` against the transformers + peft step, one epoch per round.",
                "",
                *training_lines(versus["training"], versus["shim"]),
                "",
            ]
        )
        write_section(args.output, f"defaults-{args.model.name}", text)
        print(text)
        return
    result = measure(args.rounds)

    text = "\n".join(
        [
            "## Defaults: LoRA folded for prediction",
            "",
            f"Measured with `python -m spacy_repsl.benchmark.defaults --rounds {args.rounds}` on {where()}: a random "
            "8-layer, 256-wide Llama with LoRA adapters (fp32), saved and loaded with `spacy.load`, 256 texts of 8-30 "
            "words, `nlp.pipe(texts, batch_size=256)`, both settings taking turns in one process, fastest round each.",
            "",
            "| prediction | words/s | relative |",
            "|---|---|---|",
            f"| adapters folded into the base weights (default) | {result['folded']:.0f} | "
            f"{result['folded'] / result['separate']:.2f} |",
            f"| adapters kept separate (before) | {result['separate']:.0f} | 1.00 |",
            "",
            "The last layer's feed-forward block computed only for the rows that are read (`decoder/read_rows.py`: "
            "not BOS, padding, earlier copies or later pieces of a word) against every row, same pipeline:",
            "",
            "| r | read rows only, words/s | every row, words/s | ratio (fastest rounds) | median of per-round ratios |",
            "|---|---|---|---|---|",
            *[
                f"| {r} | {v['ours']:.0f} | {v['hand']:.0f} | {v['ours'] / v['hand']:.2f} | {v['median_ratio']:.2f} |"
                for r, v in result["read_rows"].items()
            ],
            "",
            "Words/s of the folded pipeline over `nlp.pipe` batch sizes and `max_batch_tokens` (the default, `null`, "
            "is 512 padded subwords per forward pass on the CPU), and relative to the best cell:",
            "",
            *grid_table(result["grid"]),
            "",
            "Against what a user would write instead (fast tokenizer, texts sorted by length, batches of 32, "
            "`AutoModelForTokenClassification` forward, argmax; for r = 1 the ids repeated with BOS once and the "
            "labels read from the last copy): our `nlp.pipe(texts)` on the pipeline loaded with `spacy.load`, nothing "
            "tuned (spaCy tokenization, alignment, strict IOB2 decoding and Span creation included):",
            "",
            *ratio_table(result["hand"], "hand-written loop"),
            "",
            "The same comparison later in the same process, after the grid above (its 8192-token passes leave "
            "glibc's heap keeping large blocks instead of mapping fresh pages for them, which makes passes of about "
            "1000 tokens, the hand loop's, cheaper than in a fresh process; our default passes are 512 tokens):",
            "",
            *ratio_table(result["hand_after_grid"], "hand-written loop"),
            "",
            "Training, against the step a user would write with transformers + peft instead "
            "(`spacy_repsl/benchmark/training_step.py`: the same batches of 32 in the same order, the same LoRA "
            "settings, the configs' Adam settings, first piece of each word labelled, gradient clipping): "
            "`nlp.update(batch, sgd=optimizer)`, gold-tag alignment and thinc's optimizer included, one epoch of "
            "the 256 texts per round, in batches of 8 (where per-step work outside the model weighs most) and of 32:",
            "",
            *training_lines(result["training"], result["shim"]),
        ]
    )
    write_section(args.output, "defaults", text)
    print(text)


if __name__ == "__main__":
    main()
