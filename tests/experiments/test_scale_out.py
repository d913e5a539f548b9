"""The grid and the search on a local Ray instance (2 CPUs): same results as the local engine,
dead workers retried, failing runs isolated, Ctrl-C resumable, ASHA stopping the causal r0."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from spacy_repsl.experiments.__main__ import run

pytestmark = pytest.mark.slow  # a local Ray instance and real trainings: minutes

QUICK = ["--", "--training.max_epochs", "1", "--training.eval_frequency", "10", "--training.batcher.size", "16"]


def grid_args(root: Path, *extra: str, models: str = "") -> list:
    return [
        "--root",
        str(root),
        "--config",
        str(root / "tiny.cfg"),
        "--datasets",
        "demo",
        "--models",
        models or str(root / "tiny"),
        "--repetitions",
        "0,1",
        "--unmasking=",
        "--seeds",
        "1",
        "--cpus-per-run",
        "1",
        *extra,
    ]


def scores(root: Path) -> dict:
    out = {}
    for path in sorted((root / "metrics" / "runs").glob("**/seed*.json")):
        data = json.loads(path.read_text())
        out[str(path.relative_to(root))] = {
            s: {k: v for k, v in data[s].items() if k != "seconds"} for s in ("dev", "test")
        }
    return out


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("training", "metrics", "logs"))
    return dst


def test_ray_engine_writes_the_same_files_and_scores_as_the_local_engine(demo_project, tmp_path, local_ray):
    local, ray_root = copy_project(demo_project, tmp_path / "local"), copy_project(demo_project, tmp_path / "ray")
    tiny = str(demo_project / "tiny")  # one model path, so both projects name their runs alike
    for root, engine in ((local, "local"), (ray_root, "ray")):
        assert run(["train", "--engine", engine, *grid_args(root, models=tiny), *QUICK]) == 0
        assert run(["evaluate", "--engine", engine, *grid_args(root, models=tiny)]) == 0
    local_scores = scores(local)
    assert len(local_scores) == 2 and all(s["dev"]["f"] > 0 for s in local_scores.values())
    assert scores(ray_root) == local_scores

    def layout(root):
        return sorted(str(p.relative_to(root)) for p in (root / "training").glob("*/*/*/*/model-best/*"))

    assert layout(ray_root) == layout(local) and layout(local)
    assert not list(ray_root.glob("training/**/*.partial"))
    assert run(["train", "--engine", "ray", *grid_args(ray_root, models=tiny), *QUICK]) == 0  # all skipped


def kill_when_training(root: Path, run_dir: Path, log: Path, killed: list) -> None:
    """SIGKILL the worker that trains `run_dir`, once, as soon as its training has started."""
    partial = run_dir.with_name(run_dir.name + ".partial")
    deadline = time.time() + 120
    while time.time() < deadline:
        if partial.is_dir() and log.is_file():
            match = re.search(r"attempt 1 \[\w+\] on \S+ pid (\d+)", log.read_text())
            if match:
                time.sleep(0.1)  # the worker is training (or loading): seconds of work left
                os.kill(int(match[1]), signal.SIGKILL)
                killed.append(int(match[1]))
                return
        time.sleep(0.05)


def test_a_killed_worker_is_retried_and_a_failing_run_does_not_stop_the_others(
    demo_project, tmp_path, local_ray, capsys
):
    root = copy_project(demo_project, tmp_path / "p")
    killed: list = []
    models = f"{root / 'tiny'},{root / 'no-such-model'}"
    args = ["train", "--engine", "ray", *grid_args(root, models=models), "--repetitions", "1", *QUICK]
    from spacy_repsl.experiments.grid import Run

    run_dir = Run("demo", str(root / "tiny"), "r1", 1).train_dir(root)
    log = Run("demo", str(root / "tiny"), "r1", 1).log_path(root, "train")
    watcher = threading.Thread(target=kill_when_training, args=(root, run_dir, log, killed))
    watcher.start()
    failures = run(args)
    watcher.join()
    out = capsys.readouterr().out
    assert killed, "the watcher never saw the run start"
    assert failures == 1
    assert (run_dir / "model-best" / "config.cfg").is_file() and not run_dir.with_name("seed1.partial").exists()
    assert log.read_text().count("=== spacy-repsl job") == 2  # the killed attempt and the retry
    assert "done in" in out and "after 1 failed attempt(s)" in out
    assert "1 of 2 run(s) failed" in out and "no-such-model" in out and "DecoderNotAvailableError" in out


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(demo_project, tmp_path):
    root = copy_project(demo_project, tmp_path / "p")
    # Long enough (100 epochs) that the runs are still training when Ctrl-C comes, however fast the machine.
    cmd = [
        sys.executable,
        "-m",
        "spacy_repsl.experiments",
        "train",
        "--engine",
        "ray",
        *grid_args(root),
        "--",
        "--training.max_epochs",
        "100",
        "--training.eval_frequency",
        "10",
        "--training.batcher.size",
        "16",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list(root.glob("training/**/*.partial")):
        time.sleep(0.1)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-3000:]
    assert "Run the same command again to resume" in out
    assert not list(root.glob("training/*/*/*/seed1/model-best"))  # nothing half-done counts as done
    resumed = subprocess.run(cmd[:-7] + QUICK, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert len(list(root.glob("training/*/*/*/seed1/model-best/config.cfg"))) == 2
    assert not list(root.glob("training/**/*.partial"))


def test_asha_search_stops_the_causal_model_and_picks_a_right_context_method(demo_project, tmp_path, local_ray, capsys):
    root = copy_project(demo_project, tmp_path / "p")
    failures = run(
        [
            "search",
            "--root",
            str(root),
            "--config",
            str(root / "tiny.cfg"),
            "--search-datasets",
            "demo",
            "--models",
            str(root / "tiny"),
            "--candidates",
            "r0,r1,full",
            "--seeds",
            "1",
            "--grace-period",
            "3",
            "--",
            "--training.max_epochs",
            "6",
            "--training.eval_frequency",
            "25",
            "--training.batcher.size",
            "16",
        ]
    )
    assert failures == 0
    [path] = (root / "metrics" / "search" / "demo").glob("*.json")
    result = json.loads(path.read_text())
    trials = {t["method"]: t for t in result["trials"]}
    assert set(trials) == {"r0", "r1", "full"}
    assert trials["r0"]["status"] == "stopped"
    assert result["best_method"] in ("r1", "full")
    assert trials[result["best_method"]]["status"] == "completed"
    assert trials["r0"]["last_step"] < trials[result["best_method"]]["last_step"]
    assert 0 < result["fraction_of_steps"] < 1
    table = (root / "metrics" / "results.md").read_text()
    assert "## Config search" in table and f"{result['stopped_early']} of 3" in table
