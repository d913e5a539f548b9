"""`save_pipeline(nlp, path)`: the whole pipeline replaced at once, or not at all.

`nlp.to_disk(path)` rewrites spaCy's own files (config.cfg, meta.json, tokenizer, vocab) in
place, one after another: killed half-way, it leaves a directory that mixes two pipelines or
does not load. `save_pipeline` writes the complete pipeline into a hidden sibling directory,
then exchanges it with `path` in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), and
removes the old copy. A process killed at any moment leaves `path` holding either the previous
pipeline or the new one, whole. Hidden copies left by a killed save are removed by the next one.
Where the exchange is not available (not Linux, or a file system without it) the old directory
is renamed away and the new one renamed in: the directory is missing for the instant between
the two renames. One writer at a time per path.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Union

from ..serialization import exchange

_PREFIX = ".{name}.saving-"


def leftovers(path: Path):
    """Hidden copies left next to `path` by saves that were killed."""
    prefix = _PREFIX.format(name=path.name)
    return [p for p in path.parent.iterdir() if p.name.startswith(prefix)] if path.parent.is_dir() else []


def save_pipeline(nlp: Any, path: Union[str, Path]) -> Path:
    """Save `nlp` to `path` so that `path` always holds a whole pipeline, old or new."""
    path = Path(path).absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    for old in leftovers(path):
        shutil.rmtree(old, ignore_errors=True)
    tmp = path.with_name(_PREFIX.format(name=path.name) + uuid.uuid4().hex[:8])
    try:
        nlp.to_disk(tmp)
        _fsync_tree(tmp)
        if not path.exists():
            os.replace(tmp, path)
        elif exchange(tmp, path):
            shutil.rmtree(tmp)  # now the previous pipeline
        else:
            aside = tmp.with_name(tmp.name + "-old")
            os.replace(path, aside)
            os.replace(tmp, path)
            shutil.rmtree(aside)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def _fsync_tree(root: Path) -> None:
    """Flush the new files to disk before they replace the old ones (power loss, not only kills)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
