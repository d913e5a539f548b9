"""The real-model workflow's pieces end to end on a tiny decoder: a subset corpus, our runs and
spaCy's own `ner` trained and scored the same way, times and confidence intervals recorded."""
import json
import shutil
from pathlib import Path

from spacy_repsl.datasets.__main__ import main as convert
from spacy_repsl.experiments.__main__ import run

from ..datasets.samples import write_conll

ROOT = Path(__file__).resolve().parents[2]


def test_train_and_evaluate_with_the_baseline(tiny_decoders, tmp_path, capsys):
    convert(["conll03", str(write_conll(tmp_path / "conll")), str(tmp_path / "corpus" / "conll03-quick"),
             "--limit", "3,0,0"])
    config = tmp_path / "configs" / "tiny.cfg"
    config.parent.mkdir()
    shutil.copy(ROOT / "configs" / "tiny.cfg", config)
    shutil.copy(ROOT / "configs" / "spacy_ner.cfg", config.parent / "spacy_ner.cfg")
    grid = ["--root", str(tmp_path), "--datasets", "conll03-quick", "--models", str(tiny_decoders["llama"]),
            "--repetitions", "0", "--unmasking=", "--seeds", "1", "--baseline"]
    assert run(["train", *grid, "--config", str(config), "--baseline-max-steps", "4", "--",
                "--training.max_epochs", "0", "--training.max_steps", "4", "--training.eval_frequency", "2"]) == 0
    assert run(["evaluate", *grid]) == 0
    metrics = sorted((tmp_path / "metrics" / "runs" / "conll03-quick").glob("*/*/seed1.json"))
    assert len(metrics) == 2
    for path in metrics:
        result = json.loads(path.read_text())
        assert result["train_seconds"] > 0 and result["test"]["docs"] == 4
        low, high = result["test"]["f_ci95"]
        assert 0.0 <= low <= result["test"]["f"] <= high <= 1.0
    baseline = json.loads((tmp_path / "metrics" / "runs" / "conll03-quick" / "spacy-ner" / "cnn" / "seed1.json").read_text())
    assert baseline["run"]["model"] == "spacy-ner"
    nlp_config = (tmp_path / "training" / "conll03-quick" / "spacy-ner" / "cnn" / "seed1" / "model-best" / "config.cfg").read_text()
    assert 'pipeline = ["tok2vec", "ner"]' in nlp_config and "max_steps = 4" in nlp_config
