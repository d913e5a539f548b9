import math
from pathlib import Path

import pytest

from spacy_repsl.experiments.grid import Run, plan, train_overrides
from spacy_repsl.experiments.methods import grid_methods, group_sweep, method_settings, slug
from spacy_repsl.experiments.reports import aggregate, speed_table
from spacy_repsl.experiments.stats import format_mean_ci, mean_ci

ROOT = Path(__file__).resolve().parents[2]


def test_method_names():
    assert method_settings("r2") == {"repetitions": 2, "unmask": "none", "exit_layer": None}
    assert method_settings("middle")["unmask"] == "middle"
    assert method_settings("exit14-r4") == {"repetitions": 4, "unmask": "none", "exit_layer": 14}
    assert method_settings("groups:0110")["unmask"] == "groups:0110"
    with pytest.raises(ValueError, match="r<k>.*exit<L>-r<k>"):
        method_settings("fast")


def test_grid_and_sweep():
    assert grid_methods([0, 1], ["middle", "full"], [9], [1, 2]) == [
        "r0",
        "r1",
        "middle",
        "full",
        "exit9-r1",
        "exit9-r2",
    ]
    assert group_sweep(2) == ["groups:00", "groups:01", "groups:10", "groups:11"]
    assert len(group_sweep(4)) == 16
    assert slug("Qwen/Qwen3-0.6B") == "Qwen_Qwen3-0.6B"


def test_runs_and_overrides(tmp_path):
    runs = plan(["rest14"], ["m"], ["exit2-r1"], [5])
    assert runs == [Run("rest14", "m", "exit2-r1", 5)]
    overrides = train_overrides(runs[0], tmp_path)
    assert overrides["components.repsl_tagger.target"] == "spans:aspects"
    assert (
        overrides["training.score_weights.spans_aspects_f"] == 1.0
        and overrides["training.score_weights.ents_f"] is None
    )
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
    speed = {
        "m": [
            {"repetitions": 0, "exit_layer": None, "speedup": 1.0},
            {"repetitions": 1, "exit_layer": None, "speedup": 0.55},
            {"repetitions": 1, "exit_layer": 2, "speedup": 1.9},
        ]
    }
    lines = speed_table(speed)
    assert "| 2 | – | 1.90 |" in lines and "| all | 1.00 | 0.55 |" in lines


def test_bootstrap_interval_over_documents():
    from spacy_repsl.experiments.stats import bootstrap_f1_ci

    same = [(3, 1, 1)] * 50  # every document alike: no spread
    assert bootstrap_f1_ci(same) == pytest.approx((0.75, 0.75))
    mixed = [(4, 0, 0)] * 25 + [(0, 2, 2)] * 25  # F1 0.667 overall, documents all right or all wrong
    low, high = bootstrap_f1_ci(mixed)
    assert low < 2 / 3 < high and high - low > 0.1
    assert bootstrap_f1_ci(mixed) == (low, high)  # seeded
    assert bootstrap_f1_ci(mixed * 16)[1] - bootstrap_f1_ci(mixed * 16)[0] < high - low  # more documents, narrower
    with pytest.raises(ValueError, match="at least one document"):
        bootstrap_f1_ci([])


def test_every_run_table_uses_seeds_or_the_bootstrap(tmp_path):
    def full(dataset, model, method, seed, f, ci=None, train=None):
        return {
            "run": {"dataset": dataset, "model": model, "method": method, "seed": seed},
            "dev": {"f": f},
            "test": {"f": f, "f_ci95": ci, "seconds": 2.0, "docs": 10},
            **({"train_seconds": train} if train else {}),
        }

    metrics = [
        full("conll03-quick", "m", "r0", 5, 0.5, [0.4, 0.6], 100.0),
        full("conll03-quick", "m", "r1", 5, 0.8, [0.7, 0.9], 200.0),
        full("conll03-quick", "m", "r1", 29, 0.9, [0.8, 1.0], 220.0),
        full("conll03-quick", "spacy-ner", "cnn", 5, 0.6, [0.5, 0.7], 30.0),
    ]
    out = aggregate(tmp_path, metrics)
    rows = {(r["model"], r["method"]): r for r in out["runs"]}
    assert rows[("m", "r0")]["ci95"] == [0.4, 0.6] and rows[("m", "r0")]["ci_kind"] == "bootstrap"
    assert rows[("m", "r1")]["ci_kind"] == "seeds" and rows[("m", "r1")]["f"] == pytest.approx(0.85)
    assert rows[("m", "r1")]["train_seconds"] == pytest.approx(210.0)
    text = (tmp_path / "metrics" / "results.md").read_text()
    assert "| conll03-quick | m | r0 | 5 | 50.00 | 40.0–60.0 (bootstrap) | – | 50.00 | 100 | 2 |" in text
    assert "| conll03-quick | spacy-ner | cnn | 5 | 60.00 |" in text
    assert [r["method"] for r in out["runs"]] == ["r0", "r1", "cnn"]  # the baseline last
    from spacy_repsl.experiments.plots import plot_methods

    assert plot_methods(metrics, tmp_path / "methods.png")
    assert (tmp_path / "methods.png").read_bytes()[:4] == b"\x89PNG"


def test_subset_names_and_the_baseline_runs():
    from spacy_repsl.experiments.grid import BASELINE_MODEL, SPAN_BASELINE_MODEL, base_dataset, plan_baseline

    assert base_dataset("conll03-quick") == "conll03" and Run("conll03-quick", "m", "r0", 1).target == "ents"
    runs = plan_baseline(["conll03-quick", "rest14-full", "nlupp"], [5, 29])
    assert [(r.dataset, r.model, r.seed) for r in runs] == [
        ("conll03-quick", BASELINE_MODEL, 5),
        ("conll03-quick", BASELINE_MODEL, 29),
        ("rest14-full", SPAN_BASELINE_MODEL, 5),  # doc.spans["aspects"]: spaCy's spancat, not its ner
        ("rest14-full", SPAN_BASELINE_MODEL, 29),
        ("nlupp", BASELINE_MODEL, 5),
        ("nlupp", BASELINE_MODEL, 29),
    ]
    assert all(r.is_baseline and not r.is_encoder for r in runs)
    assert not Run("rest14", "assets/smollm2-135m", "r0", 5).is_baseline


def test_the_span_baseline_reads_and_scores_the_datasets_spans_key():
    from thinc.api import Config

    from spacy_repsl.experiments.grid import SPAN_BASELINE_MODEL, baseline_config, baseline_target_overrides

    run = Run("rest14", SPAN_BASELINE_MODEL, "cnn", 5)
    overrides = baseline_target_overrides(run)
    assert overrides["components.spancat_singlelabel.spans_key"] == "aspects"
    assert overrides["training.score_weights.spans_aspects_f"] == 1.0
    assert overrides["training.score_weights.spans_sc_f"] is None
    assert baseline_target_overrides(Run("conll03", "spacy-ner", "cnn", 5)) == {}
    config = Config().from_disk(baseline_config(ROOT / "configs" / "tiny.cfg", SPAN_BASELINE_MODEL), interpolate=False)
    assert config["nlp"]["pipeline"] == ["tok2vec", "spancat_singlelabel"]
    for key in overrides:  # every override names a setting the shipped config has (or its score weights)
        section, name = key.rsplit(".", 1)
        node = config
        for part in section.split("."):
            node = node[part]
        assert name in node or section == "training.score_weights"


def test_paired_difference_to_r0(tmp_path):
    from spacy_repsl.experiments.stats import paired_bootstrap_diff_ci

    better = [(2, 0, 0)] * 40 + [(1, 1, 1)] * 10
    worse = [(1, 1, 1)] * 40 + [(1, 1, 1)] * 10
    diff, low, high = paired_bootstrap_diff_ci(better, worse)
    assert diff == pytest.approx(0.9 - 0.5, abs=1e-9) and 0 < low < diff < high
    assert paired_bootstrap_diff_ci(worse, worse) == (0.0, 0.0, 0.0)  # the same system: no difference at all
    with pytest.raises(ValueError, match="same test documents"):
        paired_bootstrap_diff_ci(better, worse[:-1])

    def result(method, counts):
        f = paired_bootstrap_diff_ci(counts, [(0, 0, 0)] * len(counts))[0]
        return {
            "run": {"dataset": "conll03", "model": "m", "method": method, "seed": 5},
            "dev": {"f": f},
            "test": {"f": f, "doc_counts": counts, "f_ci95": [f, f]},
        }

    out = aggregate(tmp_path, [result("r0", worse), result("r1", better)])
    r1 = next(r for r in out["runs"] if r["method"] == "r1")
    assert r1["vs_r0"] == pytest.approx([diff, low, high])
    assert (
        f"| +{100 * diff:.1f} ({100 * low:+.1f} to {100 * high:+.1f}) |"
        in (tmp_path / "metrics" / "results.md").read_text()
    )


def test_damaged_run_metrics_are_reported_by_file_and_count_as_not_done(tmp_path, capsys):
    import json

    from spacy_repsl.experiments.__main__ import main
    from spacy_repsl.experiments.grid import evaluate_run, load_metrics, write_json_atomic

    good, cut = Run("conll03", "m", "r0", 5), Run("conll03", "m", "r1", 5)
    record = {
        "run": {"dataset": "conll03", "model": "m", "method": "r0", "seed": 5},
        "dev": {"f": 0.5},
        "test": {"f": 0.5, "f_ci95": [0.4, 0.6], "seconds": 1.0, "docs": 3},
    }
    write_json_atomic(good.metrics_path(tmp_path), record)
    cut.metrics_path(tmp_path).parent.mkdir(parents=True)
    cut.metrics_path(tmp_path).write_text(json.dumps(record)[:50])  # a run killed mid-write, or a full disk
    assert good.is_evaluated(tmp_path) and not cut.is_evaluated(tmp_path)
    assert str(cut.metrics_path(tmp_path)) in capsys.readouterr().err
    assert [m["run"]["method"] for m in load_metrics(tmp_path)] == ["r0"]
    assert "cannot be read" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError, match="run the train command first"):
        evaluate_run(cut, tmp_path)  # not "already done": it is scored again (here: not trained)
    assert main(["aggregate", "--root", str(tmp_path)]) in (0, None)
    captured = capsys.readouterr()
    assert str(cut.metrics_path(tmp_path)) in captured.err and "Traceback" not in captured.err
    assert "| conll03 | m | r0 |" in (tmp_path / "metrics" / "results.md").read_text()


def test_a_pass_budget_is_passes_over_the_runs_own_training_set(tmp_path):
    import json

    from spacy_repsl.experiments.grid import ENCODER_METHOD, pass_budget

    (tmp_path / "corpus" / "conll03-2k").mkdir(parents=True)
    (tmp_path / "corpus" / "conll03-2k" / "report.json").write_text(json.dumps({"splits": {"train": {"docs": 2001}}}))
    config = tmp_path / "c.cfg"
    config.write_text("[training]\n[training.batcher]\nsize = 8\n")
    budget = pass_budget(Run("conll03-2k", "m", "exit15-r1", 5), tmp_path, config, passes=1, evals=2)
    assert budget == {
        "training.max_epochs": 0,
        "training.max_steps": 252,
        "training.eval_frequency": 126,
    }  # ceil(2001/8)=251
    assert pass_budget(Run("conll03-2k", "e", ENCODER_METHOD, 5), tmp_path, config, 3, 4)["training.max_steps"] == 752
    assert pass_budget(Run("conll03-2k", "spacy-ner", "cnn", 5), tmp_path, config, 1, 2) == {
        "training.max_epochs": 1,
        "training.max_steps": 0,
        "training.patience": 0,
    }
    with pytest.raises(FileNotFoundError, match="how many training documents"):
        pass_budget(Run("conll03-4k", "m", "r0", 5), tmp_path, config, 1, 2)
    config.write_text('[training]\n[training.batcher]\n@batchers = "spacy.batch_by_words.v1"\n')
    with pytest.raises(ValueError, match="fixed batch size"):
        pass_budget(Run("conll03-2k", "m", "r0", 5), tmp_path, config, 1, 2)


def test_learning_curves_share_a_test_set_and_need_two_sizes(tmp_path):
    from spacy_repsl.experiments.plots import plot_f1_vs_train_size
    from spacy_repsl.experiments.reports import curve_rows

    def point(dataset, model, method, seed, size, f, test_docs=3453):
        return {
            "run": {"dataset": dataset, "model": model, "method": method, "seed": seed},
            "train_docs": size,
            "dev": {"f": f},
            "test": {"f": f, "f_ci95": [f - 0.01, f + 0.01], "docs": test_docs},
            "train_seconds": size / 10,
        }

    metrics = [
        point("conll03-1k", "m", "exit15-r1", 5, 1000, 0.6),
        point("conll03-full", "m", "exit15-r1", 5, 14041, 0.8),
        point("conll03-full", "m", "exit15-r1", 29, 14041, 0.82),
        point("conll03-4k", "m", "exit15-r1", 5, 4000, 0.7),
        point("conll03", "m", "exit15-r1", 5, 1000, 0.69, test_docs=1000),  # the CPU table's own test subset
        point("conll03-full", "spacy-ner", "cnn", 5, 14041, 0.85),
    ]  # one size only: no curve
    curves = curve_rows(metrics)
    assert list(curves) == [("conll03", 3453, "m", "exit15-r1")]
    points = curves[("conll03", 3453, "m", "exit15-r1")]
    assert [p["train_docs"] for p in points] == [1000, 4000, 14041]
    assert points[-1]["f"] == pytest.approx(0.81) and points[-1]["train_seconds"] == pytest.approx(1404.1)
    out = aggregate(tmp_path, metrics)
    text = (tmp_path / "metrics" / "results.md").read_text()
    assert (
        "## Learning curve" in text
        and "| conll03 | m | exit15-r1 | 60.00 (100 s) | 70.00 (400 s) | 81.00 (1404 s) |" in text
    )
    assert out["curves"][0]["points"][0]["train_docs"] == 1000
    assert plot_f1_vs_train_size(metrics, tmp_path / "curve.png")
    assert not plot_f1_vs_train_size(metrics[-2:], tmp_path / "none.png")


def test_an_encoder_run_given_epochs_gets_its_schedule_in_steps(tmp_path, monkeypatch):
    import json

    from spacy_repsl.experiments import grid

    (tmp_path / "corpus" / "conll03").mkdir(parents=True)
    (tmp_path / "corpus" / "conll03" / "train.spacy").write_bytes(b"")
    (tmp_path / "corpus" / "conll03" / "report.json").write_text(json.dumps({"splits": {"train": {"docs": 100}}}))
    (tmp_path / "lora_cpu.cfg").write_text("")
    (tmp_path / "encoder.cfg").write_text("[training]\n[training.batcher]\nsize = 8\n")
    seen = {}
    monkeypatch.setattr(grid, "train_into", lambda config, output, overrides, gpu_id: seen.update(overrides))
    run = Run("conll03", "enc", grid.ENCODER_METHOD, 5)
    with pytest.raises(RuntimeError):  # the stand-in trains nothing: no model-best
        grid.train_run(
            run,
            tmp_path,
            tmp_path / "lora_cpu.cfg",
            extra={"training.max_epochs": 10, "training.max_steps": 0, "training.eval_frequency": 400},
        )
    assert seen["training.max_steps"] == 130 and seen["training.eval_frequency"] == 13  # 10 x ceil(100 / 8)


def test_a_run_trained_to_the_end_but_not_renamed_is_not_trained_again(tmp_path, monkeypatch):
    import json

    from spacy_repsl.experiments import grid
    from spacy_repsl.training import loop

    output = tmp_path / "seed5"
    partial = tmp_path / "seed5.partial"
    (partial / "model-best").mkdir(parents=True)
    (partial / loop.RECORD_FILE).write_text(json.dumps({"steps": 10, "seconds": 12.5, "resumed_at": []}))

    def must_not_train(*args, **kwargs):
        raise AssertionError("trained again")

    monkeypatch.setattr(loop, "train_from_config", must_not_train)
    assert grid.train_into(tmp_path / "any.cfg", output, {}) == 12.5
    assert (output / "model-best").is_dir() and not partial.exists()


def test_a_run_restored_from_results_is_not_trained_again_with_skip_evaluated(tmp_path, capsys):
    """tools/real_scale.sh on a new machine: metrics restored from project/results/, no model-best."""
    from spacy_repsl.experiments.__main__ import main
    from spacy_repsl.experiments.grid import write_json_atomic

    run = Run("conll03-full", "m", "r0", 5)
    record = {
        "run": {"dataset": "conll03-full", "model": "m", "method": "r0", "seed": 5},
        "dev": {"f": 0.5},
        "test": {"f": 0.5, "f_ci95": [0.4, 0.6], "seconds": 1.0, "docs": 3},
    }
    write_json_atomic(run.metrics_path(tmp_path), record)
    config = tmp_path / "any.cfg"
    config.write_text("")
    args = ["train", "--root", str(tmp_path), "--datasets", "conll03-full", "--models", "m"]
    args += ["--repetitions", "0", "--unmasking=", "--exit-layers=", "--seeds", "5", "--config", str(config)]
    assert main([*args, "--skip-evaluated"]) in (0, None)
    assert "[train 1/1] conll03-full m r0 seed 5: already done, skipped" in capsys.readouterr().out
    # Without it only a model-best counts: the run is trained again (here it fails: no corpus).
    with pytest.raises(SystemExit, match="1"):
        main(args)
    out = capsys.readouterr().out
    assert "already done" not in out and "FAILED" in out and "train.spacy is missing" in out
    assert not run.is_trained(tmp_path) and run.is_evaluated(tmp_path)
    # JSON with the fields but not the scores is damaged, not done: trained again, and said so
    for damaged in ({"run": None, "dev": None, "test": None}, {"run": {}, "dev": {}, "test": {"f": 0.5}}):
        write_json_atomic(run.metrics_path(tmp_path), damaged)
        with pytest.raises(SystemExit, match="1"):
            main([*args, "--skip-evaluated"])
        captured = capsys.readouterr()
        assert "already done" not in captured.out and "has no F1 'f'" in captured.err


def test_packaging_a_best_run_without_its_model_names_the_fix(tmp_path):
    from spacy_repsl.experiments.__main__ import package_best
    from spacy_repsl.experiments.grid import write_json_atomic

    run = Run("conll03", "m", "r1", 5)
    write_json_atomic(run.metrics_path(tmp_path), {"run": {}, "dev": {"f": 0.9}, "test": {"f": 0.9}})
    with pytest.raises(FileNotFoundError, match="has its metrics but not its model.*delete .*seed5.json"):
        package_best(tmp_path, [run], "en_repsl", "0.0.0")
