"""Figures: F1 against r per dataset (Figure 2 style) and the layer-group sweep."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List, Sequence

from .grid import BASELINE_NAMES
from .reports import _datasets, collect, curve_rows, row_kind, run_rows, sweep_rows
from .stats import mean_ci


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(plt: Any, fig: Any, path: Path) -> bool:
    """Lay out and write `fig` as a PNG at `path` (its folder made), then free it; True."""
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def error_bars(points: Sequence[Dict[str, Any]]) -> List[List[float]]:
    """[below, above] each point's F1 (percent) to its 95% CI's ends; 0 where it has no CI."""
    low = [100 * (p["f"] - (p["ci95"][0] if p["ci95"][0] is not None else p["f"])) for p in points]
    high = [100 * ((p["ci95"][1] if p["ci95"][1] is not None else p["f"]) - p["f"]) for p in points]
    return [low, high]


def plot_f1_vs_r(metrics: Sequence[Dict[str, Any]], path: Path) -> bool:
    test = collect(metrics, "test")
    datasets = _datasets(test)
    if not datasets:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(datasets), figsize=(4 * len(datasets), 3.4), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        models = sorted({m for (m, method, d) in test if d == dataset})
        for model in models:
            points = sorted(
                (int(match[1]), mean_ci(v))
                for (m, method, d), v in test.items()
                if m == model and d == dataset and (match := re.fullmatch(r"r(\d+)", method))
            )
            if points:
                xs = [r for r, _ in points]
                ys = [100 * mean for _, (mean, _) in points]
                errs = [100 * (half or 0.0) for _, (_, half) in points]
                ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=Path(model).name or model)
        ax.set_title(dataset)
        ax.set_xticks(
            sorted({int(m[1]) for (_, method, d) in test if d == dataset and (m := re.fullmatch(r"r(\d+)", method))})
        )
        ax.set_ylim(0, 100)
        ax.set_xlabel("repetitions r")
        ax.set_ylabel("test micro-F1")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return save(plt, fig, path)


def plot_group_sweep(metrics: Sequence[Dict[str, Any]], path: Path) -> bool:
    dev, test = collect(metrics, "dev"), collect(metrics, "test")
    panels: List = []
    for model in sorted({m for (m, _, _) in dev}):
        for dataset in _datasets(dev):
            rows, best = sweep_rows(dev, test, model, dataset)
            if rows:
                panels.append((model, dataset, rows, best))
    if not panels:
        return False
    plt = _pyplot()
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(max(6, 0.5 * len(panels[0][2]) + 2), 3.2 * len(panels)), squeeze=False
    )
    for ax, (model, dataset, rows, best) in zip(axes[:, 0], panels):
        xs = range(len(rows))
        ax.bar([x - 0.2 for x in xs], [100 * r["dev"] for r in rows], width=0.4, label="dev")
        ax.bar([x + 0.2 for x in xs], [100 * r["test"] for r in rows], width=0.4, label="test")
        ax.set_xticks(
            list(xs), [r["config"].split(":")[1] + (" *" if r["config"] == best else "") for r in rows], rotation=60
        )
        ax.set_title(f"{Path(model).name or model} on {dataset}: unmasked layer groups (bottom first; * best on dev)")
        ax.set_ylabel("micro-F1")
        ax.legend(fontsize=7)
    return save(plt, fig, path)


def plot_methods(metrics: Sequence[Dict[str, Any]], path: Path) -> bool:
    """Test F1 of every method (and the encoder and spaCy baselines) per dataset, with the 95% CIs of
    `run_rows`: decoders blue, encoders green, spaCy's ner grey."""
    rows = run_rows(metrics)
    if not rows:
        return False
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(datasets), figsize=(max(4.5, 0.7 * max(len(rows), 6)), 3.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        here = [r for r in rows if r["dataset"] == dataset]
        decoders = {x["model"] for x in here if row_kind(x) == 0}
        labels = [r["method"] if len(decoders) <= 1 else f"{Path(r['model']).name}\n{r['method']}" for r in here]
        labels = [
            BASELINE_NAMES.get(r["model"], "spaCy")
            if row_kind(r) == 2
            else f"{Path(r['model']).name}\nfine-tuned"
            if row_kind(r) == 1
            else label
            for r, label in zip(here, labels)
        ]
        ys = [100 * r["f"] for r in here]
        errs = error_bars(here)
        colors = [("#1f77b4", "#2ca02c", "#999999")[row_kind(r)] for r in here]
        ax.bar(range(len(here)), ys, yerr=errs, capsize=3, color=colors)
        ax.set_xticks(range(len(here)), labels, rotation=45, ha="right", fontsize=8)
        ax.set_ylim(0, 100)
        ax.set_title(dataset)
        ax.set_ylabel("test micro-F1 (95% CI)")
        ax.grid(axis="y", alpha=0.3)
    return save(plt, fig, path)


def plot_f1_vs_train_size(metrics: Sequence[Dict[str, Any]], path: Path) -> bool:
    """Test F1 (95% CI) against training sentences, one line per model and method, per dataset;
    the x axis is logarithmic (sizes double)."""
    curves = curve_rows(metrics)
    if not curves:
        return False
    datasets = sorted({(d, t) for (d, t, _, _) in curves})
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(datasets), figsize=(5 * len(datasets), 3.8), squeeze=False)
    for ax, (dataset, test_docs) in zip(axes[0], datasets):
        for (d, t, model, method), points in sorted(curves.items()):
            if (d, t) != (dataset, test_docs):
                continue
            xs = [p["train_docs"] for p in points]
            ys = [100 * p["f"] for p in points]
            errs = error_bars(points)
            name = BASELINE_NAMES.get(model) or f"{Path(model).name or model} {method}"
            ax.errorbar(xs, ys, yerr=errs, marker="o", capsize=3, label=name)
        ax.set_xscale("log")
        ax.set_title(f"{dataset} ({test_docs} test sentences)")
        ax.set_xlabel("training sentences")
        ax.set_ylabel("test micro-F1 (95% CI)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save(plt, fig, path)
