"""`save_pipeline(nlp, path)`: the whole pipeline replaced at once, or not at all.

`nlp.to_disk(path)` rewrites spaCy's own files (config.cfg, meta.json, tokenizer, vocab) in
place, one after another: killed half-way, it leaves a directory that mixes two pipelines or
does not load. `save_pipeline` writes the complete pipeline into a hidden sibling directory,
then exchanges it with `path` in one atomic step (Linux `renameat2(RENAME_EXCHANGE)`), and
removes the old copy: `storage.atomic.atomic_directory`, the mechanism the component's own
directory is saved with. A process killed at any moment leaves `path` holding either the
previous pipeline or the new one, whole. Hidden copies left by a killed save are removed by the
next one. Where the exchange is not available (not Linux, or a file system without it) the old
directory is renamed away and the new one renamed in: the directory is missing for the instant
between the two renames. One writer at a time per path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Union

from ..storage.atomic import atomic_directory


def save_pipeline(nlp: Any, path: Union[str, Path]) -> Path:
    """Save `nlp` to `path` so that `path` always holds a whole pipeline, old or new."""
    path = Path(path).absolute()
    with atomic_directory(path) as tmp:
        nlp.to_disk(tmp)
    return path
