"""Tables like the papers': methods x datasets (Table 1), the r-sweep (Table 5), early-exit
speed-ups (Table 2) and the layer-group sweep, as Markdown and JSON."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .grid import BASELINE_CONFIGS, ENCODER_METHOD
from .stats import format_mean_ci, mean_ci

DATASET_ORDER = ("conll03", "rest14", "nlupp", "ace05")


def collect(metrics: Sequence[Dict[str, Any]], split: str = "test") -> Dict[Tuple[str, str, str], List[float]]:
    """(model, method, dataset) -> the F1 of each seed."""
    values: Dict[Tuple[str, str, str], List[float]] = defaultdict(list)
    for m in metrics:
        f = m[split]["f"]
        values[(m["run"]["model"], m["run"]["method"], m["run"]["dataset"])].append(f or 0.0)
    return values


def _order(methods) -> List[str]:
    def key(method: str):
        if match := re.fullmatch(r"r(\d+)", method):
            return (0, int(match[1]), "")
        if method in ("middle", "full"):
            return (1, 0, method)
        if match := re.fullmatch(r"exit(\d+)-r(\d+)", method):
            return (2, int(match[1]) * 1000 + int(match[2]), "")
        return (3, 0, method)

    return sorted(set(methods), key=key)


def _datasets(values) -> List[str]:
    present = {d for (_, _, d) in values}
    return [d for d in DATASET_ORDER if d in present] + sorted(present - set(DATASET_ORDER))


def run_rows(metrics: Sequence[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """One row per (dataset, model, method): test F1 over its seeds with a 95% CI (t over seeds when
    there are two or more, else the single run's bootstrap over test documents), and time per run."""
    groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]] = defaultdict(list)
    for m in metrics:
        groups[(m["run"]["dataset"], m["run"]["model"], m["run"]["method"])].append(m)
    rows = []
    for (dataset, model, method), runs in groups.items():
        f1s = [r["test"]["f"] or 0.0 for r in runs]
        mean, half = mean_ci(f1s)
        if half is not None:
            ci, kind = (mean - half, mean + half), "seeds"
        else:
            ci, kind = tuple(runs[0]["test"].get("f_ci95") or (None, None)), "bootstrap"
        trains = [r["train_seconds"] for r in runs if r.get("train_seconds") is not None]
        tests = [r["test"]["seconds"] for r in runs if r["test"].get("seconds") is not None]
        rows.append(
            {
                "dataset": dataset,
                "model": model,
                "method": method,
                "seeds": sorted(r["run"]["seed"] for r in runs),
                "f": mean,
                "ci95": list(ci),
                "ci_kind": kind,
                "train_seconds": sum(trains) / len(trains) if trains else None,
                "test_seconds": sum(tests) / len(tests) if tests else None,
                "test_docs": runs[0]["test"].get("docs"),
                "dev_f": mean_ci([r["dev"]["f"] or 0.0 for r in runs])[0],
            }
        )
    for row in rows:
        row["vs_r0"] = versus_r0(groups, row)
    order = {d: i for i, d in enumerate(_datasets({(0, 0, r["dataset"]): 0 for r in rows}))}
    methods = _order(r["method"] for r in rows)
    return sorted(rows, key=lambda r: (order[r["dataset"]], row_kind(r), r["model"], methods.index(r["method"])))


def row_kind(row: Dict[str, Any]) -> int:
    """0 a decoder's method, 1 a fine-tuned encoder, 2 spaCy's own ner or spancat: the order of the tables."""
    return 2 if row["model"] in BASELINE_CONFIGS else 1 if row["method"] == ENCODER_METHOD else 0


def curve_rows(metrics: Sequence[Dict[str, Any]]) -> Dict[Tuple[str, int, str, str], List[Dict[str, Any]]]:
    """Learning curves: (base dataset, test docs, model, method) -> one point per training size,
    sorted by size: {"train_docs", "f" (mean over seeds), "ci95", "train_seconds"}. Only runs
    scored on the same test set share a curve (conll03-1k ... conll03-full against the full test
    set; the 1,000-sentence table's runs have their own test subset), and only curves of two or
    more sizes are kept."""
    from .grid import base_dataset

    groups: Dict[Tuple[str, int, str, str, int], List[Dict[str, Any]]] = defaultdict(list)
    for m in metrics:
        if m.get("train_docs") and m["test"].get("docs"):
            run = m["run"]
            groups[
                (base_dataset(run["dataset"]), m["test"]["docs"], run["model"], run["method"], m["train_docs"])
            ].append(m)
    curves: Dict[Tuple[str, int, str, str], List[Dict[str, Any]]] = defaultdict(list)
    for (dataset, test_docs, model, method, size), runs in groups.items():
        mean, half = mean_ci([r["test"]["f"] or 0.0 for r in runs])
        ci = [mean - half, mean + half] if half is not None else list(runs[0]["test"].get("f_ci95") or (None, None))
        trains = [r["train_seconds"] for r in runs if r.get("train_seconds") is not None]
        curves[(dataset, test_docs, model, method)].append(
            {"train_docs": size, "f": mean, "ci95": ci, "train_seconds": sum(trains) / len(trains) if trains else None}
        )
    return {key: sorted(points, key=lambda p: p["train_docs"]) for key, points in curves.items() if len(points) > 1}


def curve_table(curves: Dict[Tuple[str, int, str, str], List[Dict[str, Any]]]) -> List[str]:
    """Markdown: per curve, test F1 (and train seconds) at each training size."""
    sizes = sorted({p["train_docs"] for points in curves.values() for p in points})
    lines = [
        "| dataset | model | method | " + " | ".join(f"{n:,} sentences" for n in sizes) + " |",
        "|---" * (len(sizes) + 3) + "|",
    ]
    for (dataset, _, model, method), points in sorted(curves.items()):
        at = {p["train_docs"]: p for p in points}
        cells = [
            f"{100 * at[n]['f']:.2f} ({at[n]['train_seconds']:.0f} s)"
            if n in at and at[n]["train_seconds"]
            else f"{100 * at[n]['f']:.2f}"
            if n in at
            else "–"
            for n in sizes
        ]
        lines.append(f"| {dataset} | {Path(model).name or model} | {method} | " + " | ".join(cells) + " |")
    return lines


def versus_r0(groups: Dict[Tuple[str, str, str], List[Dict[str, Any]]], row: Dict[str, Any]) -> Optional[List[float]]:
    """[F1 - F1 of r0, low, high]: the run against the same model's r0 on the same test documents
    (first seed both have), paired bootstrap (`stats.paired_bootstrap_diff_ci`); None without one."""
    from .stats import paired_bootstrap_diff_ci

    if row["method"] == "r0" or row["model"] in BASELINE_CONFIGS:
        return None
    mine = {r["run"]["seed"]: r for r in groups[(row["dataset"], row["model"], row["method"])]}
    reference = {r["run"]["seed"]: r for r in groups.get((row["dataset"], row["model"], "r0"), [])}
    for seed in sorted(set(mine) & set(reference)):
        a, b = mine[seed]["test"].get("doc_counts"), reference[seed]["test"].get("doc_counts")
        if a and b and len(a) == len(b):
            return list(paired_bootstrap_diff_ci(a, b))
    return None


def run_table(rows: Sequence[Dict[str, Any]]) -> List[str]:
    lines = [
        "| dataset | model | method | seeds | test F1 | 95% CI | vs r0 (paired 95% CI) | dev F1 | train s/run | test s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        low, high = r["ci95"]
        ci = f"{100 * low:.1f}–{100 * high:.1f} ({r['ci_kind']})" if low is not None else "–"
        diff = r.get("vs_r0")
        vs = f"{100 * diff[0]:+.1f} ({100 * diff[1]:+.1f} to {100 * diff[2]:+.1f})" if diff else "–"
        seconds = [f"{x:.0f}" if x is not None else "–" for x in (r["train_seconds"], r["test_seconds"])]
        lines.append(
            f"| {r['dataset']} | {Path(r['model']).name or r['model']} | {r['method']} | "
            f"{','.join(map(str, r['seeds']))} | {100 * r['f']:.2f} | {ci} | {vs} | {100 * r['dev_f']:.2f} | "
            f"{seconds[0]} | {seconds[1]} |"
        )
    return lines


def method_table(values, model: str, methods: Sequence[str], datasets: Sequence[str]) -> List[str]:
    lines = ["| method | " + " | ".join(datasets) + " | Avg |", "|---" * (len(datasets) + 2) + "|"]
    for method in methods:
        cells, means = [], []
        for dataset in datasets:
            seeds = values.get((model, method, dataset))
            cells.append(format_mean_ci(seeds) if seeds else "–")
            if seeds:
                means.append(mean_ci(seeds)[0])
        avg = f"{100 * sum(means) / len(means):.2f}" if means and len(means) == len(datasets) else "–"
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {avg} |")
    return lines


def sweep_rows(dev, test, model: str, dataset: str) -> Tuple[List[Dict[str, Any]], Optional[str]]:
    rows = []
    for (m, method, d), seeds in dev.items():
        if m == model and d == dataset and method.startswith("groups:"):
            rows.append({"config": method, "dev": mean_ci(seeds)[0], "test": mean_ci(test[(m, method, d)])[0]})
    rows.sort(key=lambda r: r["config"])
    best = max(rows, key=lambda r: r["dev"])["config"] if rows else None  # chosen on dev, never on test
    return rows, best


def speed_table(speed: Dict[str, Any]) -> List[str]:
    """Exit layer x r, speed-up relative to the full model at r = 0."""
    lines: List[str] = []
    for model, cells in speed.items():
        layers = sorted({c["exit_layer"] or 0 for c in cells}, key=lambda layer: (layer == 0, layer))
        reps = sorted({c["repetitions"] for c in cells})
        lines += [
            f"**{model}** (words/s relative to all layers at r = 0)",
            "",
            "| exit layer | " + " | ".join(f"r = {r}" for r in reps) + " |",
            "|---" * (len(reps) + 1) + "|",
        ]
        for layer in layers:
            row = []
            for r in reps:
                hit = [c for c in cells if (c["exit_layer"] or 0) == layer and c["repetitions"] == r]
                row.append(f"{hit[0]['speedup']:.2f}" if hit else "–")
            lines.append(f"| {layer or 'all'} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def skipped_lines(root: Path) -> List[str]:
    """Datasets the workflow left out because their files were missing, and how to add them."""
    from ..datasets.skipped import skipped_datasets

    corpus = root / "corpus"
    names = sorted(p.name for p in corpus.iterdir() if p.is_dir()) if corpus.is_dir() else []
    skipped = skipped_datasets(corpus, names)
    if not skipped:
        return []
    lines = [
        "**Skipped datasets** (their files were not there when the workflow ran; put them in place, or set "
        "`--vars.<dataset>_dir`, and run the workflow again):",
        "",
    ]
    return lines + [f"- {dataset}: {reason}" for dataset, reason in skipped.items()] + [""]


def aggregate(root: Path, metrics: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Write metrics/results.md and metrics/results.json; returns the JSON."""
    test, dev = collect(metrics, "test"), collect(metrics, "dev")
    datasets = _datasets(test)
    models = sorted({m for (m, _, _) in test})
    out: Dict[str, Any] = {"models": {}}
    md = [
        "# Results",
        "",
        "Test micro-F1 (strict IOB2), mean ± 95% CI over seeds (t * sd / sqrt(n)).",
        "Rest14, NLU++ and ACE05 are not directly comparable with the SR paper's columns (its scorer's",
        "label-order bug; see the README).",
        "",
    ]
    md += skipped_lines(root)
    rows = run_rows(metrics)
    if rows:
        md += (
            [
                "## Every run",
                "",
                "Test micro-F1 (strict IOB2) per dataset, model and method. 95% CI: over seeds (t) where a method ran",
                "with two or more seeds, else a bootstrap over the test documents of the one run (1000 resamples).",
                "vs r0: test F1 minus the same model's r0 on the same documents (first common seed), with a paired",
                "bootstrap 95% CI: an interval that excludes 0 is a difference this test set shows.",
                "Times: wall-clock seconds of training per run (set-up and loading included; a run resumed after a",
                "kill: the work kept, each process to its last checkpoint), and seconds to label the test set, on the",
                "machine that ran them. `spacy-ner` is spaCy's own `ner` (tok2vec CNN, configs/spacy_ner.cfg) on the same data,",
                "`spacy-spancat` its `spancat_singlelabel` (configs/spacy_spancat.cfg) where the target is doc.spans;",
                "`finetune` rows are encoders fine-tuned in the same component (configs/encoder.cfg), same steps.",
                "",
            ]
            + run_table(rows)
            + [""]
        )
        out["runs"] = rows
    curves = curve_rows(metrics)
    if curves:
        md += [
            "## Learning curve",
            "",
            "Test micro-F1 against the number of training sentences (same dev and test sets along a row), with",
            "`spacy train` seconds per run: what amount of data makes which model win, at what cost.",
            "",
        ]
        md += curve_table(curves) + [""]
        out["curves"] = [
            {"dataset": d, "test_docs": t, "model": m, "method": method, "points": points}
            for (d, t, m, method), points in sorted(curves.items())
        ]
    for model in models:
        methods = _order(method for (m, method, _) in test if m == model)
        main = [x for x in methods if not x.startswith(("exit", "groups:"))]
        r_sweep = [x for x in methods if re.fullmatch(r"r\d+", x)]
        md += [f"## {model}", "", "### Methods (Table 1 style)", ""] + method_table(test, model, main, datasets)
        if r_sweep:  # not for spaCy's ner or an encoder: they have no r
            md += ["", "### Repetition sweep (Table 5 style)", ""] + method_table(test, model, r_sweep, datasets)
        exits = [x for x in methods if x.startswith("exit")]
        if exits:
            md += ["", "### Early exit", ""] + method_table(test, model, exits, datasets)
        entry: Dict[str, Any] = {
            "test": {f"{method}/{d}": mean_ci(v) for (m, method, d), v in test.items() if m == model},
            "dev": {f"{method}/{d}": mean_ci(v) for (m, method, d), v in dev.items() if m == model},
        }
        for dataset in datasets:
            rows, best = sweep_rows(dev, test, model, dataset)
            if rows:
                md += [
                    "",
                    f"### Layer-group sweep on {dataset} (best chosen on dev)",
                    "",
                    "| config | dev F1 | test F1 |",
                    "|---|---|---|",
                ]
                md += [
                    f"| {r['config']}{' ★' if r['config'] == best else ''} | {100 * r['dev']:.2f} | {100 * r['test']:.2f} |"
                    for r in rows
                ]
                entry.setdefault("sweep", {})[dataset] = {"rows": rows, "best_on_dev": best}
        out["models"][model] = entry
        md.append("")
    from .grid import read_json_record
    from .search import load_searches, search_table

    searches = load_searches(root)
    if searches:
        md += ["## Config search (best method on dev, trials stopped early)", ""] + search_table(searches) + [""]
        out["search"] = searches
    speed = read_json_record(root / "metrics" / "speed.json", (), "`python -m spacy_repsl.experiments profile`")
    if speed is not None:
        md += ["## Inference speed-up (Table 2 style)", ""] + speed_table(speed)
        out["speed"] = speed
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "results.md").write_text("\n".join(md) + "\n")
    (root / "metrics" / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    return out
