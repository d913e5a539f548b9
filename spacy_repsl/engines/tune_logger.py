"""`spacy-repsl.ray_tune_logger.v1`: spaCy's training loop reports dev scores to Ray Tune.

spaCy calls its `[training.logger]` after every step, with the scores at each evaluation. This
logger prints what spaCy's console logger prints and, inside a Ray Tune trial, reports at every
evaluation `dev_f1` (the weighted score that picks model-best), `best_dev_f1`, `step` and `epoch`,
so a scheduler such as ASHA can stop a trial that falls behind. Outside a Tune trial it is the
console logger. Imports Ray only when training starts.
"""

from __future__ import annotations

import sys
from typing import IO, Any, Callable, Dict, Optional, Tuple, Union

from spacy.training.loggers import console_logger_v3
from spacy.util import registry

LogStep = Callable[[Optional[Dict[str, Any]]], None]


def _tune_report() -> Optional[Callable[[Dict[str, Any]], None]]:
    """`ray.tune.report` when this process runs a Tune trial, else None."""
    try:
        from ray import tune
        from ray.train._internal.session import get_session
    except ImportError:
        return None
    return tune.report if get_session() is not None else None


@registry.loggers("spacy-repsl.ray_tune_logger.v1")
def ray_tune_logger_v1(
    progress_bar: Union[bool, str, None] = False, console_output: bool = True, output_file: Optional[str] = None
) -> Callable[..., Tuple[LogStep, Callable[[], None]]]:
    """spaCy's console logger that also reports each evaluation to Ray Tune (config search).

    Args:
        progress_bar: as `spacy.ConsoleLogger.v2`'s (false) or v3's ("eval", "train").
        console_output: print the usual table.
        output_file: also write the rows to this JSONL file.

    Returns:
        spaCy's logger setup function.
    """
    bar: Optional[str] = None
    if progress_bar is True:
        bar = "eval"
    elif isinstance(progress_bar, str):
        bar = progress_bar
    console = console_logger_v3(progress_bar=bar, console_output=console_output, output_file=output_file)

    def setup(nlp: Any, stdout: IO = sys.stdout, stderr: IO = sys.stderr) -> Tuple[LogStep, Callable[[], None]]:
        log_console, finalize = console(nlp, stdout, stderr)
        report = _tune_report()
        if report is None:
            stderr.write("[ray_tune_logger] not inside a Ray Tune trial: logging to the console only\n")
        best = float("-inf")

        def log_step(info: Optional[Dict[str, Any]]) -> None:
            nonlocal best
            log_console(info)
            if info is None or report is None:
                return
            score = float(info.get("score") or 0.0)
            best = max(best, score)
            report({"dev_f1": score, "best_dev_f1": best, "step": int(info["step"]), "epoch": int(info["epoch"])})

        return log_step, finalize

    return setup
