"""Session fixtures: tiny random decoders of every family, built once and loaded by path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Dict

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from spacy_repsl.decoder.tiny import TINY_FAMILIES as FAMILIES  # noqa: E402 (cheap: no torch)

WINDOWED = ("mistral", "qwen3", "gemma2", "gemma3_text", "phi3")  # families with sliding-window layers
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SMOLLM2_GGUF = SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
REAL_TOKENIZERS = ("llama3-bpe", "llama2-spm", "qwen2", "phi3-spm")  # ../shared/tokenizers


def real_tokenizer_dir(name: str) -> Path:
    """A real tokenizer of ../shared/tokenizers by folder name; skips the test when absent."""
    path = SHARED / "tokenizers" / name
    if not (path / "tokenizer.json").is_file():
        pytest.skip(f"the real tokenizer {path} is not present (only on development machines and CI)")
    return path


@pytest.fixture(scope="session")
def real_tokenizers() -> Dict[str, object]:
    """The real tokenizers of ../shared/tokenizers that are present, loaded once; skips when none is."""
    from transformers import AutoTokenizer

    present = {name: SHARED / "tokenizers" / name for name in REAL_TOKENIZERS}
    present = {name: path for name, path in present.items() if (path / "tokenizer.json").is_file()}
    if not present:
        pytest.skip(f"no real tokenizer in {SHARED / 'tokenizers'} (only on development machines and CI)")
    return {name: AutoTokenizer.from_pretrained(path) for name, path in present.items()}


def pytest_addoption(parser):
    parser.addoption(
        "--slow",
        action="store_true",
        help="also run the tests marked slow (minutes each; spaCy's convention): CI runs them in a second step",
    )


def pytest_collection_modifyitems(config, items):
    """Tests marked slow are skipped, with the reason, unless --slow is given, so the default run
    stays a developer's loop (under 15 minutes on 2 cores); `.ci/run` runs them with `--slow -m slow`."""
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="slow (minutes): run with --slow, as CI does")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def fixed_random_seed():
    """Every test starts from the same random state (Python, numpy, torch), whatever ran before it.

    Without it a test's random weights depend on the order and the selection of the tests before it:
    a learning test that passes alone can fail in the full run (CI, stop 43: gemma2 15 steps).
    """
    from thinc.api import fix_random_seed

    fix_random_seed(0)


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory):
    """GGUF conversions go to a cache of the test session, never the user's."""
    os.environ["SPACY_REPSL_CACHE"] = str(tmp_path_factory.mktemp("repsl-cache"))


@pytest.fixture(scope="session")
def smollm2_gguf() -> Path:
    """The real SmolLM2-135M GGUF of ../shared/models (development machines and CI only)."""
    if not SMOLLM2_GGUF.is_file():
        pytest.skip(f"the real model {SMOLLM2_GGUF} is not present (only on development machines and CI)")
    return SMOLLM2_GGUF


@pytest.fixture(scope="session")
def smollm2(smollm2_gguf) -> Path:
    """SmolLM2-135M converted once (about 25 s) into the session's cache."""
    from spacy_repsl.decoder.gguf import convert_gguf

    return convert_gguf(smollm2_gguf, quiet=True)


@pytest.fixture(scope="session")
def tiny_decoders(tmp_path_factory) -> Dict[str, Path]:
    """family -> directory of a 4-layer random decoder with its own tokenizer."""
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("tiny")
    return {f: build_tiny_decoder(f, root / f) for f in FAMILIES}


@pytest.fixture(scope="session")
def tiny_encoders(tmp_path_factory) -> Dict[str, Path]:
    """family -> directory of a 4-layer random encoder (a masked-LM checkpoint) with its own tokenizer."""
    from spacy_repsl.encoders.tiny import TINY_ENCODERS, build_tiny_encoder

    root = tmp_path_factory.mktemp("tiny-encoders")
    return {f: build_tiny_encoder(f, root / f) for f in TINY_ENCODERS}


@pytest.fixture(scope="session")
def windowed_decoders(tmp_path_factory) -> Dict[str, Path]:
    """Families with sliding-window layers, with a window of 3 tokens so it matters."""
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("windowed")
    return {f: build_tiny_decoder(f, root / f, sliding_window=3) for f in WINDOWED}


@pytest.fixture(scope="session")
def demo_project(tmp_path_factory) -> Path:
    """A project directory with a tiny Llama, the demo corpus (600 / 150 / 10 sentences) in
    corpus/demo and configs/tiny.cfg: copy it before writing into it."""
    import shutil

    from spacy_repsl.datasets import demo
    from spacy_repsl.decoder.tiny import build_tiny_decoder

    root = tmp_path_factory.mktemp("demo_project")
    conversion = demo.convert(seed=0, sizes=(600, 150, 10))
    conversion.write(root / "corpus" / "demo")
    texts = [doc.text for doc in conversion.docs["train"]]
    build_tiny_decoder("llama", root / "tiny", texts=texts, seed=0, num_layers=4, hidden_size=64)
    shutil.copy(Path(__file__).parent.parent / "configs" / "tiny.cfg", root / "tiny.cfg")
    return root


@pytest.fixture(scope="module")
def local_ray():
    """A local Ray instance with 2 CPUs for the tests of one module, shut down after them."""
    import ray  # part of the test extra: a missing Ray is a broken install, not a reason to skip

    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()
