"""`spacy train`'s loop, resumable: a run killed at any point continues from its last checkpoint
instead of from step 0, and ends where the uninterrupted run would have.

spaCy's own `train` keeps no optimizer state and cannot skip the batches already trained on, so
this is its `train` around its own `train_while_improving`, with these additions:

* before every dev evaluation (every `training.eval_frequency` steps) a checkpoint is written to
  `OUTPUT/checkpoint`, atomically: the pipeline (`nlp.to_disk`), the optimizer's state, the random
  generators, the steps done, every evaluation so far and the losses since the last (`state.py`);
* a run that finds a checkpoint of the same config and training data loads it, replays the
  consumed batches (drawn from the random states the killed run drew them from; not trained on
  again), and restores the optimizer and generators;
* model-best and `training.patience` count every evaluation, those before the restart included;
* one process at a time trains into an output folder (a lock), and a checkpoint that is not this
  run's is refused, not deleted.

Checkpoints sit just before an evaluation step so that the resumed loop, which counts its steps
from 0, evaluates at the same steps as the uninterrupted one. Not resumed exactly: streamed
corpora (`max_epochs = -1`: no checkpoints are written) and `training.before_update` callbacks
that keep state of their own (they are not called for the replayed steps). With a GPU the
device's random generator (CuPy's, behind thinc's dropout) cannot be saved, so it is reseeded
from the seed and the step at every checkpoint, in the uninterrupted run as in the resumed one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import shutil
import sys
from contextlib import contextmanager
from pathlib import Path
from timeit import default_timer as timer
from typing import IO, Any, Callable, Dict, Iterator, List, Optional, Tuple

from ..storage.atomic import atomic_directory
from ..storage.paths import hidden_prefix
from .state import Progress, read_progress, restore_state, save_state, unreadable_reason

CHECKPOINT_DIR = "checkpoint"
MODEL_DIR = "model"
RECORD_FILE = "training.json"  # steps, seconds (all processes) and restarts of a finished run
LOCK_FILE = ".training.lock"


class CheckpointMismatch(ValueError):
    """An output folder holds a checkpoint this run cannot continue (another config or data, or
    one it cannot read): refused rather than deleted."""


class OutputInUse(RuntimeError):
    """Another process is training into the same output folder."""


def run_digest(config: Any, train_path: Any) -> str:
    """SHA-256 of the interpolated config's text and of the training data's bytes (a file, or the
    `.spacy` files of a folder): a checkpoint resumes only the run it came from."""
    digest = hashlib.sha256(config.to_str().encode("utf8"))
    path = Path(train_path) if isinstance(train_path, (str, Path)) and str(train_path) else None
    files = sorted(path.rglob("*.spacy")) if path is not None and path.is_dir() else [path] if path else []
    for file in files:
        if file is not None and file.is_file():
            digest.update(file.name.encode("utf8"))
            with open(file, "rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def output_lock(output_path: Optional[Path]) -> Iterator[None]:
    """Hold OUTPUT/.training.lock while training: a second process on the same folder is refused.
    Raises OutputInUse naming the folder."""
    if output_path is None:
        yield
        return
    output_path.mkdir(parents=True, exist_ok=True)
    with open(output_path / LOCK_FILE, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise OutputInUse(
                f"Another process is training into {output_path}: wait for it to end, or give this "
                "run another --output."
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def find_checkpoint(checkpoint: Path) -> None:
    """Put back a checkpoint that a kill left aside: where the system cannot swap folders in one
    step, a new checkpoint replaces the old by two renames, and a kill between them leaves the old
    one complete in a hidden `.checkpoint.repsl-old-*` folder (`storage.atomic.atomic_directory`)."""
    if checkpoint.exists():
        return
    aside = sorted(checkpoint.parent.glob(f"{hidden_prefix(checkpoint, 'old')}*/{checkpoint.name}"))
    if aside and read_progress(aside[-1]) is not None:
        os.replace(aside[-1], checkpoint)


def remove_checkpoint(checkpoint: Path) -> None:
    """Out of the way in one rename, then deleted: a kill while deleting leaves no half checkpoint
    that a rerun would try to resume (the hidden leftover goes with the next checkpoint's write)."""
    if not checkpoint.exists():
        return
    gone = checkpoint.with_name(f"{hidden_prefix(checkpoint, 'done')}{os.getpid()}")
    os.replace(checkpoint, gone)
    shutil.rmtree(gone, ignore_errors=True)


def reseed_device(seed: Optional[int], steps: int) -> None:
    """CuPy's generator (thinc's dropout on a GPU) cannot be saved: reseed it from the run's seed and
    the step at every checkpoint, so the resumed run draws what the uninterrupted one draws."""
    from thinc.api import get_current_ops

    ops = get_current_ops()
    if seed is None or type(ops).__name__ != "CupyOps":
        return
    ops.xp.random.seed((int(seed) * 1_000_003 + steps) % (2**32))


def train(
    nlp: Any,
    output_path: Optional[Path] = None,
    *,
    use_gpu: int = -1,
    stdout: IO = sys.stdout,
    stderr: IO = sys.stderr,
    started: Optional[float] = None,
) -> Tuple[Any, Optional[Path]]:
    """spaCy's `spacy.training.loop.train` (same arguments, outputs and console log) that writes
    `output_path/checkpoint` before each evaluation and resumes from it when it is there; the
    checkpoint is removed once training ends. Without `output_path` nothing is saved or resumed.
    `started`: the `timeit.default_timer()` reading when this process began (its set-up counts in
    the recorded seconds; default: now).

    Raises CheckpointMismatch when the output holds a checkpoint of another config or data (or one
    it cannot read), OutputInUse when another process trains into the same output, ValueError
    when the checkpoint's optimizer state names parameters this pipeline lacks."""
    with output_lock(output_path):
        return _train(nlp, output_path, use_gpu, stdout, stderr, timer() if started is None else started)


def _train(
    nlp: Any, output_path: Optional[Path], use_gpu: int, stdout: IO, stderr: IO, started: float
) -> Tuple[Any, Optional[Path]]:
    from spacy.schemas import ConfigSchemaTraining
    from spacy.training.loop import (
        DIR_MODEL_BEST,
        DIR_MODEL_LAST,
        clean_output_dir,
        create_before_to_disk_callback,
        create_evaluation_callback,
        train_while_improving,
        update_meta,
    )
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
    eval_frequency, max_steps, patience = T["eval_frequency"], T["max_steps"], T["patience"]
    dropouts: Iterator[float] = iter(constant(T["dropout"]) if isinstance(T["dropout"], float) else T["dropout"])
    digest = run_digest(config, getattr(train_corpus, "path", None))
    checkpoint = output_path / CHECKPOINT_DIR if output_path is not None else None
    checkpoints = checkpoint is not None and T["max_epochs"] >= 0
    progress = None
    if checkpoint is not None:
        find_checkpoint(checkpoint)
        if checkpoint.exists():
            unreadable = unreadable_reason(checkpoint)
            progress = None if unreadable else read_progress(checkpoint)
            if progress is None or progress.config != digest:
                why = (
                    f"cannot be resumed: {unreadable}"
                    if progress is None
                    else ("is from a run with another config or other training data")
                )
                raise CheckpointMismatch(
                    f"{checkpoint} {why}: run again with the config and data it was written with to resume, or "
                    f"delete {checkpoint} (or give another --output) to start from step 0."
                )
    if progress is None:
        clean_output_dir(output_path)
    else:
        assert checkpoint is not None  # a progress record is only read from a checkpoint
        nlp.from_disk(checkpoint / MODEL_DIR)
    shuffles: List[Any] = [_random_state(state) for state in progress.shuffles] if progress else []
    batches = train_batches(nlp, train_corpus, T["batcher"], T["max_epochs"], shuffles)
    done = progress.steps if progress else 0
    for _ in range(done):  # the same batches in the same order, not trained on again
        next(batches)
        next(dropouts)
        optimizer.step_schedules()
    results: List[Tuple[float, int]] = [(score, int(step)) for score, step in progress.results] if progress else []
    pending_losses = dict(progress.losses) if progress else {}

    def save(is_best: bool) -> None:
        assert output_path is not None
        with nlp.use_params(optimizer.averages):
            with atomic_directory(output_path / DIR_MODEL_LAST) as tmp:
                before_to_disk(nlp).to_disk(tmp)
        if is_best:
            with atomic_directory(output_path / DIR_MODEL_BEST) as tmp:
                shutil.copytree(output_path / DIR_MODEL_LAST, tmp, dirs_exist_ok=True)

    def write_checkpoint(steps: int, words: int, losses: Dict[str, float]) -> None:
        state = Progress(
            steps,
            words,
            seconds_before + timer() - started,
            [[float(score), int(step)] for score, step in results],
            {name: float(value) for name, value in losses.items()},
            digest,
            resumed,
            [_json_state(s) for s in shuffles],
        )
        assert checkpoint is not None  # written only when checkpoints are on
        try:
            with atomic_directory(checkpoint) as tmp:
                nlp.to_disk(tmp / MODEL_DIR)
                save_state(tmp, nlp, optimizer, state)
        except (OSError, ValueError, TypeError) as err:  # a run that trains must not die of its checkpoint
            stdout.write(msg.warn(f"No checkpoint at step {steps - 1}: {err}") + "\n")
        reseed_device(seed, steps)

    steps = train_while_improving(
        nlp,
        optimizer,
        batches,
        create_evaluation_callback(nlp, dev_corpus, T["score_weights"]),
        dropout=dropouts,  # type: ignore[arg-type]  # spaCy's loop takes a float or an iterator of them
        accumulate_gradient=T["accumulate_gradient"],
        patience=0,
        max_steps=max_steps - done if max_steps else 0,
        eval_frequency=eval_frequency,
        exclude=frozen,
        annotating_components=annotating,
        before_update=_shifted(T["before_update"], done),
    )
    stdout.write(msg.info(f"Pipeline: {nlp.pipe_names}") + "\n")
    if frozen:
        stdout.write(msg.info(f"Frozen components: {frozen}") + "\n")
    if annotating:
        stdout.write(msg.info(f"Set annotations on update for: {annotating}") + "\n")
    stdout.write(msg.info(f"Initial learn rate: {optimizer.learn_rate}") + "\n")
    with nlp.select_pipes(disable=frozen):
        log_step, finalize_logger = T["logger"](nlp, stdout, stderr)
    if progress is not None:  # last, so that nothing set up since draws from the restored generators
        assert checkpoint is not None
        restore_state(checkpoint, nlp, optimizer)
        reseed_device(seed, done)
        stdout.write(msg.info(f"Resuming from {checkpoint} after step {done - 1}") + "\n")
    words_before = progress.words if progress else 0
    seconds_before = progress.seconds if progress else 0.0
    resumed = [*progress.resumed, done] if progress else []
    consumed = done
    try:
        for _batch, info, is_best in steps:
            info["step"] += done
            info["words"] += words_before
            info["seconds"] = int(seconds_before + timer() - started)
            if pending_losses:  # the losses since the last evaluation before the restart
                for name, value in pending_losses.items():
                    info["losses"][name] = info["losses"].get(name, 0.0) + value
                pending_losses = {}
            if is_best is not None:
                results.append((info["score"], info["step"]))
                info["checkpoints"] = list(results)
                is_best = info["score"] == max(score for score, _ in results)
                with nlp.select_pipes(disable=frozen):
                    update_meta(T, nlp, info)
                if output_path is not None:
                    save(is_best)
                    info["output_path"] = str(output_path / DIR_MODEL_LAST)
            log_step(info if is_best is not None else None)
            consumed = info["step"] + 1
            if checkpoints and consumed % eval_frequency == 0 and (not max_steps or consumed < max_steps):
                write_checkpoint(consumed, info["words"], {} if is_best is not None else dict(info["losses"]))
            # spaCy's patience, over every evaluation of the run: the earliest best step on ties
            best_step = -max((score, -step) for score, step in results)[1] if results else 0
            if patience and info["step"] - best_step >= patience:
                break
    except Exception as e:
        if output_path is not None:
            stdout.write(msg.warn(f"Aborting and saving the final best model. Encountered exception: {e!r}") + "\n")
        raise
    finally:
        finalize_logger()
        if output_path is not None:
            save(False)
    if output_path is not None:
        record = {
            "steps": consumed,
            "seconds": round(seconds_before + timer() - started, 3),
            "resumed_at": resumed,
            "config": digest,
        }
        tmp = output_path / f".{RECORD_FILE}.tmp"
        tmp.write_text(json.dumps(record) + "\n", encoding="utf8")
        os.replace(tmp, output_path / RECORD_FILE)
        if checkpoint is not None:
            remove_checkpoint(checkpoint)
    if optimizer.averages:
        nlp.use_params(optimizer.averages)
    if output_path is None:
        return nlp, None
    stdout.write(msg.good("Saved pipeline to output directory", output_path / DIR_MODEL_LAST) + "\n")
    return nlp, output_path / DIR_MODEL_LAST


def train_batches(nlp: Any, corpus: Callable, batcher: Callable, max_epochs: int, shuffles: List[Any]) -> Iterator:
    """spaCy's `create_train_batches` (epochs of `(epoch, batch)`, the examples shuffled at the start
    of each), noting in `shuffles` the random state the corpus was read from and then each epoch's
    shuffle started from, or, for the states `shuffles` already holds, starting from them: a replay
    draws the same orders although no training consumed random numbers in between."""
    from spacy.errors import Errors

    def draw_from(index: int) -> None:
        if index < len(shuffles):
            random.setstate(shuffles[index])
        else:
            shuffles.append(random.getstate())

    epoch = 0
    if max_epochs >= 0:
        draw_from(0)
        examples = list(corpus(nlp))
        if not examples:
            raise ValueError(Errors.E986)
    while max_epochs < 1 or epoch != max_epochs:
        if max_epochs >= 0:
            draw_from(epoch + 1)
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
    config left one. Raises FileNotFoundError when the config file is missing, and what `train`
    raises."""
    from spacy import util
    from spacy.cli._util import setup_gpu, show_validation_error
    from spacy.training.initialize import init_nlp
    from wasabi import msg

    started = timer()
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
    return train(nlp, output_path, use_gpu=use_gpu, stdout=sys.stdout, stderr=sys.stderr, started=started)
