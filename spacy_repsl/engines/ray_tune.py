"""The Ray engine for searches: one Ray Tune trial per candidate, an optional ASHA scheduler.

Trials report their dev score at every spaCy evaluation (`tune_logger`); ASHA compares each
trial, at rungs of 1, rf, rf^2 ... times `grace_period` evaluations, with the trials that reached
that rung before it and stops it when it is below the top 1/rf. Trials start in the order given,
so candidates expected to be strong should come first: they set the rungs' bars early. The
experiment's state lives under `storage`; running the same search again resumes it (finished
and stopped trials keep their results, unfinished ones start again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from .ray_cluster import cluster_resources, connected

METRIC = "dev_f1"


@dataclass
class TrialRecord:
    value: str  # the candidate (e.g. a method name)
    error: Optional[str]
    metrics: Dict[str, Any] = field(default_factory=dict)  # the last report
    history: List[Dict[str, Any]] = field(default_factory=list)


def _progress_callback(label: str, ended: Callable[[str], str]) -> Any:
    from ray.tune import Callback

    class Progress(Callback):
        """A line per evaluation and per ended trial, instead of Tune's tables."""

        def on_trial_result(self, iteration, trials, trial, result, **info):
            print(
                f"[{label}] {trial.config['value']}: evaluation {result['training_iteration']}, step "
                f"{result.get('step')}, dev score {100 * result.get(METRIC, 0.0):.2f}",
                flush=True,
            )

        def on_trial_complete(self, iteration, trials, trial, **info):
            print(f"[{label}] {trial.config['value']}: {ended(trial.config['value'])}", flush=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"[{label}] {trial.config['value']}: trial FAILED (see its log)", flush=True)

    return Progress()


def run_trials(
    trainable: Callable[[Dict[str, Any]], None],
    values: Sequence[str],
    static: Dict[str, Any],
    *,
    name: str,
    storage: Path,
    label: str = "search",
    scheduler: str = "asha",
    grace_period: int = 2,
    reduction_factor: float = 2,
    cpus: float = 1,
    gpus: float = 0,
    max_failures: int = 2,
    address: Optional[str] = None,
    num_cpus: Optional[int] = None,
    ended: Callable[[str], str] = lambda value: "trial ended",
) -> List[TrialRecord]:
    """Run `trainable({"value": v, **static})` for every value as a Tune trial; records in order.

    `ended(value)` words the line printed when a trial ends (Tune reports scheduler stops and
    completed trials alike)."""
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from .ray_tasks import check_feasible

    storage = Path(storage).resolve()
    with connected(address, num_cpus=num_cpus) as ray:
        check_feasible(ray, cpus, gpus)
        print(
            f"[{label}] {len(values)} trial(s) on Ray ({cluster_resources(ray)}), {cpus:g} CPU and {gpus:g} GPU "
            f"each, scheduler {scheduler}",
            flush=True,
        )
        resourced = tune.with_resources(trainable, {"cpu": cpus, "gpu": gpus})
        path = storage / name
        if tune.Tuner.can_restore(str(path)):
            print(f"[{label}] resuming the search stored in {path}", flush=True)
            tuner = tune.Tuner.restore(str(path), trainable=resourced, resume_unfinished=True, resume_errored=True)
        else:
            if scheduler == "asha":
                chosen = ASHAScheduler(
                    time_attr="training_iteration",
                    max_t=1_000_000,
                    grace_period=grace_period,
                    reduction_factor=reduction_factor,
                )
            else:
                chosen = FIFOScheduler()
            tuner = tune.Tuner(
                resourced,
                param_space={"value": tune.grid_search(list(values)), **static},
                tune_config=tune.TuneConfig(metric=METRIC, mode="max", scheduler=chosen),
                run_config=tune.RunConfig(
                    name=name,
                    storage_path=str(storage),
                    verbose=0,
                    callbacks=[_progress_callback(label, ended)],
                    failure_config=tune.FailureConfig(max_failures=max_failures),
                ),
            )
        grid = tuner.fit()
        records = []
        for result in grid:
            history = result.metrics_dataframe.to_dict("records") if result.metrics_dataframe is not None else []
            records.append(
                TrialRecord(
                    result.config["value"],
                    str(result.error) if result.error else None,
                    dict(result.metrics or {}),
                    history,
                )
            )
    order = {v: i for i, v in enumerate(values)}
    return sorted(records, key=lambda r: order.get(r.value, len(order)))
