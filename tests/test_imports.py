"""spaCy imports every installed plugin on each spacy.blank: ours must stay light."""

import subprocess
import sys
import textwrap
from pathlib import Path

HEAVY = ("transformers", "peft", "bitsandbytes")


def run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


def test_factory_module_imports_without_torch_or_transformers():
    # Block the heavy packages outright (spaCy itself runs without torch).
    result = run(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "transformers", "peft", "bitsandbytes"):
                    raise ImportError("blocked " + name)
        sys.meta_path.insert(0, Block())
        import spacy
        nlp = spacy.blank("en")
        import spacy_repsl.pipeline.tagger, spacy_repsl.iob.scoring
        assert "repsl_tagger" in spacy.registry.factories
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_blank_and_add_pipe_load_no_heavy_package():
    result = run(
        f"""
        import sys, spacy
        nlp = spacy.blank("en")
        nlp.add_pipe("repsl_tagger", config={{"model": {{"name": "some/model"}}}})
        print([m for m in {HEAVY!r} if m in sys.modules])
        """
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_entry_points_register_everything_without_imports():
    result = run(
        """
        import spacy
        from spacy.util import registry
        assert registry.architectures.get("spacy-repsl.DecoderTagger.v1")
        assert registry.misc.get("spacy-repsl.lora.v1")
        assert registry.scorers.get("spacy-repsl.strict_iob_scorer.v1")
        assert registry.loggers.get("spacy-repsl.ray_tune_logger.v1")
        assert spacy.blank("en").get_factory_meta("repsl_tagger").factory == "repsl_tagger"
        import sys
        assert "ray" not in sys.modules  # the Tune logger imports Ray only when training starts
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr


BLOCK_RAY = """
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "ray":
            raise ImportError("No module named 'ray' (blocked)")
sys.meta_path.insert(0, Block())
"""


def test_the_local_engine_runs_without_ray_and_the_ray_engine_says_how_to_install_it(tmp_path):
    # A grid with nothing to do except one failing run: the local engine gets that far without Ray.
    cfg = Path(__file__).parent.parent / "configs" / "tiny.cfg"
    args = [
        "--root",
        str(tmp_path),
        "--config",
        str(cfg),
        "--datasets",
        "demo",
        "--models",
        "m",
        "--repetitions",
        "0",
        "--unmasking=",
        "--seeds",
        "1",
    ]
    local = run(
        BLOCK_RAY
        + f"""
from spacy_repsl.experiments.__main__ import main
try:
    main(["train", *{args!r}])
except SystemExit as e:
    print("exit", e.code, "ray" in sys.modules)
"""
    )
    assert "exit 1 False" in local.stdout, local.stdout + local.stderr
    assert "run the preprocess-demo command first" in local.stdout
    for command in (["train", "--engine", "ray"], ["search"]):
        result = run(
            BLOCK_RAY
            + f"""
from spacy_repsl.experiments.__main__ import main
try:
    main([*{command!r}, *{args!r}])
except SystemExit as e:
    print("exit", e.code)
"""
        )
        assert "exit 2" in result.stdout, result.stdout + result.stderr
        assert 'pip install "spacy-repsl[ray]"' in result.stderr
