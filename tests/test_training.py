"""`spacy train` and `spacy evaluate` on the shipped configs, as a user runs them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from thinc.api import Config

from .pipeline.helpers import TRAIN

CONFIGS = Path(__file__).parent.parent / "configs"
PAPER_CONFIGS = ["repetition.cfg", "middle.cfg", "full.cfg", "early_exit.cfg"]


def write_docbin(nlp, path, copies=1):
    docs = []
    for _ in range(copies):
        for text, ents in TRAIN:
            doc = nlp.make_doc(text)
            doc.set_ents([doc.char_span(s, e, label=label) for s, e, label in ents], default="outside")
            docs.append(doc)
    DocBin(docs=docs).to_disk(path)


def spacy_cli(*args, cwd=None):
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "spacy", *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=900
    )


def train_on_examples(config: str, base: str, path, tmp_path, *overrides: str):
    """`spacy train CONFIG` on the example sentences (4 copies to train, one to evaluate) with
    `--paths.BASE PATH` (decoder or encoder); the finished process."""
    nlp = spacy.blank("en")
    write_docbin(nlp, tmp_path / "train.spacy", copies=4)
    write_docbin(nlp, tmp_path / "dev.spacy")
    return spacy_cli(
        "train",
        str(CONFIGS / config),
        "--output",
        str(tmp_path / "out"),
        "--paths.train",
        str(tmp_path / "train.spacy"),
        "--paths.dev",
        str(tmp_path / "dev.spacy"),
        f"--paths.{base}",
        str(path),
        *overrides,
    )


def test_tiny_config_trains_and_evaluates(tiny_decoders, tmp_path):
    result = train_on_examples(
        "tiny.cfg",
        "decoder",
        tiny_decoders["llama"],
        tmp_path,
        "--training.max_epochs",
        "10",
        "--training.eval_frequency",
        "4",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ENTS_F" in result.stdout and "LOSS REPSL" in result.stdout  # spaCy's table
    best = tmp_path / "out" / "model-best"
    trained = spacy.load(best)
    assert trained.pipe_names == ["repsl_tagger"]
    doc = trained("John Smith lives in Paris .")
    assert len(doc) == 6
    assert trained.meta["performance"]["ents_f"] > 0.5
    evaluated = spacy_cli(
        "evaluate", str(best), str(tmp_path / "dev.spacy"), "--output", str(tmp_path / "metrics.json")
    )
    assert evaluated.returncode == 0, evaluated.stdout + evaluated.stderr
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["ents_f"] == pytest.approx(trained.meta["performance"]["ents_f"], abs=1e-6)


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_follow_the_recipe(name):
    config = Config().from_disk(CONFIGS / name, interpolate=False)
    model = config["components"]["repsl_tagger"]["model"]
    assert model["quantization"] == "nf4" and model["max_length"] == 256
    assert dict(model["lora"]) == {
        "@misc": "spacy-repsl.lora.v1",
        "r": 16,
        "alpha": 16,
        "dropout": 0.1,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj"],
    }
    training = config["training"]
    optimizer = training["optimizer"]
    assert optimizer["learn_rate"] == 2e-4 and optimizer["L2"] == 0.05 and optimizer["L2_is_weight_decay"]
    assert (optimizer["beta1"], optimizer["beta2"], optimizer["eps"]) == (0.9, 0.99, 1e-8)
    assert training["batcher"]["size"] * training["accumulate_gradient"] == 32
    assert training["max_epochs"] == 10 and training["score_weights"]["ents_f"] == 1.0


def test_paper_configs_differ_only_in_the_method():
    def without_method(name):
        config = Config().from_disk(CONFIGS / name, interpolate=False)
        model = config["components"]["repsl_tagger"]["model"]
        method = {k: model.pop(k) for k in ("repetitions", "unmask", "exit_layer")}
        return config, method

    base, _ = without_method("repetition.cfg")
    methods = {}
    for name in PAPER_CONFIGS:
        config, methods[name] = without_method(name)
        assert config == base, name
    assert methods["middle.cfg"]["unmask"] == "middle" and methods["full.cfg"]["unmask"] == "full"
    assert methods["early_exit.cfg"]["exit_layer"] and methods["repetition.cfg"]["repetitions"] == 1


def lora_b(path):
    from safetensors.numpy import load_file

    from spacy_repsl.pipeline.weights import TRAINABLE_FILE

    weights = load_file(str(path / "repsl_tagger" / TRAINABLE_FILE))
    return {k: v for k, v in weights.items() if "lora_B" in k}


def test_adapters_train_when_the_tagger_annotates_between_accumulated_updates(tiny_decoders, tmp_path):
    """`accumulate_gradient 2` with `annotating_components`: spaCy predicts with the tagger between
    its updates and the optimizer step, which once folded the adapters away (every lora_B stayed
    0.0). The adapters must come out as they do without the prediction in between."""
    nlp = spacy.blank("en")
    write_docbin(nlp, tmp_path / "train.spacy", copies=2)
    write_docbin(nlp, tmp_path / "dev.spacy")
    config = Config().from_disk(CONFIGS / "tiny.cfg", interpolate=False)
    config["components"]["repsl_tagger"]["model"]["lora"] = {"@misc": "spacy-repsl.lora.v1", "r": 4, "dropout": 0.0}
    config["components"]["repsl_tagger"]["model"]["head_dropout"] = 0.0
    config["training"].update(accumulate_gradient=2, max_epochs=0, max_steps=4, eval_frequency=100)
    config["training"]["batcher"]["size"] = 2
    adapters = {}
    for annotating in ([], ["repsl_tagger"]):
        config["training"]["annotating_components"] = annotating
        path = tmp_path / f"annotating{len(annotating)}.cfg"
        config.to_disk(path)
        out = tmp_path / f"out{len(annotating)}"
        result = spacy_cli(
            "train",
            str(path),
            "--output",
            str(out),
            "--paths.train",
            str(tmp_path / "train.spacy"),
            "--paths.dev",
            str(tmp_path / "dev.spacy"),
            "--paths.decoder",
            str(tiny_decoders["llama"]),
        )
        assert result.returncode == 0, result.stdout + result.stderr
        adapters[len(annotating)] = lora_b(out / "model-last")
    assert adapters[1] and all(abs(v).max() > 0 for v in adapters[1].values())
    for name, value in adapters[0].items():
        numpy.testing.assert_allclose(adapters[1][name], value, atol=1e-6)


ENCODER_OVERRIDES = (
    "--training.max_steps",
    "40",
    "--training.eval_frequency",
    "20",
    "--training.optimizer.learn_rate.initial_rate",
    "0.002",
)  # a random tiny model learns slowly at 5e-5


def test_the_encoder_config_fine_tunes_an_encoder(tiny_encoders, tmp_path):
    result = train_on_examples("encoder.cfg", "encoder", tiny_encoders["bert"], tmp_path, *ENCODER_OVERRIDES)
    assert result.returncode == 0, result.stdout + result.stderr
    trained = spacy.load(tmp_path / "out" / "model-best")
    assert trained.meta["performance"]["ents_f"] > 0.5
    config = Config().from_disk(CONFIGS / "encoder.cfg", interpolate=False)
    model = config["components"]["repsl_tagger"]["model"]
    assert model["repetitions"] == 0 and model["lora"] is None and model["quantization"] is None
    assert config["training"]["optimizer"]["learn_rate"]["initial_rate"] == 5e-5
    stopped = spacy_cli(
        "train",
        str(CONFIGS / "encoder.cfg"),
        "--paths.train",
        str(tmp_path / "train.spacy"),
        "--paths.dev",
        str(tmp_path / "dev.spacy"),
        "--paths.encoder",
        str(tiny_encoders["bert"]),
        "--training.max_steps",
        "0",
        "--training.max_epochs",
        "3",
    )
    assert stopped.returncode != 0 and "needs total_steps >= 1" in stopped.stdout + stopped.stderr
