import math

import pytest

from spacy_repsl.experiments.grid import Run, plan, train_overrides
from spacy_repsl.experiments.methods import grid_methods, group_sweep, method_settings, slug
from spacy_repsl.experiments.reports import aggregate, speed_table
from spacy_repsl.experiments.stats import format_mean_ci, mean_ci


def test_method_names():
    assert method_settings("r2") == {"repetitions": 2, "unmask": "none", "exit_layer": None}
    assert method_settings("middle")["unmask"] == "middle"
    assert method_settings("exit14-r4") == {"repetitions": 4, "unmask": "none", "exit_layer": 14}
    assert method_settings("groups:0110")["unmask"] == "groups:0110"
    with pytest.raises(ValueError, match="r<k>.*exit<L>-r<k>"):
        method_settings("fast")


def test_grid_and_sweep():
    assert grid_methods([0, 1], ["middle", "full"], [9], [1, 2]) == ["r0", "r1", "middle", "full", "exit9-r1", "exit9-r2"]
    assert group_sweep(2) == ["groups:00", "groups:01", "groups:10", "groups:11"]
    assert len(group_sweep(4)) == 16
    assert slug("Qwen/Qwen3-0.6B") == "Qwen_Qwen3-0.6B"


def test_runs_and_overrides(tmp_path):
    runs = plan(["rest14"], ["m"], ["exit2-r1"], [5])
    assert runs == [Run("rest14", "m", "exit2-r1", 5)]
    overrides = train_overrides(runs[0], tmp_path)
    assert overrides["components.repsl_tagger.target"] == "spans:aspects"
    assert overrides["training.score_weights.spans_aspects_f"] == 1.0 and overrides["training.score_weights.ents_f"] is None
    assert overrides["components.repsl_tagger.model.exit_layer"] == 2 and overrides["system.seed"] == 5
    with pytest.raises(ValueError, match="Unknown dataset"):
        plan(["imdb"], ["m"], ["r0"], [1])


def test_the_grid_reproduces_the_sr_papers_input_format_by_default(tmp_path):
    from spacy_repsl.experiments.__main__ import parser

    args = parser().parse_args(["train"])
    assert args.bos == "every" and args.engine == "local" and args.ray_address is None
    run = Run("conll03", "m", "r1", 5)
    assert train_overrides(run, tmp_path, bos=args.bos)["components.repsl_tagger.model.bos"] == "every"
    assert "components.repsl_tagger.model.bos" not in train_overrides(run, tmp_path)  # the config's own value
    assert parser().parse_args(["train", "--gpus-per-run=", "--cpus-per-run=2"]).cpus_per_run == 2.0


def test_engine_options_defaults():
    from spacy_repsl.experiments.execution import EngineOptions

    assert EngineOptions("ray", gpu_id=0).gpus == 1.0 and EngineOptions("ray").gpus == 0.0
    assert EngineOptions("ray", gpu_id=3).worker_gpu_id == 0  # Ray makes the task's GPU visible as 0
    assert EngineOptions("local", gpu_id=3).worker_gpu_id == 3
    assert EngineOptions("local").threads is None and EngineOptions("ray").threads == 1
    assert EngineOptions("local", cpus_per_run=2).threads == 2


def test_mean_and_95_ci():
    values = [0.90, 0.92, 0.91, 0.93, 0.89]
    mean, half = mean_ci(values)
    sd = math.sqrt(sum((v - 0.91) ** 2 for v in values) / 4)
    assert mean == pytest.approx(0.91) and half == pytest.approx(2.776 * sd / math.sqrt(5))
    assert mean_ci([0.5]) == (0.5, None)
    assert format_mean_ci([0.5, 0.5]) == "50.00 ± 0.00"


def metric(dataset, method, seed, dev, test):
    run = {"dataset": dataset, "model": "m", "method": method, "seed": seed}
    return {"run": run, "dev": {"f": dev}, "test": {"f": test}}


def test_sweep_best_is_chosen_on_dev_never_on_test(tmp_path):
    metrics = [
        metric("conll03", "groups:01", 1, dev=0.80, test=0.95),
        metric("conll03", "groups:10", 1, dev=0.90, test=0.70),
        metric("conll03", "r0", 1, dev=0.5, test=0.5),
        metric("conll03", "r0", 2, dev=0.7, test=0.7),
    ]
    out = aggregate(tmp_path, metrics)
    assert out["models"]["m"]["sweep"]["conll03"]["best_on_dev"] == "groups:10"
    text = (tmp_path / "metrics" / "results.md").read_text()
    assert "| groups:10 ★ |" in text and "| r0 | 60.00 ± 127.06 |" in text


def test_speed_table():
    speed = {"m": [
        {"repetitions": 0, "exit_layer": None, "speedup": 1.0},
        {"repetitions": 1, "exit_layer": None, "speedup": 0.55},
        {"repetitions": 1, "exit_layer": 2, "speedup": 1.9},
    ]}
    lines = speed_table(speed)
    assert "| 2 | – | 1.90 |" in lines and "| all | 1.00 | 0.55 |" in lines
