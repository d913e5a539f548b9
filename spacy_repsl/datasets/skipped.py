"""Datasets a workflow had to leave out (their files are not there, e.g. the licensed ACE05):
a `SKIPPED.json` in the dataset's corpus folder says why, so the experiment commands skip it
and the results say so, instead of the whole workflow failing."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Sequence

SKIPPED_FILE = "SKIPPED.json"


def mark_skipped(corpus_dir: Path, dataset: str, reason: str) -> None:
    corpus_dir.mkdir(parents=True, exist_ok=True)
    tmp = corpus_dir / f".{SKIPPED_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"dataset": dataset, "reason": reason}, indent=2), encoding="utf8")
    os.replace(tmp, corpus_dir / SKIPPED_FILE)


def skipped_datasets(corpus_root: Path, datasets: Sequence[str]) -> Dict[str, str]:
    """dataset -> why it was skipped, for those of `datasets` marked and without a corpus."""
    out = {}
    for dataset in datasets:
        marker = corpus_root / dataset / SKIPPED_FILE
        if marker.is_file() and not (corpus_root / dataset / "train.spacy").is_file():
            out[dataset] = json.loads(marker.read_text(encoding="utf8"))["reason"]
    return out
