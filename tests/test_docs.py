"""The docs hold: every command and Python block in README.md and docs/ is run by a test or says
why not, the runnable ones run, and every registered setting is documented in its docstring
(the settings reference is generated from them)."""

import configparser
import inspect
import os
import re
import shutil
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", ROOT / "CONTRIBUTING.md"] + sorted((ROOT / "docs").rglob("*.md"))
HUB_ID = "Qwen/Qwen3-0.6B"
MARKER = re.compile(r"<!-- test: (run|run-tiny|skip: (?P<reason>[^>]*\S[^>]*)) -->")
BLOCK = re.compile(r"(?P<marker><!-- test: [^>]*-->\s*\n)?```(?P<lang>[\w-]*)\n(?P<code>.*?)```", re.S)
COMMANDS = {"bash", "sh", "console", "python", "py"}


def blocks(page: Path):
    """(line, language, code, marker) of every fenced block of `page`, the marker the comment just above it."""
    text = page.read_text(encoding="utf-8")
    for match in BLOCK.finditer(text):
        line = text[: match.start("lang")].count("\n") + 1
        marker = match.group("marker")
        yield line, match.group("lang"), match.group("code"), (marker.strip() if marker else None)


def marked(kind: str):
    return [
        pytest.param(page, line, lang, code, id=f"{page.relative_to(ROOT)}:{line}")
        for page in PAGES
        for line, lang, code, marker in blocks(page)
        if marker == f"<!-- test: {kind} -->"
    ]


def test_every_command_and_snippet_is_run_or_says_why_not():
    unmarked = [
        f"{page.relative_to(ROOT)}:{line}"
        for page in PAGES
        for line, lang, _, marker in blocks(page)
        if lang in COMMANDS and not (marker and MARKER.fullmatch(marker))
    ]
    assert not unmarked, (
        "blocks without '<!-- test: run -->', '<!-- test: run-tiny -->' or '<!-- test: skip: REASON -->' "
        f"on the line above: {unmarked}"
    )


def test_the_marker_check_sees_an_unmarked_block(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("<!-- test: skip: a GPU -->\n```bash\nnvidia-smi\n```\n\n```python\nprint(1)\n```\n")
    found = [(lang, marker) for _, lang, _, marker in blocks(page)]
    assert found == [("bash", "<!-- test: skip: a GPU -->"), ("python", None)]
    assert not MARKER.fullmatch("<!-- test: skip:  -->")


def run_in(cwd: Path, lang: str, code: str) -> None:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-c", code] if lang.startswith("py") else ["bash", "-euo", "pipefail", "-c", code]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, (
        f"block failed:\n{code}\n--- stdout\n{done.stdout[-2000:]}\n--- stderr\n{done.stderr[-3000:]}"
    )


@pytest.mark.parametrize(
    "page",
    [p for p in PAGES if any(m == "<!-- test: run -->" for *_, m in blocks(p))],
    ids=lambda p: str(p.relative_to(ROOT)),
)
def test_a_pages_runnable_blocks_run_as_written_in_order(page, tmp_path):
    """As a reader runs them: one after the other, from the root of a clone (configs/ beside them)."""
    shutil.copytree(ROOT / "configs", tmp_path / "configs")
    for _, lang, code, marker in blocks(page):
        if marker == "<!-- test: run -->" and lang in COMMANDS:
            run_in(tmp_path, lang, code)


@pytest.mark.parametrize("page,line,lang,code", marked("run-tiny"))
def test_python_blocks_run_with_a_tiny_local_decoder_for_the_hub_id(page, line, lang, code, tiny_decoders, tmp_path):
    assert lang.startswith("py"), "run-tiny marks Python blocks"
    run_in(tmp_path, lang, code.replace(HUB_ID, str(tiny_decoders["qwen3"])))


def registered_functions():
    """Every name setup.cfg registers through entry points, with where it lives."""
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    for lines in config["options.entry_points"].values():
        for line in lines.strip().splitlines():
            name, target = (part.strip() for part in line.split("="))
            module, attr = target.split(":")
            yield pytest.param(name, module, attr, id=name)


def documented_args(doc: str):
    """The names under the `Args:` section of a docstring (Google style, dedented by inspect.getdoc)."""
    section = re.search(r"^Args:\n(.*?)(?=^\S|\Z)", doc, re.S | re.M)
    return set(re.findall(r"^    (\w+):", section.group(1), re.M)) if section else set()


def test_documented_args_reads_the_args_section():
    doc = "Summary.\n\nArgs:\n    r: rank.\n    alpha: the\n        scale.\n\nReturns:\n    x: not an arg.\n"
    assert documented_args(doc) == {"r", "alpha"}


@pytest.mark.parametrize("name,module,attr", list(registered_functions()))
def test_every_registered_setting_has_an_entry_in_its_docstring(name, module, attr):
    function = getattr(import_module(module), attr)
    missing = set(inspect.signature(function).parameters) - documented_args(inspect.getdoc(function) or "")
    assert not missing, f"{name} ({module}:{attr}): no Args entry for {sorted(missing)}"


def commands_named_in_the_docs():
    found = set()
    for page in PAGES:
        found.update(re.findall(r"python -m (spacy_repsl(?:\.[a-z_]+)*)(?![\w.])", page.read_text(encoding="utf-8")))
    return sorted(found)


def test_the_docs_name_the_package_commands():
    assert {"spacy_repsl.calibrate", "spacy_repsl.export", "spacy_repsl.label"} <= set(commands_named_in_the_docs())


@pytest.mark.parametrize("module", commands_named_in_the_docs())
def test_every_command_the_docs_name_exists_and_answers_help(module):
    done = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "usage" in done.stdout.lower(), f"python -m {module} --help:\n{done.stderr[-2000:]}"
