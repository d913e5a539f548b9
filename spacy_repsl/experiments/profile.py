"""Inference speed of trained runs: words/s through `nlp.pipe`, relative to r = 0 with all layers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

from .grid import Run
from .methods import method_settings


def words_per_second(model_dir: Path, texts: Sequence[str], batch_size: int = 32, repeats: int = 2) -> float:
    import spacy

    nlp = spacy.load(model_dir)
    list(nlp.pipe(texts[: min(len(texts), 8)]))  # warm-up
    best = 0.0
    tokenizer: Any = nlp.tokenizer
    words = sum(len(doc) for doc in tokenizer.pipe(texts))
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in nlp.pipe(texts, batch_size=batch_size):
            pass
        best = max(best, words / (time.perf_counter() - start))
    return best


def profile(root: Path, runs: Sequence[Run], max_docs: int = 500) -> Dict[str, List[Dict[str, Any]]]:
    """Time the r-sweep and early-exit runs (first seed) of each model on its dataset's test set."""
    import spacy
    from spacy.tokens import DocBin

    result: Dict[str, List[Dict[str, Any]]] = {}
    for run in runs:
        if not (run.method.startswith("exit") or run.method.startswith("r")):
            continue
        path = root / "corpus" / run.dataset / "test.spacy"
        docs = list(DocBin().from_disk(path).get_docs(spacy.blank("en").vocab))[:max_docs]
        wps = words_per_second(run.best_model(root), [d.text for d in docs])
        settings = method_settings(run.method)
        result.setdefault(run.model, []).append(
            {
                "method": run.method,
                "dataset": run.dataset,
                "repetitions": settings["repetitions"],
                "exit_layer": settings["exit_layer"],
                "words_per_second": wps,
            }
        )
        print(f"[profile] {run.model} {run.method}: {wps:.0f} words/s", flush=True)
    for model, cells in result.items():
        base = [c for c in cells if c["repetitions"] == 0 and c["exit_layer"] is None]
        for cell in cells:
            cell["speedup"] = cell["words_per_second"] / base[0]["words_per_second"] if base else None
        result[model] = [c for c in cells if c["speedup"] is not None]
    out = root / "metrics" / "speed.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    return result
