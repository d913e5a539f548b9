"""`python -m spacy_repsl.calibrate PIPELINE DEV TEST`: how well a repsl_tagger's entity scores are
calibrated, and a temperature fitted on dev (see `calibration`), written as metrics.

For each split: the predicted spans (strict or Viterbi decoding, as the pipeline is set), each
right when the gold has the same span with the same label, and the ECE and reliability bins of
the three score formulas of `confidence` (the component writes "path"), before and after the
temperature fitted on dev. Writes OUTPUT/NAME.json, NAME.md and NAME.png (a reliability diagram;
matplotlib, in the `project` extra). `--save DIR` writes the pipeline with the fitted temperature
(its cfg "temperature"; under strict decoding the spans do not change, only their scores; under
Viterbi a temperature can change them too, and is fitted with them).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy

from ..iob.calibration import (
    expected_calibration_error,
    fit_temperature,
    minimize_temperature,
    reliability_bins,
    softmax,
    span_log_loss,
)
from ..iob.confidence import SCORE_FORMULAS, span_scores
from ..iob.scoring import target_spans
from ..iob.tags import decode
from ..pipeline.tagger import repsl_tagger_of

N_BINS = 10


def read_docs(path: Path, nlp: Any) -> List[Any]:
    from spacy.tokens import DocBin

    if not path.is_file():
        raise FileNotFoundError(
            f"{path} does not exist: pass a .spacy file of annotated docs (e.g. corpus/conll03/dev.spacy)."
        )
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    if not docs:
        raise ValueError(f"{path} holds no docs: pass a .spacy file of annotated docs.")
    return docs


def split_logits(tagger: Any, gold_docs: Sequence[Any], batch_size: int = 32) -> Dict[str, Any]:
    """Per doc: logits [tokens, tags] on a copy without annotation, and gold tag ids (-1 missing)."""
    from spacy.tokens import Doc
    from spacy.training import Example
    from tqdm import tqdm

    names = tagger.tag_names
    index = {name: i for i, name in enumerate(names)}
    logits, gold = [], []
    for start in tqdm(
        range(0, len(gold_docs), batch_size), desc="predicting", unit="batch", leave=False, file=sys.stderr
    ):
        batch = gold_docs[start : start + batch_size]
        docs = [Doc(d.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]) for d in batch]
        logits += [numpy.asarray(x, dtype=numpy.float64) for x in _to_numpy(tagger.model.predict(docs))]
        gold += [
            numpy.array([index.get(t, -1) if t else -1 for t in tagger.gold_tags(Example(doc, ref))])
            for doc, ref in zip(docs, batch)
        ]
    return {"logits": logits, "gold": gold}


def _to_numpy(arrays: Sequence[Any]) -> List[numpy.ndarray]:
    from thinc.api import to_numpy

    return [to_numpy(a) for a in arrays]


def span_outcomes(
    tagger: Any,
    gold_docs: Sequence[Any],
    logits: Sequence[numpy.ndarray],
    temperature: float,
    formulas: Sequence[str] = tuple(SCORE_FORMULAS),
) -> Dict[str, Any]:
    """Per predicted span: its score under each formula, and whether the gold has it; and per doc,
    the decoded spans."""
    names, mode, target = tagger.tag_names, tagger.cfg["decoding"], tagger.cfg["target"]
    scores: Dict[str, List[float]] = {f: [] for f in formulas}
    correct: List[bool] = []
    decoded: List[list] = []
    for ref, doc_logits in zip(gold_docs, logits):
        probs = softmax(doc_logits, temperature)
        spans = decode(probs, names, mode)
        decoded.append(spans)
        gold = {(s.start, s.end, s.label_) for s in target_spans(ref, target)}
        correct += [span in gold for span in spans]
        for formula in formulas:
            scores[formula] += span_scores(probs, names, spans, formula).tolist()
    return {"scores": scores, "correct": correct, "spans": decoded}


def fit_span_temperature(
    tagger: Any, gold_docs: Sequence[Any], logits: Sequence[numpy.ndarray], at_one: Dict[str, Any]
) -> float:
    """The T whose path scores best predict, on these docs, whether each span is right (log-loss).
    at_one: `span_outcomes` of these docs at T = 1. Under strict decoding T never changes the
    spans, so those are used at every T; under Viterbi (which sums log-probabilities, so T can
    move a path) they are decoded again at every T. Raises ValueError when the dev spans cannot
    calibrate anything: none predicted, or all of them right or all wrong (the best T would be
    the search's edge)."""
    correct = at_one["correct"]
    if not correct:
        raise ValueError("The model predicts no span on the dev docs: there is nothing to calibrate.")
    if all(correct) or not any(correct):
        raise ValueError(
            f"Every span the model predicts on the dev docs is {'right' if all(correct) else 'wrong'} "
            f"({len(correct)} spans): scores cannot be calibrated against that (the fitted temperature "
            "would be the search's edge). Use a dev set with gold annotation the model gets partly right."
        )
    if tagger.cfg["decoding"] == "strict":
        names, decoded = tagger.tag_names, at_one["spans"]

        def loss(t: float) -> float:
            return span_log_loss(
                [x for z, spans in zip(logits, decoded) for x in span_scores(softmax(z, t), names, spans).tolist()],
                correct,
            )
    else:

        def loss(t: float) -> float:
            again = span_outcomes(tagger, gold_docs, logits, t, formulas=("path",))
            return span_log_loss(again["scores"]["path"], again["correct"])

    return minimize_temperature(loss)


def summarize(outcomes: Dict[str, Any]) -> Dict[str, Any]:
    correct = outcomes["correct"]
    return {
        "spans": len(correct),
        "precision": float(numpy.mean(correct)) if correct else 0.0,
        **{
            formula: {
                "ece": expected_calibration_error(s, correct, N_BINS),
                "bins": [b.__dict__ for b in reliability_bins(s, correct, N_BINS)],
            }
            for formula, s in outcomes["scores"].items()
        },
    }


def calibrate(pipeline: Path, dev: Path, test: Path, component: Optional[str] = None) -> Dict[str, Any]:
    """The calibration report of `component` (a repsl_tagger's name; None: the only one). Raises
    ValueError for a missing or ambiguous component and for dev data without spans."""
    import spacy

    nlp = spacy.load(pipeline)
    tagger = repsl_tagger_of(nlp, component)
    saved_temperature = float(tagger.cfg.get("temperature", 1.0))
    splits = {"dev": read_docs(dev, nlp), "test": read_docs(test, nlp)}
    raw = {name: split_logits(tagger, docs) for name, docs in splits.items()}
    dev_logits = numpy.concatenate(raw["dev"]["logits"])
    dev_gold = numpy.concatenate(raw["dev"]["gold"])
    known = dev_gold >= 0
    token_temperature = fit_temperature(dev_logits[known], dev_gold[known])
    dev_at_one = span_outcomes(tagger, splits["dev"], raw["dev"]["logits"], 1.0)
    temperature = fit_span_temperature(tagger, splits["dev"], raw["dev"]["logits"], dev_at_one)
    report: Dict[str, Any] = {
        "pipeline": str(pipeline),
        "dev": str(dev),
        "test": str(test),
        "bins": N_BINS,
        "saved_temperature": saved_temperature,
        "fitted_temperature": temperature,
        "token_nll_temperature": token_temperature,
        "splits": {},
    }
    for name, docs in splits.items():
        report["splits"][name] = {
            label: summarize(
                dev_at_one if name == "dev" and t == 1.0 else span_outcomes(tagger, docs, raw[name]["logits"], t)
            )
            for label, t in (("T=1", 1.0), ("fitted", temperature), ("token-nll", token_temperature))
        }
    report["_nlp"] = nlp
    return report


def markdown(report: Dict[str, Any], name: str) -> str:
    t, tok = report["fitted_temperature"], report["token_nll_temperature"]
    lines = [
        f"# Calibration of {name}",
        "",
        f"Pipeline `{report['pipeline']}`; dev `{report['dev']}`, test `{report['test']}`; ECE over "
        f"{report['bins']} equal-width bins. Temperatures fitted on dev: T = {t:.3f} for the entity scores "
        f"(log-loss of span correctness; what `--save` writes), T = {tok:.3f} for the gold tags' likelihood "
        "(Guo et al.).",
        "",
        "| split | temperature | spans | precision | ECE path | ECE mean | ECE min |",
        "|---|---|---|---|---|---|---|",
    ]
    names = {"T=1": "1", "fitted": f"{t:.3f} (spans)", "token-nll": f"{tok:.3f} (tags)"}
    for split, by_t in report["splits"].items():
        for label, s in by_t.items():
            lines.append(
                f"| {split} | {names[label]} | {s['spans']} | {s['precision']:.3f} | {s['path']['ece']:.4f} | "
                f"{s['mean']['ece']:.4f} | {s['min']['ece']:.4f} |"
            )
    return "\n".join(lines) + "\n"


def plot(report: Dict[str, Any], path: Path, name: str) -> Optional[Path]:
    """Reliability diagram of the path score on test, before and after the temperature."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install -e '.[project]'): no reliability plot.", file=sys.stderr)
        return None
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for label, style in (("T=1", "o-"), ("fitted", "s-")):
        summary = report["splits"]["test"][label]
        bins = summary["path"]["bins"]
        t = 1.0 if label == "T=1" else report["fitted_temperature"]
        ax.plot(
            [b["mean_score"] for b in bins],
            [b["accuracy"] for b in bins],
            style,
            label=f"T = {t:.2f}: ECE {summary['path']['ece']:.3f}",
        )
    ax.set(
        xlabel="entity score (path probability)",
        ylabel="fraction right",
        xlim=(0, 1),
        ylim=(0, 1),
        title=f"{name}: test",
    )
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def report_name(pipeline: Path, name: Optional[str]) -> str:
    """The report's file name (without suffix): `name`, or the pipeline path's last four parts
    joined by "-" (the root left out, so /tmp/pipe gives "tmp-pipe", never a path at the root).

    Raises ValueError for a name that is not a single file name."""
    if name is None:
        resolved = pipeline.resolve()
        name = "-".join(part for part in resolved.parts[-4:] if part != resolved.anchor) or "pipeline"
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise ValueError(f"--name {name!r} is not a file name: give a name without '/' (the folder is --output).")
    return name


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.calibrate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("pipeline", type=Path)
    parser.add_argument("dev", type=Path, help="annotated .spacy docs the temperature is fitted on")
    parser.add_argument("test", type=Path, help="annotated .spacy docs it is checked on")
    parser.add_argument("--output", type=Path, default=Path("metrics/calibration"), help="folder of the report")
    parser.add_argument("--name", default=None, help="report name (default: from the pipeline path)")
    parser.add_argument("--save", type=Path, default=None, help="write the pipeline with the fitted temperature here")
    parser.add_argument("--overwrite", action="store_true", help="let --save replace an existing folder")
    parser.add_argument(
        "--component",
        default=None,
        help="the repsl_tagger to calibrate, by name (required when the pipeline has several)",
    )
    args = parser.parse_args(argv)
    if args.save is not None and args.save.exists() and not args.overwrite:
        print(
            f"calibrate: {args.save} exists; pass --overwrite to replace it (the pipeline is written whole, "
            "never half), or --save a new folder.",
            file=sys.stderr,
        )
        return 1
    try:
        name = report_name(args.pipeline, args.name)  # checked before the predictions, not after
        report = calibrate(args.pipeline, args.dev, args.test, args.component)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"calibrate: {error}", file=sys.stderr)
        return 1
    nlp = report.pop("_nlp")
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / f"{name}.json").write_text(json.dumps(report, indent=2))
    (args.output / f"{name}.md").write_text(markdown(report, name))
    plot(report, args.output / f"{name}.png", name)
    print(markdown(report, name))
    if args.save is not None:
        from ..pipeline.saving import save_pipeline

        repsl_tagger_of(nlp, args.component).cfg["temperature"] = report["fitted_temperature"]
        save_pipeline(nlp, args.save)
        print(f"Saved the pipeline with temperature {report['fitted_temperature']:.3f} to {args.save}")
    return 0
