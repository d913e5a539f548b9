"""Config search: which method (r, unmasking, layer groups) is best on dev, without training
every candidate to the end.

Both papers pick r, the unmasking groups or the exit layer by exhaustive search on dev. Here each
candidate is one Ray Tune trial running `spacy train`; spaCy's loop reports the dev score at every
evaluation (`spacy-repsl.ray_tune_logger.v1`) and ASHA stops trials that fall behind. Candidates
start in order of their expected strength (the papers' findings: r = 1 gives the largest jump,
unmasking and more repetitions next, the causal r = 0 last), so strong trials set ASHA's bars
before weak ones reach them. Output: `metrics/search/<dataset>/<model>.json` and a table in
`metrics/results.md`; trials train into `training/search/<search>/<method>/`, where <search> names
the dataset, the model and a digest of the question (candidates, scheduler, recipe).
"""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..engines.jobs import Job, error_summary, execute
from .grid import Run, model_location, train_into, train_overrides, write_json_atomic
from .methods import group_sweep, method_settings, slug

DEFAULT_CANDIDATES = ("r0", "r1", "r2", "r4", "middle", "full", "groups")


def candidates(spec: Sequence[str], groups: int) -> List[str]:
    """Method names from a spec; `groups` stands for all 2^m layer-group configurations."""
    methods: List[str] = []
    for item in spec:
        methods += group_sweep(groups) if item == "groups" else [item]
    for method in methods:
        method_settings(method)
    return sorted(dict.fromkeys(methods), key=_prior)


def _prior(method: str) -> tuple:
    """Expected strength, strongest first (see the module docstring)."""
    settings = method_settings(method)
    r = settings["repetitions"]
    if method.startswith("groups:"):
        bits = method.split(":", 1)[1]
        # More unmasked groups near the output first; all-zero bits is the causal model.
        return (2 if "1" in bits else 4, -int(bits[::-1], 2), method)
    if settings["unmask"] in ("middle", "full"):
        return (1, 0, method)
    if settings["exit_layer"] is not None:
        return (3, -r, method)
    return (0 if r == 1 else 1 if r > 1 else 4, r, method)


def trial_dir(root: Path, name: str, method: str) -> Path:
    return root.joinpath("training", "search", name, method.replace(":", "-"))


def log_path(root: Path, name: str, method: str) -> Path:
    return root.joinpath("logs", "search", name, method.replace(":", "-") + ".log")


def result_path(root: Path, dataset: str, model: str) -> Path:
    return root.joinpath("metrics", "search", dataset, slug(model) + ".json")


def _train_trial(run: Run, root: Path, config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int) -> bool:
    if (output / "model-best" / "config.cfg").is_file():
        return False
    train_into(config, output, overrides, gpu_id)
    return True


def search_trial(params: Dict[str, Any]) -> None:
    """A Tune trainable: train one candidate with the Tune logger; raise if training fails."""
    root, config = Path(params["root"]), Path(params["config"])
    run = Run(params["dataset"], params["model"], params["value"], params["seed"])
    overrides = train_overrides(run, root, bos=params["bos"], location=params["location"])
    overrides.update(params["extra"])
    overrides["training.logger.@loggers"] = "spacy-repsl.ray_tune_logger.v1"
    output = trial_dir(root, params["search"], run.method)
    output.parent.mkdir(parents=True, exist_ok=True)
    action = partial(_train_trial, run, root, config, output, overrides, params["gpu_id"])
    job = Job(f"search {run.name()}", action, log_path(root, params["search"], run.method), (root, config))
    outcome = execute(job, threads=params["threads"], echo=False)
    if outcome.status == "failed":
        raise RuntimeError(f"{run.name()} failed: {outcome.error}")


def _completed(root: Path, name: str, method: str) -> bool:
    return (trial_dir(root, name, method) / "model-best" / "config.cfg").is_file()


def _ended(root: Path, name: str, method: str) -> str:
    return "trained to the end" if _completed(root, name, method) else "stopped early by the scheduler"


def search(
    root: Path,
    dataset: str,
    model: str,
    methods: Sequence[str],
    *,
    config: Path,
    seed: int,
    bos: Optional[str],
    extra: Dict[str, Any],
    scheduler: str = "asha",
    grace_period: int = 2,
    reduction_factor: float = 2,
    cpus: float = 1,
    gpus: float = 0,
    gpu_id: int = -1,
    threads: Optional[int] = None,
    max_failures: int = 2,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
) -> Dict[str, Any]:
    """Run the search and write its JSON; returns it."""
    from ..engines.ray_tune import run_trials

    corpus = root / "corpus" / dataset
    if not (corpus / "train.spacy").is_file():
        raise FileNotFoundError(f"{corpus / 'train.spacy'} is missing: run the preprocess-{dataset} command first.")
    static = {
        "root": str(root),
        "config": str(config),
        "dataset": dataset,
        "model": model,
        "location": model_location(model),
        "seed": seed,
        "bos": bos,
        "extra": extra,
        "gpu_id": 0 if gpus > 0 else -1 if gpu_id < 0 else gpu_id,
        "threads": threads or max(1, int(cpus)),
    }
    # The stored experiment is resumed only for the same question (candidates, settings, recipe).
    key = json.dumps([list(methods), scheduler, grace_period, reduction_factor, static], sort_keys=True, default=str)
    name = f"{dataset}-{slug(model)}-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
    static["search"] = name
    records = run_trials(
        search_trial,
        methods,
        static,
        name=name,
        storage=root / "training" / "search" / "ray",
        label=f"search {dataset}",
        scheduler=scheduler,
        grace_period=grace_period,
        reduction_factor=reduction_factor,
        cpus=cpus,
        gpus=gpus,
        max_failures=max_failures,
        address=address,
        num_cpus=num_cpus,
        ended=partial(_ended, root, name),
    )
    trials = []
    for record in records:
        completed = _completed(root, name, record.value)
        scores = [float(h["dev_f1"]) for h in record.history if h.get("dev_f1") is not None]
        trials.append(
            {
                "method": record.value,
                "status": "completed" if completed else "failed" if record.error else "stopped",
                "evaluations": len(scores),
                "last_step": int(record.metrics.get("step") or 0),
                "best_dev_f1": max(scores) if scores else None,
                "error": record.error,
                "log": str(log_path(root, name, record.value)),
            }
        )
    result = summarize(dataset, model, seed, scheduler, trials)
    write_json_atomic(result_path(root, dataset, model), result)
    return result


def summarize(dataset: str, model: str, seed: int, scheduler: str, trials: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Best method on dev and the training steps spent, relative to training every candidate fully."""
    scored = [t for t in trials if t["best_dev_f1"] is not None]
    best = max(scored, key=lambda t: t["best_dev_f1"]) if scored else None
    full = max((t["last_step"] for t in trials if t["status"] == "completed"), default=0)
    spent = sum(t["last_step"] for t in trials)
    return {
        "dataset": dataset,
        "model": model,
        "seed": seed,
        "scheduler": scheduler,
        "trials": trials,
        "best_method": best["method"] if best else None,
        "best_dev_f1": best["best_dev_f1"] if best else None,
        "stopped_early": sum(t["status"] == "stopped" for t in trials),
        "failed": sum(t["status"] == "failed" for t in trials),
        "steps_spent": spent,
        "steps_if_all_completed": full * len(trials) if full else None,
        "fraction_of_steps": spent / (full * len(trials)) if full else None,
    }


def search_table(results: Sequence[Dict[str, Any]]) -> List[str]:
    """The Markdown table `aggregate` puts in results.md."""
    lines = [
        "| dataset | model | best method (dev F1) | trials stopped early | steps spent vs all to the end |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        best = f"{r['best_method']} ({100 * r['best_dev_f1']:.2f})" if r["best_method"] else "–"
        fraction = f"{100 * r['fraction_of_steps']:.0f}%" if r["fraction_of_steps"] is not None else "–"
        lines.append(
            f"| {r['dataset']} | {r['model']} | {best} | {r['stopped_early']} of {len(r['trials'])} | {fraction} |"
        )
    return lines


def load_searches(root: Path) -> List[Dict[str, Any]]:
    """Every readable search result; damaged files are reported and left out."""
    from .grid import read_json_record

    found = (
        read_json_record(p, ("trials",), "`python -m spacy_repsl.experiments search`")
        for p in sorted((root / "metrics" / "search").glob("*/*.json"))
    )
    return [record for record in found if record is not None]


def trial_lines(result: Dict[str, Any]) -> List[str]:
    lines = []
    for t in result["trials"]:
        f1 = "–" if t["best_dev_f1"] is None else f"{100 * t['best_dev_f1']:.2f}"
        lines.append(
            f"  {t['method']:<14} {t['status']:<9} last step {t['last_step']:>6}  best dev F1 {f1}"
            + (f"  ({error_summary(t['error'])}; log {t['log']})" if t["error"] else "")
        )
    return lines
