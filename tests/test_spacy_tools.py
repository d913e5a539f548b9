"""spaCy's own tools accept every shipped config: `debug config`, `init fill-config`, `debug data`."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.cfg"))
ENV = dict(os.environ, HF_HUB_OFFLINE="1")


def spacy(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "spacy", *map(str, args)], capture_output=True, text=True, env=ENV, cwd=cwd
    )


def test_every_shipped_config_is_found():
    assert {p.name for p in CONFIGS} >= {
        "tiny.cfg",
        "repetition.cfg",
        "middle.cfg",
        "full.cfg",
        "early_exit.cfg",
        "lora_cpu.cfg",
        "spacy_ner.cfg",
        "spacy_spancat.cfg",
    }


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_debug_config_accepts_the_config(config, capsys):
    """spaCy's `debug config` (called in-process: the CLI is this function and an import)."""
    from spacy.cli.debug_config import debug_config

    debug_config(config, overrides={"paths.train": "train.spacy", "paths.dev": "dev.spacy"})  # exits if invalid
    assert "Config is valid" in capsys.readouterr().out


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_fill_config_round_trips(config, tmp_path):
    from spacy.cli.init_config import fill_config
    from spacy.util import load_config

    fill_config(tmp_path / "filled.cfg", config, silent=True)
    fill_config(tmp_path / "again.cfg", tmp_path / "filled.cfg", silent=True)
    filled = load_config(tmp_path / "filled.cfg")
    assert filled == load_config(tmp_path / "again.cfg")  # nothing left to fill
    original = load_config(config)
    ours = [name for name in ("repsl_tagger", "repsl_decoder") if name in original["components"]]
    if not ours:  # spacy_ner.cfg, spacy_spancat.cfg: the baselines, spaCy's own components
        assert original == filled
        return
    for name in ours:  # shared_decoder.cfg: spaCy fills its own components' defaults
        model = filled["components"][name]["model"]
        assert model == {**model, **original["components"][name]["model"]}  # nothing of ours changed


def test_debug_data_runs_on_the_tiny_config(tiny_decoders, tmp_path):
    from spacy_repsl.datasets import demo

    demo.convert(seed=0, sizes=(150, 30, 10)).write(tmp_path / "corpus")
    done = spacy(
        "debug",
        "data",
        CONFIGS[[p.name for p in CONFIGS].index("tiny.cfg")],
        "--paths.train",
        tmp_path / "corpus" / "train.spacy",
        "--paths.dev",
        tmp_path / "corpus" / "dev.spacy",
        "--paths.decoder",
        tiny_decoders["llama"],
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Summary" in done.stdout and "validation error" not in done.stdout
