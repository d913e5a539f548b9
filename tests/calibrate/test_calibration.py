"""Calibration (pure) and the calibrate command on a tiny pipeline."""

import json

import numpy
import pytest

from spacy_repsl.iob.calibration import (
    expected_calibration_error,
    fit_temperature,
    minimize_temperature,
    reliability_bins,
    span_log_loss,
    tag_nll,
)


def test_ece_of_hand_computed_bins():
    scores = [0.05, 0.15, 0.95, 0.95, 0.95, 1.0]
    correct = [False, True, True, True, False, True]
    bins = reliability_bins(scores, correct)
    assert [(b.low, b.count) for b in bins] == [(0.0, 1), (0.1, 1), (0.9, 4)]  # 1.0 falls in the last bin
    # |0 - .05| * 1/6 + |1 - .15| * 1/6 + |.75 - .9625| * 4/6
    assert expected_calibration_error(scores, correct) == pytest.approx((0.05 + 0.85 + 0.2125 * 4) / 6)
    assert expected_calibration_error([], []) == 0.0
    with pytest.raises(ValueError, match="one per span"):
        reliability_bins([0.5], [True, False])


def test_perfectly_calibrated_scores_have_small_ece():
    rng = numpy.random.default_rng(0)
    scores = rng.uniform(size=20000)
    correct = rng.uniform(size=20000) < scores
    assert expected_calibration_error(scores, correct) < 0.02


def test_the_fitted_temperature_recovers_the_one_that_made_the_labels():
    rng = numpy.random.default_rng(1)
    logits = rng.normal(size=(20000, 5)) * 3
    true_t = 2.5
    probs = numpy.exp(logits / true_t)
    probs /= probs.sum(1, keepdims=True)
    gold = numpy.array([rng.choice(5, p=p) for p in probs])
    t = fit_temperature(logits, gold)
    assert t == pytest.approx(true_t, rel=0.05)
    assert tag_nll(logits, gold, t) <= min(tag_nll(logits, gold, x) for x in (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="No gold-tagged tokens"):
        fit_temperature(logits[:0], gold[:0])


def test_minimize_temperature_finds_a_non_convex_minimum():
    assert minimize_temperature(
        lambda t: (numpy.log(t) - numpy.log(3.0)) ** 2 + 0.1 * numpy.sin(20 * t) ** 2
    ) == pytest.approx(3.0, rel=0.05)
    assert span_log_loss([0.9, 0.1], [True, False]) == pytest.approx(-numpy.log(0.9))


def test_calibrate_writes_the_report_and_saves_the_temperature(tiny_decoders, tmp_path):
    import spacy
    from spacy.tokens import DocBin

    from spacy_repsl.calibrate import main

    from ..pipeline.helpers import make_nlp, ner_examples, train

    nlp = make_nlp(tiny_decoders["llama"])
    examples = ner_examples(nlp)
    train(nlp, examples, steps=8)
    nlp.to_disk(tmp_path / "pipeline")
    # Its own examples, and the same texts with the labels rotated: whatever it predicts is right
    # on one copy and wrong on the other, so there is something to calibrate against.
    rotated = []
    for example in examples:
        doc = nlp.make_doc(example.reference.text)
        doc.ents = [
            doc.char_span(e.start_char, e.end_char, label={"PER": "LOC", "LOC": "ORG", "ORG": "PER"}[e.label_])
            for e in example.reference.ents
        ]
        rotated.append(doc)
    DocBin(docs=[e.reference for e in examples] + rotated).to_disk(tmp_path / "dev.spacy")
    code = main(
        [
            str(tmp_path / "pipeline"),
            str(tmp_path / "dev.spacy"),
            str(tmp_path / "dev.spacy"),
            "--output",
            str(tmp_path / "metrics"),
            "--name",
            "tiny",
            "--save",
            str(tmp_path / "calibrated"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "metrics" / "tiny.json").read_text())
    dev = report["splits"]["dev"]["T=1"]
    assert dev["spans"] > 0 and 0.0 <= dev["path"]["ece"] <= 1.0 and set(dev) >= {"path", "mean", "min"}
    assert (tmp_path / "metrics" / "tiny.md").read_text().startswith("# Calibration of tiny")
    loaded = spacy.load(tmp_path / "calibrated")
    assert loaded.get_pipe("repsl_tagger").cfg["temperature"] == pytest.approx(report["fitted_temperature"])
    assert (
        main(
            [
                str(tmp_path / "pipeline"),
                str(tmp_path / "missing.spacy"),
                str(tmp_path / "dev.spacy"),
                "--output",
                str(tmp_path / "m2"),
            ]
        )
        == 1
    )
    again = [
        str(tmp_path / "pipeline"),
        str(tmp_path / "dev.spacy"),
        str(tmp_path / "dev.spacy"),
        "--output",
        str(tmp_path / "m3"),
        "--save",
        str(tmp_path / "calibrated"),
    ]
    assert main(again) == 1  # an existing folder needs --overwrite
    DocBin(docs=[]).to_disk(tmp_path / "empty.spacy")
    assert (
        main(
            [
                str(tmp_path / "pipeline"),
                str(tmp_path / "empty.spacy"),
                str(tmp_path / "dev.spacy"),
                "--output",
                str(tmp_path / "m4"),
            ]
        )
        == 1
    )


def test_a_dev_set_with_nothing_to_calibrate_against_is_refused(tiny_decoders, tmp_path, capsys):
    from spacy.tokens import DocBin

    from spacy_repsl.calibrate import main

    from ..pipeline.helpers import make_nlp, ner_examples, train

    nlp = make_nlp(tiny_decoders["llama"])
    examples = ner_examples(nlp)
    train(nlp, examples, steps=8)
    nlp.to_disk(tmp_path / "pipeline")
    no_gold = [nlp.make_doc(e.reference.text) for e in examples]
    for doc in no_gold:
        doc.ents = []  # annotated, and nothing is an entity: every predicted span is wrong
    DocBin(docs=no_gold).to_disk(tmp_path / "dev.spacy")
    assert (
        main(
            [
                str(tmp_path / "pipeline"),
                str(tmp_path / "dev.spacy"),
                str(tmp_path / "dev.spacy"),
                "--output",
                str(tmp_path / "m"),
            ]
        )
        == 1
    )
    err = capsys.readouterr().err
    assert "is wrong" in err or "predicts no span" in err, err


def test_report_names_stay_in_the_output_folder(tmp_path, capsys):
    from pathlib import Path

    from spacy_repsl.calibrate import main, report_name

    assert report_name(Path("/tmp/pipe"), None) == "tmp-pipe"  # was "/-tmp-pipe": a file at the root
    assert report_name(Path("/"), None) == "pipeline"
    assert report_name(tmp_path / "a" / "b" / "c" / "d" / "e", None) == "b-c-d-e"
    assert report_name(Path("/x"), "mine") == "mine"
    for bad in ("a/b", "..", "", "/abs"):
        with pytest.raises(ValueError, match="is not a file name"):
            report_name(Path("/x"), bad)
    # refused before anything is loaded or predicted: the pipeline and data need not exist
    assert main([str(tmp_path / "none"), "dev.spacy", "test.spacy", "--name", "a/b"]) == 1
    assert "--name 'a/b' is not a file name" in capsys.readouterr().err
