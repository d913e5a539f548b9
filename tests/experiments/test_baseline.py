"""The real-model workflow's pieces end to end on a tiny decoder: a subset corpus, our runs and
spaCy's own `ner` trained and scored the same way, times and confidence intervals recorded."""

import json
import shutil
from pathlib import Path

import pytest

from spacy_repsl.datasets.__main__ import main as convert
from spacy_repsl.experiments.__main__ import run
from spacy_repsl.experiments.methods import slug

from ..datasets.samples import write_conll

ROOT = Path(__file__).resolve().parents[2]


def test_train_and_evaluate_with_the_baselines(tiny_decoders, tiny_encoders, tmp_path, capsys):
    convert(
        [
            "conll03",
            str(write_conll(tmp_path / "conll")),
            str(tmp_path / "corpus" / "conll03-quick"),
            "--limit",
            "3,0,0",
        ]
    )
    config = tmp_path / "configs" / "tiny.cfg"
    config.parent.mkdir()
    shutil.copy(ROOT / "configs" / "tiny.cfg", config)
    shutil.copy(ROOT / "configs" / "spacy_ner.cfg", config.parent / "spacy_ner.cfg")
    grid = [
        "--root",
        str(tmp_path),
        "--datasets",
        "conll03-quick",
        "--models",
        str(tiny_decoders["llama"]),
        "--repetitions",
        "0",
        "--unmasking=",
        "--seeds",
        "1",
        "--baseline",
        "--encoders",
        str(tiny_encoders["bert"]),
    ]
    with pytest.raises(FileNotFoundError, match="configs/encoder.cfg"):  # looked for before anything trains
        run(["train", *grid, "--config", str(config)])
    assert not (tmp_path / "training").exists()
    shutil.copy(ROOT / "configs" / "encoder.cfg", config.parent / "encoder.cfg")
    assert (
        run(
            [
                "train",
                *grid,
                "--config",
                str(config),
                "--baseline-max-steps",
                "4",
                "--",
                "--training.max_epochs",
                "0",
                "--training.max_steps",
                "4",
                "--training.eval_frequency",
                "2",
            ]
        )
        == 0
    )
    assert run(["evaluate", *grid]) == 0
    metrics = sorted((tmp_path / "metrics" / "runs" / "conll03-quick").glob("*/*/seed1.json"))
    assert len(metrics) == 3
    for path in metrics:
        result = json.loads(path.read_text())
        assert result["train_seconds"] > 0 and result["test"]["docs"] == 4
        low, high = result["test"]["f_ci95"]
        assert 0.0 <= low <= result["test"]["f"] <= high <= 1.0
    baseline = json.loads(
        (tmp_path / "metrics" / "runs" / "conll03-quick" / "spacy-ner" / "cnn" / "seed1.json").read_text()
    )
    assert baseline["run"]["model"] == "spacy-ner"
    nlp_config = (
        tmp_path / "training" / "conll03-quick" / "spacy-ner" / "cnn" / "seed1" / "model-best" / "config.cfg"
    ).read_text()
    assert 'pipeline = ["tok2vec", "ner"]' in nlp_config and "max_steps = 4" in nlp_config
    encoder_run = tmp_path / "training" / "conll03-quick" / slug(str(tiny_encoders["bert"])) / "finetune" / "seed1"
    encoder_config = (encoder_run / "model-best" / "config.cfg").read_text()
    assert "lora = null" in encoder_config and "repetitions = 0" in encoder_config
    assert "max_steps = 4" in encoder_config and "spacy-repsl.warmup_linear.v1" in encoder_config  # same budget
    from spacy_repsl.experiments.grid import load_metrics
    from spacy_repsl.experiments.reports import aggregate

    rows = aggregate(tmp_path, load_metrics(tmp_path))["runs"]
    assert [(r["method"], r["vs_r0"]) for r in rows] == [("r0", None), ("finetune", None), ("cnn", None)]


def test_a_learning_curve_with_matched_passes(tiny_decoders, tiny_encoders, tmp_path):
    """The real-scale workflow's pieces (preprocess-curve, train-curve with --passes, evaluate,
    aggregate, plot) on the sample corpus: subsets share dev and test, every contender trains one
    pass over its own training set, and the curve is tabulated and plotted."""
    from spacy_repsl.experiments.grid import load_metrics

    convert(
        [
            "conll03",
            str(write_conll(tmp_path / "conll")),
            str(tmp_path / "corpus" / "conll03-full"),
            "--train-sizes",
            "2",
        ]
    )
    small = json.loads((tmp_path / "corpus" / "conll03-full-2" / "report.json").read_text())["splits"]
    whole = json.loads((tmp_path / "corpus" / "conll03-full" / "report.json").read_text())["splits"]
    assert small["train"]["docs"] == 2 and small["train"]["subset"] == f"first 2 of {whole['train']['docs']}"
    assert small["test"] == whole["test"] and small["dev"] == whole["dev"]
    for name in ("tiny.cfg", "spacy_ner.cfg", "encoder.cfg"):
        shutil.copy(ROOT / "configs" / name, tmp_path / name)
    grid = [
        "--root",
        str(tmp_path),
        "--datasets",
        "conll03-full-2,conll03-full",
        "--models",
        str(tiny_decoders["llama"]),
        "--repetitions=",
        "--unmasking=",
        "--exit-layers",
        "2",
        "--exit-repetitions",
        "1",
        "--seeds",
        "1",
        "--baseline",
        "--encoders",
        str(tiny_encoders["bert"]),
    ]
    assert (
        run(
            [
                "train",
                *grid,
                "--config",
                str(tmp_path / "tiny.cfg"),
                "--passes",
                "2",
                "--evals",
                "2",
                "--",
                "--training.max_steps",
                "999",
            ]
        )
        == 0
    )  # the pass budget wins over the overrides
    assert run(["evaluate", *grid]) == 0
    timing = json.loads(
        (
            tmp_path
            / "training"
            / "conll03-full"
            / slug(str(tiny_encoders["bert"]))
            / "finetune"
            / "seed1"
            / "timing.json"
        ).read_text()
    )
    steps = -(-2 * whole["train"]["docs"] // 8)  # 2 passes in batches of 8 (encoder.cfg), then 2 evaluations
    assert timing["max_steps"] == 2 * -(-steps // 2) and timing["max_epochs"] == 0
    assert run(["aggregate", "--root", str(tmp_path)]) == 0
    assert run(["plot", "--root", str(tmp_path)]) == 0
    metrics = load_metrics(tmp_path)
    assert sorted({m["train_docs"] for m in metrics}) == [2, whole["train"]["docs"]]
    results = (tmp_path / "metrics" / "results.md").read_text()
    assert "## Learning curve" in results and results.count("| conll03 |") >= 3  # decoder, encoder, spaCy's ner
    assert (tmp_path / "metrics" / "f1_vs_train_size.png").read_bytes()[:4] == b"\x89PNG"


def test_the_span_baseline_trains_and_scores_on_doc_spans(tmp_path):
    """Rest14 writes doc.spans["aspects"]: --baseline trains spaCy's spancat_singlelabel on that key
    (not its ner, which only writes doc.ents) and scores what it writes there with the strict scorer."""
    from spacy_repsl.datasets.__main__ import main as convert_dataset

    from ..datasets.samples import write_rest14

    convert_dataset(["rest14", str(write_rest14(tmp_path / "rest")), str(tmp_path / "corpus" / "rest14-quick")])
    for name in ("tiny.cfg", "spacy_ner.cfg", "spacy_spancat.cfg"):
        shutil.copy(ROOT / "configs" / name, tmp_path / name)
    grid = ["--root", str(tmp_path), "--datasets", "rest14-quick", "--models=", "--seeds", "1", "--baseline"]
    assert run(["train", *grid, "--config", str(tmp_path / "tiny.cfg"), "--baseline-max-steps", "60"]) == 0
    assert run(["evaluate", *grid]) == 0
    trained = tmp_path / "training" / "rest14-quick" / "spacy-spancat" / "cnn" / "seed1" / "model-best"
    config = (trained / "config.cfg").read_text()
    assert 'pipeline = ["tok2vec","spancat_singlelabel"]' in config.replace(", ", ",")
    assert 'spans_key = "aspects"' in config and "spans_aspects_f = 1.0" in config and "spans_sc_f = null" in config
    result = json.loads(
        (tmp_path / "metrics" / "runs" / "rest14-quick" / "spacy-spancat" / "cnn" / "seed1.json").read_text()
    )
    assert result["run"]["model"] == "spacy-spancat" and result["test"]["docs"] > 0
    assert result["test"]["f"] is not None and 0.0 <= result["test"]["f"] <= 1.0  # its spans were read and scored
    assert (
        sum(tp for tp, _, _ in result["test"]["doc_counts"]) > 0
    )  # 60 steps learn the 3 training sentences: right spans found in doc.spans["aspects"]
