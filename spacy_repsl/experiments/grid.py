"""Training and evaluating the grid of runs: dataset x model x method x seed.

Each run trains with `spacy train` (in this process, to skip interpreter and import start-up)
into `training/<dataset>/<model>/<method>/seed<k>/` and is scored on dev and test into
`metrics/runs/<dataset>/<model>/<method>/seed<k>.json`. A run whose outputs exist is skipped.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence

from ..scoring import score_key
from .methods import method_settings, slug

TARGETS = {"conll03": "ents", "rest14": "spans:aspects", "nlupp": "ents", "ace05": "spans:events"}


@dataclass(frozen=True)
class Run:
    dataset: str
    model: str
    method: str
    seed: int

    @property
    def parts(self) -> List[str]:
        return [self.dataset, slug(self.model), self.method.replace(":", "-")]

    def train_dir(self, root: Path) -> Path:
        return root.joinpath("training", *self.parts, f"seed{self.seed}")

    def best_model(self, root: Path) -> Path:
        return self.train_dir(root) / "model-best"

    def metrics_path(self, root: Path) -> Path:
        return root.joinpath("metrics", "runs", *self.parts, f"seed{self.seed}.json")

    @property
    def target(self) -> str:
        if self.dataset not in TARGETS:
            raise ValueError(f"Unknown dataset {self.dataset!r}: use one of {sorted(TARGETS)}.")
        return TARGETS[self.dataset]


def plan(datasets: Sequence[str], models: Sequence[str], methods: Sequence[str], seeds: Sequence[int]) -> List[Run]:
    runs = [Run(d, m, method, s) for d in datasets for m in models for method in methods for s in seeds]
    for run in runs:
        run.target  # noqa: B018 - validates the dataset name
        method_settings(run.method)
    return runs


def train_overrides(run: Run, root: Path) -> Dict[str, Any]:
    corpus = root / "corpus" / run.dataset
    key = score_key(run.target)
    overrides: Dict[str, Any] = {
        "paths.train": str(corpus / "train.spacy"),
        "paths.dev": str(corpus / "dev.spacy"),
        "paths.decoder": run.model,
        "system.seed": run.seed,
        "components.repsl_tagger.target": run.target,
        "training.score_weights.ents_f": None,
        "training.score_weights.ents_p": None,
        "training.score_weights.ents_r": None,
        "training.score_weights.ents_per_type": None,
        f"training.score_weights.{key}_f": 1.0,
    }
    for name, value in method_settings(run.method).items():
        overrides[f"components.repsl_tagger.model.{name}"] = value
    return overrides


def train_run(run: Run, root: Path, config: Path, gpu_id: int = -1, extra: Optional[Dict[str, Any]] = None) -> bool:
    """Train one run unless its model-best exists; returns whether it trained."""
    from spacy.cli.train import train

    if (run.best_model(root) / "config.cfg").is_file():
        return False
    corpus = root / "corpus" / run.dataset
    if not (corpus / "train.spacy").is_file():
        raise FileNotFoundError(f"{corpus / 'train.spacy'} is missing: run the preprocess-{run.dataset} command first.")
    overrides = train_overrides(run, root)
    overrides.update(extra or {})
    train(config, run.train_dir(root), use_gpu=gpu_id, overrides=overrides)
    return True


def scores_for(nlp: Any, path: Path, target: str) -> Dict[str, Any]:
    from spacy.tokens import DocBin
    from spacy.training import Example

    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    start = time.perf_counter()
    scores = nlp.evaluate(examples)
    seconds = time.perf_counter() - start
    key = score_key(target)
    return {
        "p": scores.get(f"{key}_p"),
        "r": scores.get(f"{key}_r"),
        "f": scores.get(f"{key}_f"),
        "per_type": scores.get(f"{key}_per_type"),
        "docs": len(docs),
        "words": sum(len(d) for d in docs),
        "seconds": seconds,
    }


def evaluate_run(run: Run, root: Path) -> bool:
    """Score one trained run on dev and test unless its metrics exist; returns whether it did."""
    import spacy

    path = run.metrics_path(root)
    if path.is_file():
        return False
    best = run.best_model(root)
    if not best.is_dir():
        raise FileNotFoundError(f"{best} is missing: run the train command first.")
    nlp = spacy.load(best)
    corpus = root / "corpus" / run.dataset
    result = {
        "run": asdict(run),
        "dev": scores_for(nlp, corpus / "dev.spacy", run.target),
        "test": scores_for(nlp, corpus / "test.spacy", run.target),
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return True


def each(runs: Iterable[Run], action, label: str) -> None:
    """Apply `action` to every run with a progress line each."""
    runs = list(runs)
    for i, run in enumerate(runs, 1):
        start = time.perf_counter()
        done = action(run)
        status = f"done in {time.perf_counter() - start:.1f}s" if done else "already done, skipped"
        print(f"[{label} {i}/{len(runs)}] {run.dataset} {run.model} {run.method} seed {run.seed}: {status}", flush=True)


def load_metrics(root: Path) -> List[Dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "metrics" / "runs").glob("**/seed*.json"))]
