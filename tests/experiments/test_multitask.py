"""The shared decoder's multi-task check on tiny data: configs per run, resumable, scores per task."""

import json

import pytest

from spacy_repsl.experiments.multitask import RUNS, TASKS, main, run_config
from tests.datasets.samples import write_conll


@pytest.mark.parametrize("run", list(RUNS))
def test_each_run_is_the_shipped_config_cut_to_its_components(run):
    config = run_config(RUNS[run], "/models/base", 2, 1, steps=7)
    assert config["training"]["max_steps"] == 7 and config["training"]["eval_frequency"] == 7
    assert config["paths"]["decoder"] == "/models/base"
    if RUNS[run] is None:
        assert config["nlp"]["pipeline"] == ["repsl_tagger"]
        model = config["components"]["repsl_tagger"]["model"]
    else:
        assert config["nlp"]["pipeline"] == ["repsl_decoder", *RUNS[run]]
        assert set(config["components"]) == {"repsl_decoder", *RUNS[run]}
        assert set(config["training"]["score_weights"]) == {TASKS[c] for c in RUNS[run]}
        if "spancat" in RUNS[run]:
            assert config["components"]["spancat"]["spans_key"] == "chunks"
        model = config["components"]["repsl_decoder"]["model"]
    assert (model["exit_layer"], model["repetitions"], model["bos"]) == (2, 1, "every")


def test_runs_score_their_tasks_and_a_second_call_skips_them(tiny_decoders, tmp_path, capsys):
    data = write_conll(tmp_path / "conll")
    args = [
        str(data),
        str(tmp_path / "out"),
        "--decoder",
        str(tiny_decoders["llama"]),
        "--exit-layer",
        "2",
        "--runs",
        "joint,ner",
    ]
    main(args)
    results = json.loads((tmp_path / "out" / "multitask.json").read_text())
    assert set(results["runs"]["joint"]["scores"]) == {"ents_f", "tag_acc", "spans_chunks_f"}
    assert set(results["runs"]["ner"]["scores"]) == {"ents_f"}
    assert all(run["train_seconds"] > 0 and run["steps"] == 1 for run in results["runs"].values())
    capsys.readouterr()
    main(args)
    said = capsys.readouterr().out
    assert "[joint] done, skipped" in said and "[ner] done, skipped" in said
    assert "timing" not in results  # only once the three single-task runs exist
    main(args[:-1] + ["joint,ner,tagger,spancat", "--timing-rounds", "2", "--timing-docs", "3"])
    timing = json.loads((tmp_path / "out" / "multitask.json").read_text())["timing"]
    assert timing["docs"] == 3 and timing["rounds"] == 2
    assert set(timing["seconds"]) == {"joint", "ner", "tagger", "spancat"}
    assert all(len(times) == 2 and min(times) > 0 for times in timing["seconds"].values())
    assert timing["three_single_over_joint"] > 0
