"""`spacy train`'s loop, resumable: a run killed at any point continues from its last checkpoint
instead of from step 0, and ends where the uninterrupted run would have.

spaCy's own `train` keeps no optimizer state and cannot skip the batches already trained on, so
this is its `train` around its own `train_while_improving`, with three additions:

* before every dev evaluation (every `training.eval_frequency` steps) a checkpoint is written to
  `OUTPUT/checkpoint`, atomically: the pipeline (`nlp.to_disk`), the optimizer's state, the random
  generators, the steps done and the best score so far (`state.py`);
* a run that finds a checkpoint of the same config loads it, replays the consumed batches (each
  epoch shuffled from the random state the killed run shuffled it from; not trained on again),
  and restores the optimizer and generators;
* model-best is the best of all evaluations, those before the restart included.

Checkpoints sit just before an evaluation step so that the resumed loop, which counts its steps
from 0, evaluates at the same steps as the uninterrupted one. The resumed run equals the
uninterrupted one to float rounding: an fp32 base folds the adapters in for each evaluation and
takes them out again, which rounds the base weights, while a resumed run starts from the base as
loaded. `training.patience` counts from the restart.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from timeit import default_timer as timer
from pathlib import Path
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..serialization import atomic_directory
from .state import Progress, read_progress, restore_state, save_state

CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
RECORD_FILE = "training.json"  # steps, seconds (all processes) and restarts of a finished run


def config_digest(config: Any) -> str:
    """SHA-256 of the interpolated config's text: a checkpoint resumes only the run it came from."""
    return hashlib.sha256(config.to_str().encode("utf8")).hexdigest()


def train(
    nlp: Any,
    output_path: Optional[Path] = None,
    *,
    use_gpu: int = -1,
    stdout: IO = sys.stdout,
    stderr: IO = sys.stderr,
) -> Tuple[Any, Optional[Path]]:
    """spaCy's `spacy.training.loop.train` (same arguments, outputs and console log) that writes
    `output_path/checkpoint` before each evaluation and resumes from it when it is there; the
    checkpoint is removed once training ends. Without `output_path` nothing is saved or resumed.

    Raises ValueError when the checkpoint's optimizer state names parameters this pipeline lacks."""
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.loop import (DIR_MODEL_BEST, DIR_MODEL_LAST, clean_output_dir, create_before_to_disk_callback,
                                     create_evaluation_callback, train_while_improving, update_meta)
    from spacy.util import registry, resolve_dot_names
    from thinc.api import constant, fix_random_seed, set_gpu_allocator
    from wasabi import Printer

    msg = Printer(no_print=True)
    config = nlp.config.interpolate()
    seed = config["training"]["seed"]
    if seed is not None:
        fix_random_seed(seed)
    allocator = config["training"]["gpu_allocator"]
    if use_gpu >= 0 and allocator:
        set_gpu_allocator(allocator)
    T = registry.resolve(config["training"], schema=ConfigSchemaTraining)
    train_corpus, dev_corpus = resolve_dot_names(config, [T["train_corpus"], T["dev_corpus"]])
    optimizer = T["optimizer"]
    before_to_disk = create_before_to_disk_callback(T["before_to_disk"])
    frozen, annotating = T["frozen_components"], T["annotating_components"]
    eval_frequency, max_steps = T["eval_frequency"], T["max_steps"]
    dropouts = constant(T["dropout"]) if isinstance(T["dropout"], float) else T["dropout"]
    digest = config_digest(config)
    checkpoint = output_path / CHECKPOINT_DIR if output_path is not None else None
    progress = read_progress(checkpoint) if checkpoint is not None else None
    if progress is None and checkpoint is not None and checkpoint.exists():
        stdout.write(msg.warn(f"{checkpoint} cannot be read (not written by this version, or damaged): starting "
                              "from step 0") + "\n")
    if progress is not None and progress.config != digest:
        stdout.write(msg.warn(f"{checkpoint} is from a run with another config: starting from step 0") + "\n")
        progress = None
    if progress is None:
        clean_output_dir(output_path)
        if checkpoint is not None and checkpoint.exists():
            shutil.rmtree(checkpoint)
    else:
        nlp.from_disk(checkpoint / MODEL_DIR)
    shuffles: List[Any] = [_random_state(state) for state in progress.shuffles] if progress else []
    batches = train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"], shuffles)
    done = progress.steps if progress else 0
    if progress is not None:
        for _ in range(done):  # the same batches in the same order, not trained on again
            next(batches)
            next(dropouts)
            optimizer.step_schedules()
        restore_state(checkpoint, nlp, optimizer)
        stdout.write(msg.info(f"Resuming from {checkpoint} after step {done - 1}") + "\n")
    best = progress.best_score if progress else None

    def save(is_best: bool) -> None:
        with nlp.use_params(optimizer.averages):
            with atomic_directory(output_path / DIR_MODEL_LAST) as tmp:
                before_to_disk(nlp).to_disk(tmp)
        if is_best:
            with atomic_directory(output_path / DIR_MODEL_BEST) as tmp:
                shutil.copytree(output_path / DIR_MODEL_LAST, tmp, dirs_exist_ok=True)

    def write_checkpoint(steps: int, words: int, seconds: float, best_step: Optional[int]) -> None:
        with atomic_directory(checkpoint) as tmp:
            nlp.to_disk(tmp / MODEL_DIR)
            save_state(tmp, nlp, optimizer, Progress(steps, words, seconds, best, best_step, digest, resumed,
                                                     [_json_state(state) for state in shuffles]))

    steps = train_while_improving(
        nlp, optimizer, batches, create_evaluation_callback(nlp, dev_corpus, T["score_weights"]),
        dropout=dropouts, accumulate_gradient=T["accumulate_gradient"], patience=T["patience"],
        max_steps=max_steps - done if max_steps else 0, eval_frequency=eval_frequency, exclude=frozen,
        annotating_components=annotating, before_update=_shifted(T["before_update"], done),
    )
    stdout.write(msg.info(f"Pipeline: {nlp.pipe_names}") + "\n")
    if frozen:
        stdout.write(msg.info(f"Frozen components: {frozen}") + "\n")
    if annotating:
        stdout.write(msg.info(f"Set annotations on update for: {annotating}") + "\n")
    stdout.write(msg.info(f"Initial learn rate: {optimizer.learn_rate}") + "\n")
    with nlp.select_pipes(disable=frozen):
        log_step, finalize_logger = T["logger"](nlp, stdout, stderr)
    best_step = progress.best_step if progress else None
    words_before = progress.words if progress else 0
    seconds_before = progress.seconds if progress else 0.0
    resumed = [*progress.resumed, done] if progress else []
    start = timer()
    consumed = done
    try:
        for batch, info, is_best in steps:
            info["step"] += done
            info["words"] += words_before
            info["seconds"] = int(seconds_before + timer() - start)
            if is_best is not None:
                is_best = best is None or info["score"] >= best
                if is_best:
                    best, best_step = info["score"], info["step"]
                with nlp.select_pipes(disable=frozen):
                    update_meta(T, nlp, info)
                if output_path is not None:
                    save(is_best)
                    info["output_path"] = str(output_path / DIR_MODEL_LAST)
            log_step(info if is_best is not None else None)
            consumed = info["step"] + 1
            if checkpoint is not None and consumed % eval_frequency == 0 and (not max_steps or consumed < max_steps):
                write_checkpoint(consumed, info["words"], seconds_before + timer() - start, best_step)
    except Exception as e:
        if output_path is not None:
            stdout.write(msg.warn(f"Aborting and saving the final best model. Encountered exception: {e!r}") + "\n")
        raise
    finally:
        finalize_logger()
        if output_path is not None:
            save(False)
    if output_path is not None:
        record = {"steps": consumed, "seconds": round(seconds_before + timer() - start, 3), "resumed_at": resumed}
        tmp = output_path / f".{RECORD_FILE}.tmp"
        tmp.write_text(json.dumps(record) + "\n", encoding="utf8")
        os.replace(tmp, output_path / RECORD_FILE)
    if checkpoint is not None and checkpoint.exists():
        shutil.rmtree(checkpoint)
    if optimizer.averages:
        nlp.use_params(optimizer.averages)
    if output_path is None:
        return nlp, None
    stdout.write(msg.good("Saved pipeline to output directory", output_path / DIR_MODEL_LAST) + "\n")
    return nlp, output_path / DIR_MODEL_LAST


def train_batches(nlp: Any, corpus: Callable, batcher: Callable, max_epochs: int, shuffles: List[Any]) -> Iterator:
    """spaCy's `create_train_batches` (epochs of `(epoch, batch)`, the examples shuffled at the start
    of each), noting in `shuffles` the random state each epoch's shuffle started from, or, for the
    epochs `shuffles` already holds, starting from it: a replay draws the same orders although no
    training consumed random numbers between its epochs."""
    import random

    from spacy.errors import Errors

    epoch = 0
    if max_epochs >= 0:
        examples = list(corpus(nlp))
        if not examples:
            raise ValueError(Errors.E986)
    while max_epochs < 1 or epoch != max_epochs:
        if epoch < len(shuffles):
            random.setstate(shuffles[epoch])
        else:
            shuffles.append(random.getstate())
        if max_epochs >= 0:
            random.shuffle(examples)
        else:
            examples = corpus(nlp)
        for batch in batcher(examples):
            yield epoch, batch
        epoch += 1


def _json_state(state: Any) -> list:
    version, internal, gauss = state
    return [version, list(internal), gauss]


def _random_state(record: list) -> Any:
    version, internal, gauss = record
    return version, tuple(internal), gauss


def _shifted(callback: Optional[Callable[[Any, Dict[str, Any]], None]], done: int) -> Optional[Callable]:
    """`training.before_update` told the step of the whole run, not of the resumed part."""
    if callback is None or not done:
        return callback

    def before_update(nlp: Any, args: Dict[str, Any]) -> None:
        callback(nlp, {**args, "step": args["step"] + done})

    return before_update


def train_from_config(
    config_path: Path,
    output_path: Optional[Path] = None,
    *,
    use_gpu: int = -1,
    overrides: Optional[Dict[str, Any]] = None,
) -> Tuple[Any, Optional[Path]]:
    """`spacy train CONFIG --output OUTPUT` with the resumable loop: the same config loading,
    initialization and output, continuing from OUTPUT/checkpoint when an earlier run of the same
    config left one. Raises FileNotFoundError when the config file is missing."""
    from spacy import util
    from spacy.cli._util import setup_gpu, show_validation_error
    from spacy.training.initialize import init_nlp
    from wasabi import msg

    config_path = Path(config_path)
    if not config_path.is_file():
        raise FileNotFoundError(f"{config_path} is missing: give the path of a training config (spacy init config).")
    if output_path is not None:
        output_path = Path(output_path)
        output_path.mkdir(parents=True, exist_ok=True)
        msg.info(f"Saving to output directory: {output_path}")
    setup_gpu(use_gpu)
    with show_validation_error(config_path):
        config = util.load_config(config_path, overrides=dict(overrides or {}), interpolate=False)
    msg.divider("Initializing pipeline")
    with show_validation_error(config_path, hint_fill=False):
        nlp = init_nlp(config, use_gpu=use_gpu)
    msg.good("Initialized pipeline")
    msg.divider("Training pipeline")
    return train(nlp, output_path, use_gpu=use_gpu, stdout=sys.stdout, stderr=sys.stderr)
