"""`spacy package` builds a wheel that installs into a fresh venv and loads with no hub."""

import json
import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from .pipeline.helpers import make_nlp, ner_examples, train

ROOT = Path(__file__).parent.parent
TEXT = "John Smith lives in Paris ."


def run(args, **kwargs):
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=1500, **kwargs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


@pytest.mark.slow
def test_packaged_pipeline_installs_and_runs_offline_in_a_fresh_venv(tmp_path):
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    base = build_tiny_decoder("qwen3", tmp_path / "base")
    nlp = make_nlp(base, bundle_base=True)
    train(nlp, ner_examples(nlp), steps=15)
    expected = [(e.text, e.label_) for e in nlp(TEXT).ents]
    nlp.to_disk(tmp_path / "pipeline")
    dist = tmp_path / "dist"
    dist.mkdir()
    run(
        [
            sys.executable,
            "-m",
            "spacy",
            "package",
            tmp_path / "pipeline",
            dist,
            "--name",
            "repsl_tiny",
            "--version",
            "0.0.1",
            "--build",
            "wheel",
            "--force",
        ]
    )
    (wheel,) = dist.glob("*/dist/*.whl")
    meta = json.loads(next(dist.glob("*/meta.json")).read_text())
    assert any(r.startswith("spacy-repsl") for r in meta["requirements"])
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "ours", ROOT])
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    run([python, "-m", "pip", "install", "-q", "torch==2.13.0"])
    run([python, "-m", "pip", "install", "-q", "--find-links", tmp_path / "ours", wheel])
    import shutil

    shutil.rmtree(base)  # the bundled copy must be all it needs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHONPATH"))}
    env.update(HF_HUB_OFFLINE="1", HF_HOME=str(tmp_path / "empty-hf-home"))
    script = f"import json, spacy; nlp = spacy.load('en_repsl_tiny'); print(json.dumps([(e.text, e.label_) for e in nlp({TEXT!r}).ents]))"
    result = run([python, "-c", script], env=env, cwd=tmp_path)
    assert [tuple(x) for x in json.loads(result.stdout.strip().splitlines()[-1])] == expected
