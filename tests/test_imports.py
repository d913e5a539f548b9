"""spaCy imports every installed plugin on each spacy.blank: ours must stay light."""
import subprocess
import sys
import textwrap

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
        import spacy_repsl.pipeline.tagger, spacy_repsl.scoring
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
        assert spacy.blank("en").get_factory_meta("repsl_tagger").factory == "repsl_tagger"
        print("ok")
        """
    )
    assert result.returncode == 0, result.stderr
