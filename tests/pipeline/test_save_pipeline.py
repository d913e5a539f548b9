"""save_pipeline: killed at any moment, the path holds the old pipeline or the new one, whole."""

import os
import random
import signal
import time

import numpy
import pytest
import spacy

from spacy_repsl import save_pipeline
from spacy_repsl.storage.atomic import exchange
from spacy_repsl.storage.atomic import our_leftovers as leftovers

from .helpers import TEXTS, make_nlp, ner_examples, probabilities, train


@pytest.fixture(scope="module")
def two_pipelines(tiny_decoders):
    pipelines = []
    for steps in (1, 4):
        nlp = make_nlp(tiny_decoders["qwen3"], max_length=32)
        train(nlp, ner_examples(nlp), steps=steps)
        pipelines.append((nlp, probabilities(nlp, TEXTS)))
    assert not numpy.allclose(pipelines[0][1][0], pipelines[1][1][0])
    return pipelines


def same(a, b):
    return all(numpy.array_equal(x, y) for x, y in zip(a, b))


def test_exchange_swaps_two_directories(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("b")
    if not exchange(tmp_path / "a", tmp_path / "b"):
        pytest.skip("this file system cannot exchange paths: save_pipeline uses two renames here")
    assert (tmp_path / "a" / "x").read_text() == "b" and (tmp_path / "b" / "x").read_text() == "a"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="the kill test forks a saving process")
def test_a_kill_at_any_moment_leaves_the_old_or_the_new_pipeline(two_pipelines, tmp_path):
    (a, expected_a), (b, expected_b) = two_pipelines
    path = tmp_path / "pipeline"
    save_pipeline(a, path)
    rng = random.Random(0)
    seen = {"a": 0, "b": 0}
    for attempt in range(24):
        pid = os.fork()
        if pid == 0:  # the child saves b and a over each other until it is killed
            try:
                while True:
                    save_pipeline(b, path)
                    save_pipeline(a, path)
            finally:
                os._exit(0)
        time.sleep(rng.uniform(0.0, 0.4))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        got = probabilities(spacy.load(path), TEXTS)
        which = "a" if same(got, expected_a) else "b" if same(got, expected_b) else None
        assert which, f"kill {attempt}: the pipeline at {path} is neither the old nor the new one"
        seen[which] += 1
    assert seen["a"] and seen["b"], seen  # the kills landed at different moments
    save_pipeline(a, path)
    assert leftovers(path) == []  # what killed saves left behind is gone


def test_save_pipeline_writes_a_loadable_pipeline_and_replaces_it(two_pipelines, tmp_path):
    (a, expected_a), (b, expected_b) = two_pipelines
    save_pipeline(a, tmp_path / "p")
    assert same(probabilities(spacy.load(tmp_path / "p"), TEXTS), expected_a)
    save_pipeline(b, tmp_path / "p")
    assert same(probabilities(spacy.load(tmp_path / "p"), TEXTS), expected_b)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]


def test_saving_through_a_symlink_keeps_the_link(two_pipelines, tmp_path):
    (a, expected_a), (b, expected_b) = two_pipelines
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    save_pipeline(a, tmp_path / "link")
    save_pipeline(b, tmp_path / "link")
    assert (tmp_path / "link").is_symlink() and (tmp_path / "link").resolve() == tmp_path / "real"
    assert same(probabilities(spacy.load(tmp_path / "real"), TEXTS), expected_b)
