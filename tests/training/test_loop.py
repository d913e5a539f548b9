"""The resumable training loop: a run killed after a checkpoint and started again ends where the
uninterrupted run ends (same weights, same model-best, same predictions)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy
import pytest
import spacy
from safetensors.numpy import load_file
from thinc.api import Config

from spacy_repsl.training.loop import CHECKPOINT_DIR, RECORD_FILE
from spacy_repsl.training.state import read_progress

from ..test_training import CONFIGS, write_docbin

KILL = Path(__file__).parent / "kill.py"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus")
    nlp = spacy.blank("en")
    write_docbin(nlp, path / "train.spacy", copies=4)  # 32 sentences: 4 batches of 8 per epoch
    write_docbin(nlp, path / "dev.spacy")
    return path


def resumable_config(tmp_path, lora=True):
    config = Config().from_disk(CONFIGS / "tiny.cfg", interpolate=False)
    config["training"]["before_update"] = {"@callbacks": "repsl_test.kill_at_step.v1"}
    config["training"].update({"max_epochs": 0, "max_steps": 13, "eval_frequency": 4})
    if lora:
        config["components"]["repsl_tagger"]["model"]["lora"] = {
            "@misc": "spacy-repsl.lora.v1",
            "r": 4,
            "alpha": 8,
            "dropout": 0.1,
        }
    path = tmp_path / "resumable.cfg"
    config.to_disk(path)
    return path


def train(config, output, corpus, decoder, fold=False, **env):
    """`python -m spacy_repsl.training` as a user runs it; the finished process. Unless `fold`,
    prediction does not fold the adapters into the base."""
    environment = dict(os.environ, HF_HUB_OFFLINE="1", **env)
    environment.pop("REPSL_TEST_NO_FOLD", None)
    if not fold:
        environment["REPSL_TEST_NO_FOLD"] = "1"
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "spacy_repsl.training",
            str(config),
            "--output",
            str(output),
            "--code",
            str(KILL),
            "--paths.train",
            str(corpus / "train.spacy"),
            "--paths.dev",
            str(corpus / "dev.spacy"),
            "--paths.decoder",
            str(decoder),
        ],
        capture_output=True,
        text=True,
        env=environment,
        timeout=600,
    )


def weights(model_dir):
    return load_file(str(Path(model_dir) / "repsl_tagger" / "trainable.safetensors"))


@pytest.mark.parametrize("fold", [False, True], ids=["exact", "folding"])
def test_a_killed_run_resumes_to_the_uninterrupted_result(tiny_decoders, corpus, tmp_path, fold):
    """Bit-exact, with prediction folding the adapters into an fp32 base for each evaluation (the
    default: the base weights are put back as they were) or not."""
    config = resumable_config(tmp_path)
    straight = train(config, tmp_path / "straight", corpus, tiny_decoders["llama"], fold)
    assert straight.returncode == 0, straight.stdout + straight.stderr
    killed = train(config, tmp_path / "resumed", corpus, tiny_decoders["llama"], fold, REPSL_TEST_KILL_AT="10")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    progress = read_progress(tmp_path / "resumed" / CHECKPOINT_DIR)
    assert progress is not None and progress.steps == 8  # written before the evaluation at step 8
    resumed = train(config, tmp_path / "resumed", corpus, tiny_decoders["llama"], fold)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Resuming from" in resumed.stdout and "after step 7" in " ".join(resumed.stdout.split())
    assert not (tmp_path / "resumed" / CHECKPOINT_DIR).exists()
    record = json.loads((tmp_path / "resumed" / RECORD_FILE).read_text())
    assert record["steps"] == 14 and record["resumed_at"] == [8]
    for kind in ("model-last", "model-best"):
        ours, theirs = weights(tmp_path / "resumed" / kind), weights(tmp_path / "straight" / kind)
        assert ours.keys() == theirs.keys()
        for name in ours:
            numpy.testing.assert_array_equal(ours[name], theirs[name], err_msg=f"{kind}: {name}")
    assert (
        json.loads((tmp_path / "resumed" / "model-best" / "meta.json").read_text())["performance"]
        == json.loads((tmp_path / "straight" / "model-best" / "meta.json").read_text())["performance"]
    )

    # the log goes on from the checkpoint: the same steps evaluated, and (exact) the same rows, the
    # first one's loss summed over the steps before the restart too
    def rows(out):
        return [line.split() for line in out.splitlines() if line.strip()[:1].isdigit()]

    assert [row[1] for row in rows(resumed.stdout)] == ["8", "12"]
    assert rows(resumed.stdout) == rows(straight.stdout)[-2:]


def test_a_checkpoint_of_another_config_is_refused_not_deleted(tiny_decoders, corpus, tmp_path):
    config = resumable_config(tmp_path, lora=False)
    killed = train(config, tmp_path / "out", corpus, tiny_decoders["llama"], REPSL_TEST_KILL_AT="5")
    assert killed.returncode == -9
    assert read_progress(tmp_path / "out" / CHECKPOINT_DIR).steps == 4
    other = Config().from_disk(config, interpolate=False)
    other["training"]["optimizer"]["learn_rate"] = 0.01
    other.to_disk(tmp_path / "other.cfg")
    again = train(tmp_path / "other.cfg", tmp_path / "out", corpus, tiny_decoders["llama"])
    said = " ".join(again.stderr.split())
    assert again.returncode == 1 and "another config or other training data" in said and "delete" in said
    assert read_progress(tmp_path / "out" / CHECKPOINT_DIR).steps == 4  # still there
    shutil.rmtree(tmp_path / "out" / CHECKPOINT_DIR)  # the fix the message names
    again = train(tmp_path / "other.cfg", tmp_path / "out", corpus, tiny_decoders["llama"])
    assert again.returncode == 0, again.stdout + again.stderr
    assert json.loads((tmp_path / "out" / RECORD_FILE).read_text())["resumed_at"] == []


def test_an_unreadable_checkpoint_is_refused_with_the_fix(tiny_decoders, corpus, tmp_path):
    config = resumable_config(tmp_path, lora=False)
    (tmp_path / "out" / CHECKPOINT_DIR).mkdir(parents=True)
    (tmp_path / "out" / CHECKPOINT_DIR / "state.json").write_text("{cut sho")
    result = train(config, tmp_path / "out", corpus, tiny_decoders["llama"])
    said = " ".join(result.stderr.split())
    assert result.returncode == 1 and "damaged" in said and "delete" in said, result.stdout + result.stderr
    assert (tmp_path / "out" / CHECKPOINT_DIR / "state.json").read_text() == "{cut sho"


def test_one_process_at_a_time_trains_into_a_folder(corpus, tmp_path):
    from spacy_repsl.training import OutputInUse, train_from_config
    from spacy_repsl.training.loop import output_lock

    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy")}
    with output_lock(tmp_path / "out"):
        with pytest.raises(OutputInUse, match="Another process is training into"):
            train_from_config(CONFIGS / "spacy_ner.cfg", tmp_path / "out", overrides=overrides)
    assert not (tmp_path / "out" / "model-last").exists()


@pytest.mark.parametrize("patience,kill_at,steps", [(0, 7, 10), (4, 4, 5)])
def test_spacy_ner_resumes_in_the_same_process_exactly(corpus, tmp_path, monkeypatch, patience, kill_at, steps):
    """spaCy's own components too (thinc parameters, not a torch shim), with dropout, a
    compounding batch size and patience counted over the whole run; the second run builds the
    pipeline anew in the same process, so every id differs and the optimizer's state must be
    found by name."""
    from spacy_repsl.training import train_from_config

    from . import kill

    config = Config().from_disk(CONFIGS / "spacy_ner.cfg", interpolate=False)
    config["training"]["before_update"] = {"@callbacks": "repsl_test.kill_at_step.v1"}
    config["training"].update({"max_steps": 9, "eval_frequency": 3, "patience": patience})
    config.to_disk(tmp_path / "ner.cfg")
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy")}
    train_from_config(tmp_path / "ner.cfg", tmp_path / "straight", overrides=overrides)
    monkeypatch.setenv("REPSL_TEST_KILL_AT", str(kill_at))
    monkeypatch.setenv("REPSL_TEST_RAISE", "1")
    with pytest.raises(kill.Stop):
        train_from_config(tmp_path / "ner.cfg", tmp_path / "resumed", overrides=overrides)
    checkpoint_at = kill_at // 3 * 3
    assert read_progress(tmp_path / "resumed" / CHECKPOINT_DIR).steps == checkpoint_at
    monkeypatch.delenv("REPSL_TEST_KILL_AT")
    train_from_config(tmp_path / "ner.cfg", tmp_path / "resumed", overrides=overrides)
    record = json.loads((tmp_path / "resumed" / RECORD_FILE).read_text())
    assert record["resumed_at"] == [checkpoint_at]
    # patience 4: the best dev score is step 0's, so both stop after step 4 (not 4 steps after the restart)
    assert record["steps"] == json.loads((tmp_path / "straight" / RECORD_FILE).read_text())["steps"] == steps
    for kind in ("model-last", "model-best"):
        ours, theirs = spacy.load(tmp_path / "resumed" / kind), spacy.load(tmp_path / "straight" / kind)
        for name in ("tok2vec", "ner"):
            assert ours.get_pipe(name).model.to_bytes() == theirs.get_pipe(name).model.to_bytes(), f"{kind}: {name}"


def test_batches_replay_from_the_recorded_random_states_whatever_the_generator_holds():
    """Without a seed, a new process's generator differs: the corpus's own draws and every
    epoch's shuffle start from the recorded states instead."""
    import random

    from spacy_repsl.training.loop import train_batches

    def corpus(nlp):  # a reader that draws while it reads (as shuffle=True or an augmenter does)
        items = list(range(20))
        random.shuffle(items)
        return iter(items)

    def batcher(items):
        items = list(items)
        return (items[i : i + 3] for i in range(0, len(items), 3))

    random.seed(1)
    shuffles = []
    first = list(train_batches(None, corpus, batcher, 3, shuffles))
    assert len(shuffles) == 4  # before the corpus, then one per epoch
    random.seed(2)  # another process, another state
    assert list(train_batches(None, corpus, batcher, 3, list(shuffles))) == first


def test_a_checkpoint_set_aside_by_a_two_rename_swap_is_put_back(tmp_path):
    from spacy_repsl.training.loop import find_checkpoint, remove_checkpoint
    from spacy_repsl.training.state import FORMAT, STATE_FILE

    aside = tmp_path / ".checkpoint.repsl-old-x1y2" / "checkpoint"
    aside.mkdir(parents=True)
    (aside / STATE_FILE).write_text(
        json.dumps(
            {
                "progress": {
                    "steps": 4,
                    "words": 10,
                    "seconds": 1.0,
                    "results": [],
                    "losses": {},
                    "config": "c",
                    "format": FORMAT,
                }
            }
        )
    )
    (aside / "optimizer.npz").write_bytes(b"")
    find_checkpoint(tmp_path / "checkpoint")
    assert read_progress(tmp_path / "checkpoint").steps == 4 and not aside.exists()
    remove_checkpoint(tmp_path / "checkpoint")
    assert not (tmp_path / "checkpoint").exists() and not list(tmp_path.glob(".checkpoint.repsl-done-*"))
