"""Tables like the papers': methods x datasets (Table 1), the r-sweep (Table 5), early-exit
speed-ups (Table 2) and the layer-group sweep, as Markdown and JSON."""
from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

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
        layers = sorted({c["exit_layer"] or 0 for c in cells}, key=lambda l: (l == 0, l))
        reps = sorted({c["repetitions"] for c in cells})
        lines += [f"**{model}** (words/s relative to all layers at r = 0)", "",
                  "| exit layer | " + " | ".join(f"r = {r}" for r in reps) + " |", "|---" * (len(reps) + 1) + "|"]
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
    lines = ["**Skipped datasets** (their files were not there when the workflow ran; put them in place, or set "
             "`--vars.<dataset>_dir`, and run the workflow again):", ""]
    return lines + [f"- {dataset}: {reason}" for dataset, reason in skipped.items()] + [""]


def aggregate(root: Path, metrics: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Write metrics/results.md and metrics/results.json; returns the JSON."""
    test, dev = collect(metrics, "test"), collect(metrics, "dev")
    datasets = _datasets(test)
    models = sorted({m for (m, _, _) in test})
    out: Dict[str, Any] = {"models": {}}
    md = ["# Results", "", "Test micro-F1 (strict IOB2), mean ± 95% CI over seeds (t * sd / sqrt(n)).",
          "Rest14, NLU++ and ACE05 are not directly comparable with the SR paper's columns (its scorer's",
          "label-order bug; see the README).", ""]
    md += skipped_lines(root)
    for model in models:
        methods = _order(method for (m, method, _) in test if m == model)
        main = [x for x in methods if not x.startswith(("exit", "groups:"))]
        r_sweep = [x for x in methods if re.fullmatch(r"r\d+", x)]
        md += [f"## {model}", "", "### Methods (Table 1 style)", ""] + method_table(test, model, main, datasets)
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
                md += ["", f"### Layer-group sweep on {dataset} (best chosen on dev)", "",
                       "| config | dev F1 | test F1 |", "|---|---|---|"]
                md += [f"| {r['config']}{' ★' if r['config'] == best else ''} | {100 * r['dev']:.2f} | {100 * r['test']:.2f} |"
                       for r in rows]
                entry.setdefault("sweep", {})[dataset] = {"rows": rows, "best_on_dev": best}
        out["models"][model] = entry
        md.append("")
    from .search import load_searches, search_table

    searches = load_searches(root)
    if searches:
        md += ["## Config search (best method on dev, trials stopped early)", ""] + search_table(searches) + [""]
        out["search"] = searches
    speed_path = root / "metrics" / "speed.json"
    if speed_path.is_file():
        speed = json.loads(speed_path.read_text())
        md += ["## Inference speed-up (Table 2 style)", ""] + speed_table(speed)
        out["speed"] = speed
    (root / "metrics").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "results.md").write_text("\n".join(md) + "\n")
    (root / "metrics" / "results.json").write_text(json.dumps(out, indent=2) + "\n")
    return out
