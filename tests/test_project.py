"""`spacy project run all` end to end: a tiny local decoder, a few sentences of every dataset,
one seed (a second for r0 and r1 on CoNLL-2003), a reduced grid. Produces the tables, the plots, the speed table and wheels."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .datasets.samples import write_conll, write_nlupp, write_rest14

ROOT = Path(__file__).parent.parent


def run_project(workdir: Path, command: str, tiny: Path, data: Path, encoder: Path) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "spacy",
        "project",
        "run",
        command,
        str(workdir / "project"),
        "--vars.models",
        str(tiny),
        "--vars.encoders",
        str(encoder),
        "--vars.conll03_dir",
        str(data / "conll"),
        "--vars.rest14_dir",
        str(data / "rest"),
        "--vars.nlupp_dir",
        str(data / "nlupp"),
        "--vars.ace05_dir",
        str(data / "ace"),
        "--vars.seeds",
        "1",
        "--vars.repetitions",
        "0,1",
        "--vars.exit_layers",
        "2",
        "--vars.exit_repetitions",
        "1",
        "--vars.groups",
        "2",
        "--vars.config",
        "../configs/tiny.cfg",
        "--vars.max_epochs",
        "2",
        "--vars.eval_frequency",
        "2",
        "--vars.bench_model",
        str(tiny),
        "--vars.bench_repetitions",
        "0,1",
        "--vars.bench_docs",
        "16",
        "--vars.bench_exit_layers",
        "2,4",
        "--vars.baseline_max_steps",
        "6",
        "--vars.sweep_datasets",
        "conll03",
        "--vars.more_seeds",
        "2",
    ]
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=workdir, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return result


@pytest.mark.slow
def test_project_runs_all_end_to_end(tmp_path):
    from spacy_repsl.decoder.tiny import build_tiny_decoder
    from spacy_repsl.encoders.tiny import build_tiny_encoder

    shutil.copytree(
        ROOT / "project",
        tmp_path / "project",
        ignore=shutil.ignore_patterns("assets", "corpus", "training", "metrics", "packages"),
    )
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    data = tmp_path / "data"
    write_conll(data / "conll")
    write_rest14(data / "rest")
    write_nlupp(data / "nlupp", folds=range(20))
    # No ACE05 (LDC-licensed: most users lack it): the workflow runs on the other three and says so.
    tiny = build_tiny_decoder("qwen3", tmp_path / "tiny")
    encoder = build_tiny_encoder("bert", tmp_path / "tiny-bert")

    result = run_project(tmp_path, "all", tiny, data, encoder)
    project = tmp_path / "project"
    assert "ace05: SKIPPED, its files are not there" in result.stdout
    assert "[train] ace05: skipped" in result.stdout and "[package] ace05: skipped" in result.stdout
    assert result.stdout.count("nothing to prepare") == 3  # get-base: other models chosen, no SmolLM2, MiniLM or MPNet
    # 15 runs of the grid, spaCy's ner on the two doc.ents datasets and its spancat on Rest14 (doc.spans),
    # the encoder on all three; a second seed for r0, r1 on conll03; the 2^2 group sweep
    assert "[train 21/21]" in result.stdout and "[sweep train 4/4]" in result.stdout
    assert "[train 2/2]" in result.stdout
    results = (project / "metrics" / "results.md").read_text()
    for heading in (
        "Methods (Table 1 style)",
        "Repetition sweep (Table 5 style)",
        "Early exit",
        "Layer-group sweep on conll03",
        "Inference speed-up (Table 2 style)",
    ):
        assert heading in results
    assert "| conll03 | rest14 | nlupp | Avg |" in results
    assert "**Skipped datasets**" in results and "- ace05: ACE05 train file not found" in results
    assert results.count("★") == 1
    assert "## Every run" in results and "| conll03 | spacy-ner | cnn | 1 |" in results
    assert "| conll03 | tiny | r1 | 1,2 |" in results
    assert "| rest14 | spacy-spancat | cnn | 1 |" in results  # spaCy's own span model where the target is doc.spans
    assert "| rest14 | tiny-bert | finetune | 1 |" in results  # the encoder row, on a doc.spans target too
    for png in ("f1_vs_r.png", "group_sweep.png", "methods.png"):
        assert (project / "metrics" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    wheels = sorted(p.name for p in project.glob("packages/*/dist/*.whl"))
    assert wheels == [f"en_repsl_{d}-0.0.0-py3-none-any.whl" for d in ("conll03", "nlupp", "rest14")]
    assert (project / "corpus" / "rest14" / "report.json").is_file()
    bench = (project / "metrics" / "BENCHMARKS.md").read_text()
    assert "| r | exit L | infer words/s" in bench and "## Targets" in bench

    again = run_project(tmp_path, "train", tiny, data, encoder)
    assert again.stdout.count("already done, skipped") == 21


def test_project_yml_is_valid_and_names_what_others_rely_on():
    from weasel.util import load_project_config

    config = load_project_config(ROOT / "project")
    commands = {c["name"] for c in config["commands"]}
    for name in (
        "preprocess-conll03",
        "preprocess-rest14",
        "preprocess-nlupp",
        "preprocess-ace05",
        "train",
        "evaluate",
        "aggregate",
        "plot",
        "profile",
        "package",
        "sweep",
        "demo-run",
        "search",
        "search-demo-run",
        "label",
    ):
        assert name in commands
    assert {"all", "demo", "search-demo", "conll03", "rest14", "nlupp", "ace05"} <= set(config["workflows"])
    for var in (
        "conll03_dir",
        "rest14_dir",
        "nlupp_dir",
        "ace05_dir",
        "models",
        "seeds",
        "gpu_id",
        "demo_conll03_dir",
        "engine",
        "ray_address",
        "gpus_per_run",
        "cpus_per_run",
        "bos",
    ):
        assert var in config["vars"]
    assert config["vars"]["engine"] == "local" and config["vars"]["bos"] == "every"
    # Every command that trains or evaluates runs of the grid passes the engine settings.
    for command in config["commands"]:
        for line in command["script"]:
            if any(f"spacy_repsl.experiments {c} " in line for c in ("train", "evaluate", "sweep", "search")):
                assert "--ray-address= " in line and "--gpus-per-run= " in line, line  # vars substituted
                if " search " not in line:
                    assert "--engine local" in line, line
    # get-base with --vars.models "" (encoders only) or --vars.encoders "": an empty list, not a missing argument
    get_base = next(c for c in config["commands"] if c["name"] == "get-base")["script"]
    assert len(get_base) == 3 and all("--only-if-listed=" in line for line in get_base), get_base
    # the real-scale commands pass skip_evaluated as one word: an empty value is an error, not "on"
    for name in ("train-full", "train-curve"):
        (line,) = next(c for c in config["commands"] if c["name"] == name)["script"]
        assert "--skip-evaluated=0 " in line, line


def test_project_readme_is_what_spacy_project_document_writes(tmp_path):
    """project/README.md is generated from project.yml; regenerate it with
    `python -m spacy project document project --output project/README.md` after editing project.yml."""
    from weasel.cli.document import project_document

    project_document(ROOT / "project", tmp_path / "README.md")
    assert (ROOT / "project" / "README.md").read_text() == (tmp_path / "README.md").read_text()


def test_the_label_command_passes_every_label_setting():
    from weasel.util import load_project_config

    config = load_project_config(ROOT / "project")
    script = " ".join(next(c for c in config["commands"] if c["name"] == "label")["script"])
    for piece in (
        "spacy_repsl.label",
        "--resume",
        "--engine",
        "--ray-address",
        "--num-workers",
        "--gpus-per-worker",
        "--gpu-id",
    ):
        assert piece in script
