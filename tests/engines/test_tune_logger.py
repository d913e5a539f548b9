"""spaCy's loop -> Ray Tune: what the logger reports, and that it is harmless outside Tune."""

import io

import spacy
from spacy.util import registry

from spacy_repsl.engines import tune_logger


def drive(setup, infos):
    stdout, stderr = io.StringIO(), io.StringIO()
    log_step, finalize = setup(spacy.blank("en"), stdout, stderr)
    for info in infos:
        log_step(info)
    finalize()
    return stdout.getvalue(), stderr.getvalue()


def info(step, score):
    return {
        "epoch": 0,
        "step": step,
        "score": score,
        "other_scores": {"ents_f": score},
        "losses": {"repsl_tagger": 1.0},
        "checkpoints": [],
        "seconds": 1,
        "words": 10,
    }


def test_reports_dev_score_at_every_evaluation_only(monkeypatch):
    reports = []
    monkeypatch.setattr(tune_logger, "_tune_report", lambda: reports.append)
    make = registry.loggers.get("spacy-repsl.ray_tune_logger.v1")
    out, _ = drive(make(progress_bar=False), [None, info(10, 0.5), None, None, info(20, 0.25), info(30, 0.0)])
    assert reports == [
        {"dev_f1": 0.5, "best_dev_f1": 0.5, "step": 10, "epoch": 0},
        {"dev_f1": 0.25, "best_dev_f1": 0.5, "step": 20, "epoch": 0},
        {"dev_f1": 0.0, "best_dev_f1": 0.5, "step": 30, "epoch": 0},
    ]
    assert "SCORE" in out and "0.25" in out  # the console table is still printed


def test_outside_a_tune_trial_it_is_the_console_logger():
    make = registry.loggers.get("spacy-repsl.ray_tune_logger.v1")
    out, err = drive(make(progress_bar=None), [info(10, 0.5)])
    assert "not inside a Ray Tune trial" in err and "0.50" in out
