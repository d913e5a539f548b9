"""The shared decoder's multi-task check (issue 36) on real CoNLL-2003:

    python -m spacy_repsl.experiments.multitask DATA_DIR OUTPUT_DIR --decoder DECODER [--train 1000]

One decoder (`repsl_decoder`, exit 15 and r = 1 by default: the real table's best setting)
feeding spaCy's `ner`, `tagger` (the POS column) and `spancat` (the chunk column, key "chunks"),
trained jointly, against each task alone on its own decoder and against `repsl_tagger`
(`configs/lora_cpu.cfg`): the same training sentences, one pass each (steps of 8), model-last
scored on the test set; then prediction time of the three-task pipeline against the three
single-task ones on the same test sentences, taking turns. Each run trains through
`spacy_repsl.training` (resumable: run the command again after a kill); finished runs are
skipped. Writes OUTPUT_DIR/multitask.json and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TASKS = {"ner": "ents_f", "tagger": "tag_acc", "spancat": "spans_chunks_f"}
RUNS = {
    "joint": ["ner", "tagger", "spancat"],
    "ner": ["ner"],
    "tagger": ["tagger"],
    "spancat": ["spancat"],
    "repsl_tagger": None,
}


def run_config(
    components: Optional[Sequence[str]], decoder: str, exit_layer: Optional[int], repetitions: int, steps: int
) -> Any:
    """The config of one run: configs/shared_decoder.cfg cut to `components` (None:
    configs/lora_cpu.cfg's repsl_tagger), with the decoder settings and a one-pass budget."""
    from thinc.api import Config

    if components is None:
        config = Config().from_disk(CONFIGS / "lora_cpu.cfg", interpolate=False)
        model = config["components"]["repsl_tagger"]["model"]
        config["training"]["score_weights"] = {"ents_f": 1.0}
    else:
        config = Config().from_disk(CONFIGS / "shared_decoder.cfg", interpolate=False)
        config["nlp"]["pipeline"] = ["repsl_decoder", *components]
        for name in ("ner", "tagger", "spancat", "textcat"):
            if name not in components:
                del config["components"][name]
        if "spancat" in components:
            config["components"]["spancat"]["spans_key"] = "chunks"
        config["training"]["score_weights"] = {TASKS[name]: 1.0 / len(components) for name in components}
        model = config["components"]["repsl_decoder"]["model"]
    model.update(exit_layer=exit_layer, repetitions=repetitions, bos="every")
    config["paths"]["decoder"] = decoder
    config["training"].update(max_epochs=0, max_steps=steps, eval_frequency=steps)
    return config


def test_scores(nlp: Any, docs: List[Any]) -> Dict[str, float]:
    from spacy.training import Example

    scores = nlp.evaluate([Example(nlp.make_doc(doc.text), doc) for doc in docs])
    return {key: scores[key] for key in ("ents_f", "tag_acc", "spans_chunks_f") if scores.get(key) is not None}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.experiments.multitask",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("data_dir", type=Path, help="CoNLL-2003 (train.txt, valid.txt, test.txt, four columns)")
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--decoder", required=True, help="the base: a local checkpoint or GGUF")
    parser.add_argument("--train", type=int, default=1000, help="training sentences (the first N)")
    parser.add_argument("--dev", type=int, default=500, help="dev sentences (the first N)")
    parser.add_argument("--test", type=int, default=0, help="test sentences (0: all 3,453)")
    parser.add_argument("--timing-docs", type=int, default=1000, help="test sentences for the prediction timing")
    parser.add_argument(
        "--timing-rounds",
        type=int,
        default=3,
        help="rounds of the prediction timing (pipelines take turns; the fastest round counts)",
    )
    parser.add_argument("--exit-layer", type=int, default=15)
    parser.add_argument("--repetitions", type=int, default=1)
    parser.add_argument("--runs", default=",".join(RUNS), help=f"comma-separated, of {', '.join(RUNS)}")
    args = parser.parse_args(argv)
    import spacy
    from spacy.tokens import DocBin

    from ..datasets import conll03
    from ..training import train_from_config
    from ..training.loop import RECORD_FILE

    out = args.output_dir
    corpus = out / "corpus"
    if not (corpus / "test.spacy").is_file():
        conversion = conll03.convert(args.data_dir)
        conversion.limit({"train": args.train, "dev": args.dev, **({"test": args.test} if args.test else {})})
        corpus.mkdir(parents=True, exist_ok=True)
        for split, docs in conversion.docs.items():
            DocBin(docs=docs, store_user_data=True).to_disk(corpus / f"{split}.spacy")
    nlp = spacy.blank("en")
    test_docs = list(DocBin().from_disk(corpus / "test.spacy").get_docs(nlp.vocab))
    n_train = len(DocBin().from_disk(corpus / "train.spacy"))
    steps = math.ceil(n_train / 8)
    results_path = out / "multitask.json"
    results: Dict[str, Any] = json.loads(results_path.read_text()) if results_path.is_file() else {}
    for name in [r for r in args.runs.split(",") if r]:
        if name in results.get("runs", {}):
            print(f"[{name}] done, skipped", flush=True)
            continue
        config = run_config(RUNS[name], args.decoder, args.exit_layer, args.repetitions, steps)
        config["paths"].update(train=str(corpus / "train.spacy"), dev=str(corpus / "dev.spacy"))
        config_path = out / "configs" / f"{name}.cfg"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config.to_disk(config_path)
        print(f"[{name}] training {steps} steps on {n_train} sentences", flush=True)
        train_from_config(config_path, out / "runs" / name)
        seconds = json.loads((out / "runs" / name / RECORD_FILE).read_text())["seconds"]
        trained = spacy.load(out / "runs" / name / "model-last")
        started = time.perf_counter()
        scores = test_scores(trained, test_docs)
        results.setdefault("runs", {})[name] = {
            "train_seconds": seconds,
            "test_seconds": time.perf_counter() - started,
            "scores": scores,
            "steps": steps,
            "train_docs": n_train,
        }
        results_path.write_text(json.dumps(results, indent=2) + "\n")
        print(f"[{name}] {scores} ({seconds:.0f} s training)", flush=True)
    if (
        all(name in results.get("runs", {}) for name in ("joint", "ner", "tagger", "spancat"))
        and "timing" not in results
    ):
        texts = [doc.text for doc in test_docs[: args.timing_docs]]
        pipelines = {
            name: spacy.load(out / "runs" / name / "model-last") for name in ("joint", "ner", "tagger", "spancat")
        }
        seconds = {name: [] for name in pipelines}
        names = list(pipelines)
        for round_ in range(args.timing_rounds):  # taking turns, the order rotated each round
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                started = time.perf_counter()
                for _ in pipelines[name].pipe(texts, batch_size=256):
                    pass
                seconds[name].append(time.perf_counter() - started)
        best = {name: min(times) for name, times in seconds.items()}
        words = sum(len(doc) for doc in test_docs[: args.timing_docs])
        results["timing"] = {
            "docs": len(texts),
            "words": words,
            "rounds": args.timing_rounds,
            "seconds": seconds,
            "three_single_over_joint": sum(best[n] for n in ("ner", "tagger", "spancat")) / best["joint"],
        }
        results_path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
