"""BENCHMARKS.md is written by several benchmarks: each owns one marked section and rewrites
only that, so running one benchmark never erases another's measurements."""

from __future__ import annotations

import os
import re
from pathlib import Path


def write_section(path: Path, name: str, text: str) -> None:
    """Replace the section `name` of the Markdown file at `path` (appending it if absent)."""
    begin, end = f"<!-- section: {name} -->", f"<!-- /section: {name} -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    old = path.read_text(encoding="utf8") if path.is_file() else ""
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    new = (
        pattern.sub(lambda _: block, old, count=1)
        if pattern.search(old)
        else (old.rstrip() + "\n\n" + block if old.strip() else block)
    )
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(new, encoding="utf8")
    os.replace(tmp, path)
