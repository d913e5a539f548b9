"""Every Python block in README.md runs as written, with a tiny local decoder for the hub id."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
HUB_ID = "Qwen/Qwen3-0.6B"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_the_component_and_decoder_examples():
    blocks = python_blocks()
    assert any("add_pipe(\"repsl_tagger\"" in b for b in blocks) and any("build_decoder(" in b for b in blocks)


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index, tiny_decoders, tmp_path):
    code = python_blocks()[index].replace(HUB_ID, str(tiny_decoders["qwen3"]))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"README block {index} failed:\n{code}\n{done.stderr[-3000:]}"
