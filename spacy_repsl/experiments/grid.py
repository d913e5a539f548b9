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

from ..iob.scoring import score_key
from .methods import ENCODER_METHOD, method_settings, slug

TARGETS = {"conll03": "ents", "rest14": "spans:aspects", "nlupp": "ents", "ace05": "spans:events", "demo": "ents"}
# The model a spaCy user would train instead: spaCy's own `ner` (tok2vec CNN) where the target is
# doc.ents, its `spancat_singlelabel` where it is doc.spans[KEY], each as `spacy init config --pipeline
# NAME` writes it (configs/spacy_ner.cfg, configs/spacy_spancat.cfg). Same corpus, scored the same way.
BASELINE_MODEL = "spacy-ner"
SPAN_BASELINE_MODEL = "spacy-spancat"
BASELINE_METHOD = "cnn"
BASELINE_CONFIGS = {BASELINE_MODEL: "spacy_ner.cfg", SPAN_BASELINE_MODEL: "spacy_spancat.cfg"}
BASELINE_NAMES = {BASELINE_MODEL: "spaCy ner", SPAN_BASELINE_MODEL: "spaCy spancat"}  # in plots
SPAN_BASELINE_COMPONENT = "spancat_singlelabel"
# The papers' baseline row: an encoder fine-tuned with the usual encoder recipe (configs/encoder.cfg,
# beside the training config), in the same component, on the same data, step budget and scorer.
ENCODER_CONFIG = "encoder.cfg"
TIMING_FILE = "timing.json"  # in a run's training folder: how long `spacy train` took


def base_dataset(name: str) -> str:
    """A dataset name without its subset suffix: `conll03-quick` is a subset of conll03."""
    return name.split("-", 1)[0]


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
        """Whether its metrics exist and can be read (a damaged file counts as not done)."""
        return read_run_metrics(self.metrics_path(root)) is not None

    @property
    def is_baseline(self) -> bool:
        return self.model in BASELINE_CONFIGS

    @property
    def is_encoder(self) -> bool:
        return self.method == ENCODER_METHOD

    @property
    def target(self) -> str:
        return dataset_target(self.dataset)


def dataset_target(dataset: str) -> str:
    """Where a dataset's spans go (`"ents"` or `"spans:KEY"`); ValueError for an unknown dataset."""
    base = base_dataset(dataset)
    if base not in TARGETS:
        raise ValueError(
            f"Unknown dataset {dataset!r}: use one of {sorted(TARGETS)}, optionally with a subset suffix (conll03-quick)."
        )
    return TARGETS[base]


def plan(datasets: Sequence[str], models: Sequence[str], methods: Sequence[str], seeds: Sequence[int]) -> List[Run]:
    runs = [Run(d, m, method, s) for d in datasets for m in models for method in methods for s in seeds]
    for run in runs:
        run.target  # noqa: B018 - validates the dataset name
        method_settings(run.method)
    return runs


def baseline_model(target: str) -> str:
    """spaCy's own component for a target: `ner` for `doc.ents`, `spancat_singlelabel` for `doc.spans`."""
    return BASELINE_MODEL if target == "ents" else SPAN_BASELINE_MODEL


def plan_baseline(datasets: Sequence[str], seeds: Sequence[int]) -> List[Run]:
    """spaCy's own baseline on each dataset, per seed: `ner` where the target is `doc.ents`,
    `spancat_singlelabel` where it is `doc.spans[KEY]` (`baseline_model`)."""
    return [Run(d, baseline_model(dataset_target(d)), BASELINE_METHOD, s) for d in datasets for s in seeds]


def plan_encoders(datasets: Sequence[str], encoders: Sequence[str], seeds: Sequence[int]) -> List[Run]:
    """Each encoder fine-tuned on each dataset, per seed (any target: it runs in repsl_tagger)."""
    runs = [Run(d, e, ENCODER_METHOD, s) for d in datasets for e in encoders for s in seeds]
    for run in runs:
        run.target  # noqa: B018 - validates the dataset name
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
        f"paths.{'encoder' if run.is_encoder else 'decoder'}": location or model_location(run.model),
        "system.seed": run.seed,
        "components.repsl_tagger.target": run.target,
        "training.score_weights.ents_f": None,
        "training.score_weights.ents_p": None,
        "training.score_weights.ents_r": None,
        "training.score_weights.ents_per_type": None,
        f"training.score_weights.{key}_f": 1.0,
    }
    if run.is_encoder:  # its config holds the recipe: one copy, no unmasking, every weight trained
        return overrides
    if bos is not None:
        overrides["components.repsl_tagger.model.bos"] = bos
    for name, value in method_settings(run.method).items():
        overrides[f"components.repsl_tagger.model.{name}"] = value
    return overrides


def train_into(config: Path, output: Path, overrides: Dict[str, Any], gpu_id: int = -1) -> float:
    """`spacy train` into `output`, which appears only once training has ended; returns the
    seconds it trained. A run killed mid-way left OUTPUT.partial with a checkpoint (one before
    each dev evaluation): training again continues from it (`spacy_repsl.training`)."""
    from ..training.loop import CHECKPOINT_DIR, RECORD_FILE, train_from_config

    partial = output.with_name(output.name + ".partial")
    start = time.perf_counter()
    finished = (partial / "model-best").is_dir() and not (partial / CHECKPOINT_DIR).exists()
    record = read_json_record(partial / RECORD_FILE, ("seconds",), "training") if finished else None
    if record is None:  # else: trained to the end by a process killed before the rename below
        train_from_config(config, partial, use_gpu=gpu_id, overrides=overrides)
        record = read_json_record(partial / RECORD_FILE, ("seconds",), "training")
    os.replace(partial, output)
    return float(record["seconds"]) if record else time.perf_counter() - start


def train_run(
    run: Run,
    root: Path,
    config: Path,
    gpu_id: int = -1,
    extra: Optional[Dict[str, Any]] = None,
    bos: Optional[str] = None,
    locations: Optional[Dict[str, str]] = None,
    baseline_max_steps: Optional[int] = None,
    passes: int = 0,
    evals: int = 2,
) -> bool:
    """Train one run unless its model-best exists; returns whether it trained.

    `locations` maps model names to where they are, resolved where the command was started (a
    worker's working directory may differ). `passes` > 0 sets every run's budget to that many
    passes over its own training set, evaluated on dev `evals` times (`pass_budget`): matched
    budgets across training sizes and contenders, whatever the overrides say."""
    if run.is_trained(root):
        return False
    corpus = root / "corpus" / run.dataset
    if not (corpus / "train.spacy").is_file():
        raise FileNotFoundError(
            f"{corpus / 'train.spacy'} is missing: run the preprocess-{base_dataset(run.dataset)} command first."
        )
    if run.is_baseline:  # its own config and training schedule: only the data and the seed are ours
        config = baseline_config(config, run.model)
        overrides = {
            "paths.train": str(corpus / "train.spacy"),
            "paths.dev": str(corpus / "dev.spacy"),
            "system.seed": run.seed,
            **baseline_target_overrides(run),
        }
        if baseline_max_steps:
            overrides.update(
                {
                    "training.max_steps": baseline_max_steps,
                    "training.eval_frequency": max(1, min(200, baseline_max_steps // 2)),
                }
            )
    else:
        if run.is_encoder:
            config = sibling_config(config, ENCODER_CONFIG, "the encoder recipe")
        overrides = train_overrides(run, root, bos=bos, location=(locations or {}).get(run.model))
        overrides.update(extra or {})
        epochs = int(str(overrides.get("training.max_epochs") or 0))
        if run.is_encoder and not int(str(overrides.get("training.max_steps") or 0)) and epochs > 0 and not passes:
            # Epochs with no step limit (the papers' setup): the encoder's schedule is sized in steps, so
            # the same epochs become steps of its own training set, evaluated once per epoch.
            overrides.update(pass_budget(run, root, config, epochs, epochs))
    if passes:
        overrides.update(pass_budget(run, root, config, passes, evals))
    output = run.train_dir(root)
    if output.exists():  # a directory without model-best: not a finished run of ours
        shutil.rmtree(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    seconds = train_into(config, output, overrides, gpu_id)
    budget = {
        key.split(".")[-1]: overrides[key] for key in ("training.max_steps", "training.max_epochs") if key in overrides
    }
    write_json_atomic(output / TIMING_FILE, {"train_seconds": seconds, "threads": torch_threads(), **budget})
    if not run.is_trained(root):
        raise RuntimeError(
            f"Training {run.name()} ended without a dev evaluation, so there is no model-best: set "
            "training.eval_frequency below the number of training steps (e.g. -- --training.eval_frequency 50)."
        )
    return True


def train_docs(root: Path, dataset: str) -> Optional[int]:
    """How many training documents corpus/<dataset> holds (its report.json), if it says."""
    report = read_json_record(root / "corpus" / dataset / "report.json", ("splits",), "the preprocess command")
    docs = ((report or {}).get("splits") or {}).get("train", {}).get("docs")
    return int(docs) if isinstance(docs, int) else None


def pass_budget(run: Run, root: Path, config: Path, passes: int, evals: int) -> Dict[str, Any]:
    """`spacy train` overrides for `passes` passes over the run's training set with `evals` dev
    evaluations, the last at the last step. Our runs batch `training.batcher.size` sentences
    (steps = ceil(passes * docs / size)); spaCy's ner batches by words, so it gets
    `training.max_epochs = passes` (no early stop) and its own evaluation interval."""
    from thinc.api import Config

    if passes < 1 or evals < 1:
        raise ValueError(f"passes and evals must be at least 1, got {passes} and {evals}.")
    if run.is_baseline:
        return {"training.max_epochs": passes, "training.max_steps": 0, "training.patience": 0}
    docs = train_docs(root, run.dataset)
    if docs is None:
        raise FileNotFoundError(
            f"{root / 'corpus' / run.dataset / 'report.json'} does not say how many training "
            "documents there are: run the preprocess command again."
        )
    size = Config().from_disk(config, interpolate=False)["training"]["batcher"].get("size")
    if not isinstance(size, int) or size < 1:
        raise ValueError(f"--passes needs a fixed batch size: {config} has training.batcher.size = {size!r}.")
    steps = -(-passes * docs // size)
    every = -(-steps // evals)
    return {"training.max_epochs": 0, "training.max_steps": every * evals, "training.eval_frequency": every}


def baseline_config(config: Path, model: str = BASELINE_MODEL) -> Path:
    """The baseline's config (configs/spacy_ner.cfg or configs/spacy_spancat.cfg) beside the grid's
    training config."""
    return sibling_config(config, BASELINE_CONFIGS[model], "the baseline's config")


def baseline_target_overrides(run: Run) -> Dict[str, Any]:
    """What the span baseline needs to read and write the dataset's spans: its spans key (the config's
    is `sc`) and the score weight named after it; nothing for `ner`, whose target is always doc.ents."""
    if run.model != SPAN_BASELINE_MODEL:
        return {}
    key = run.target.split(":", 1)[1]
    weights = "training.score_weights"
    return {
        f"components.{SPAN_BASELINE_COMPONENT}.spans_key": key,
        **{f"{weights}.spans_sc_{m}": None for m in "fpr"},
        **{f"{weights}.spans_{key}_{m}": w for m, w in (("f", 1.0), ("p", 0.0), ("r", 0.0))},
    }


def sibling_config(config: Path, name: str, what: str) -> Path:
    """configs/NAME beside the grid's training config; FileNotFoundError saying where it belongs."""
    path = config.parent / name
    if not path.is_file():
        raise FileNotFoundError(
            f"{what.capitalize()} {path} was not found: it is configs/{name} of the repository, "
            "beside the training config (--config)."
        )
    return path


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def scores_for(nlp: Any, path: Path, target: str) -> Dict[str, Any]:
    """Strict IOB2 micro P/R/F of `nlp` on a .spacy file, with a 95% bootstrap interval of F1
    over its documents (`stats.bootstrap_f1_ci`) and the time the pipeline took."""
    from spacy.tokens import DocBin
    from spacy.training import Example

    from ..iob.scoring import doc_counts, score_examples
    from .stats import bootstrap_f1_ci

    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    examples = [Example(nlp.make_doc(doc.text), doc) for doc in docs]
    start = time.perf_counter()
    predicted = list(nlp.pipe(eg.predicted for eg in examples))
    seconds = time.perf_counter() - start
    examples = [Example(doc, eg.reference) for doc, eg in zip(predicted, examples)]
    key = score_key(target)
    scores = score_examples(examples, target)  # the same strict scorer for our tagger and the baseline
    counts = doc_counts(examples, target)
    return {
        "p": scores.get(f"{key}_p"),
        "r": scores.get(f"{key}_r"),
        "f": scores.get(f"{key}_f"),
        "f_ci95": list(bootstrap_f1_ci(counts)) if counts else None,
        "doc_counts": [list(c) for c in counts],  # (tp, fp, fn) per document: paired comparisons between runs
        "per_type": scores.get(f"{key}_per_type"),
        "docs": len(docs),
        "words": sum(len(d) for d in docs),
        "seconds": seconds,
    }


def evaluate_run(run: Run, root: Path) -> bool:
    """Score one trained run on dev and test unless its metrics exist; returns whether it did."""
    import spacy

    path = run.metrics_path(root)
    if read_run_metrics(path) is not None:
        return False
    best = run.best_model(root)
    if not run.is_trained(root):
        raise FileNotFoundError(f"{best} is missing: run the train command first.")
    nlp = spacy.load(best)
    corpus = root / "corpus" / run.dataset
    timing = run.train_dir(root) / TIMING_FILE
    result = {
        "run": asdict(run),
        "train_docs": train_docs(root, run.dataset),
        "dev": scores_for(nlp, corpus / "dev.spacy", run.target),
        "test": scores_for(nlp, corpus / "test.spacy", run.target),
        **(json.loads(timing.read_text()) if timing.is_file() else {}),
    }
    write_json_atomic(path, result)
    return True


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)


def read_json_record(
    path: Path, required: Sequence[str], redo: str, scored: Sequence[str] = ()
) -> Optional[Dict[str, Any]]:
    """The JSON object at `path`, or None when there is none; a file that cannot be read (cut
    short, not JSON, missing `required` keys, a `scored` key that is not an object with an F1
    `f`) is reported on stderr by name with `redo`, the command that writes it again, and also
    gives None, so it counts as not done."""
    import sys

    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text(encoding="utf8"))
        problem = None if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
        problem = problem or next((f"no {key!r} field" for key in required if key not in record), None)
        problem = problem or next(
            (f"{key!r} has no F1 'f'" for key in scored if not (isinstance(record[key], dict) and "f" in record[key])),
            None,
        )
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problem = str(err)
    if problem is None:
        return record
    print(
        f"warning: {path}: cannot be read ({problem}); counted as not done: {redo} writes it again.",
        file=sys.stderr,
        flush=True,
    )
    return None


def read_run_metrics(path: Path) -> Optional[Dict[str, Any]]:
    """A run's metrics file, or None when it is missing or damaged (then reported)."""
    return read_json_record(
        path, ("run", "dev", "test"), "`python -m spacy_repsl.experiments evaluate`", scored=("dev", "test")
    )


def load_metrics(root: Path) -> List[Dict[str, Any]]:
    """Every readable run's metrics; damaged files are reported and left out."""
    found = (read_run_metrics(p) for p in sorted((root / "metrics" / "runs").glob("**/seed*.json")))
    return [record for record in found if record is not None]
