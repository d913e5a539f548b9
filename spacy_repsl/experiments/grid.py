"""Training and evaluating the grid of runs: dataset x model x method x seed.

Each run trains with `spacy train` (in the engine's process, to skip interpreter and import
start-up) into `training/<dataset>/<model>/<method>/seed<k>/` and is scored on dev and test into
`metrics/runs/<dataset>/<model>/<method>/seed<k>.json`; its output goes to `logs/...`. A run whose
outputs exist is skipped. Outputs appear atomically: a run trains into a `.partial` directory that
is renamed when training ends, and metrics are written to a temporary file first, so a run that
was killed (Ctrl-C, a dead worker) is never mistaken for a finished one and simply runs again.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from ..scoring import score_key
from .methods import method_settings, slug

TARGETS = {"conll03": "ents", "rest14": "spans:aspects", "nlupp": "ents", "ace05": "spans:events", "demo": "ents"}


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

    def log_path(self, root: Path, action: str) -> Path:
        return root.joinpath("logs", *self.parts, f"seed{self.seed}.{action}.log")

    def name(self) -> str:
        return f"{self.dataset} {self.model} {self.method} seed {self.seed}"

    def is_trained(self, root: Path) -> bool:
        return (self.best_model(root) / "config.cfg").is_file()

    def is_evaluated(self, root: Path) -> bool:
        return self.metrics_path(root).is_file()

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


def model_location(model: str) -> str:
    """A local model directory as an absolute path (workers may run elsewhere); hub ids as given."""
    path = Path(model).expanduser()
    return str(path.resolve()) if path.exists() else model


def train_overrides(run: Run, root: Path, bos: Optional[str] = None, location: Optional[str] = None) -> Dict[str, Any]:
    """`spacy train` overrides for a run; `location` is where its model is (default: resolved here)."""
    corpus = root / "corpus" / run.dataset
    key = score_key(run.target)
    overrides: Dict[str, Any] = {
        "paths.train": str(corpus / "train.spacy"),
        "paths.dev": str(corpus / "dev.spacy"),
        "paths.decoder": location or model_location(run.model),
        "system.seed": run.seed,
        "components.repsl_tagger.target": run.target,
        "training.score_weights.ents_f": None,
        "training.score_weights.ents_p": None,
        "training.score_weights.ents_r": None,
        "training.score_weights.ents_per_type": None,
        f"training.score_weights.{key}_f": 1.0,
    }
    if bos is not None:
        overrides["components.repsl_tagger.model.bos"] = bos
    for name, value in method_settings(run.method).items():
        overrides[f"components.repsl_tagger.model.{name}"] = value
    return overrides


def train_into(config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int = -1) -> None:
    """`spacy train` into `output`, which appears only once training has ended."""
    from spacy.cli.train import train

    partial = output.with_name(output.name + ".partial")
    if partial.exists():  # left by a run that was killed: start it again from scratch
        shutil.rmtree(partial)
    train(config, partial, use_gpu=gpu_id, overrides=overrides)
    os.replace(partial, output)


def train_run(
    run: Run,
    root: Path,
    config: Path,
    gpu_id: int = -1,
    extra: Optional[Dict[str, Any]] = None,
    bos: Optional[str] = None,
    locations: Optional[Dict[str, str]] = None,
) -> bool:
    """Train one run unless its model-best exists; returns whether it trained.

    `locations` maps model names to where they are, resolved where the command was started (a
    worker's working directory may differ)."""
    if run.is_trained(root):
        return False
    corpus = root / "corpus" / run.dataset
    if not (corpus / "train.spacy").is_file():
        raise FileNotFoundError(f"{corpus / 'train.spacy'} is missing: run the preprocess-{run.dataset} command first.")
    overrides = train_overrides(run, root, bos=bos, location=(locations or {}).get(run.model))
    overrides.update(extra or {})
    output = run.train_dir(root)
    if output.exists():  # a directory without model-best: not a finished run of ours
        shutil.rmtree(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    train_into(config, output, overrides, gpu_id)
    if not run.is_trained(root):
        raise RuntimeError(
            f"Training {run.name()} ended without a dev evaluation, so there is no model-best: set "
            "training.eval_frequency below the number of training steps (e.g. -- --training.eval_frequency 50).")
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
    if not run.is_trained(root):
        raise FileNotFoundError(f"{best} is missing: run the train command first.")
    nlp = spacy.load(best)
    corpus = root / "corpus" / run.dataset
    result = {
        "run": asdict(run),
        "dev": scores_for(nlp, corpus / "dev.spacy", run.target),
        "test": scores_for(nlp, corpus / "test.spacy", run.target),
    }
    write_json_atomic(path, result)
    return True


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def load_metrics(root: Path) -> List[Dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((root / "metrics" / "runs").glob("**/seed*.json"))]
