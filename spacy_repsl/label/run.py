"""Label a corpus: items in, records out, on the local engine (`nlp.pipe`, optionally several
processes) or on Ray Data (a pool of actors, each loading the pipeline once). Both engines
turn docs into records with the same function and write through the same sinks, so their
outputs are identical; bad records are handled in input order by the same code."""

from __future__ import annotations

import pickle
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator, List, Optional, TextIO, Tuple

from ..models.passes import on_pass
from .progress import Progress, duration
from .records import check_fields, output_record, score_groups, targets
from .sinks import open_sink
from .sources import (
    MAX_LENGTH,
    Item,
    LabelInputError,
    Position,
    check_output_apart,
    count_items,
    input_files,
    read_file,
    read_items,
    start_of,
)

ON_ERROR = ("fail", "skip")
SHOWN_ERRORS = 20  # bad records listed one by one; the rest are counted
RAY_BATCH_SIZE = 256  # docs per Ray Data batch when --batch-size is not given


@dataclass
class Options:
    pipeline: str
    input: str
    output: Path
    text_key: str = "text"
    batch_size: Optional[int] = None
    n_process: int = 1
    gpu_id: Optional[int] = None
    on_error: str = "fail"
    resume: bool = False
    overwrite: bool = False
    part_size: int = 10000
    progress_every: int = 10000
    engine: str = "local"
    ray_address: Optional[str] = None
    num_workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    max_length: int = MAX_LENGTH
    replace_spans: bool = False


@dataclass
class Summary:
    read: int = 0
    labelled: int = 0
    skipped: int = 0
    resumed_after: Optional[Position] = None
    seconds: float = 0.0
    first_record: Optional[float] = None  # seconds until the first record was written (model loading, Ray start)
    first_batch: Optional[float] = None  # seconds until the first batch's last record was written
    batch_size: int = 0  # records in the first batch
    errors: List[str] = field(default_factory=list)
    stopped_by: Optional[Exception] = None  # a bad record that stops the run once what came before is written

    @property
    def steady_rate(self) -> Optional[float]:
        """Docs/s after the first batch: the rate the run settles at, without its start-up cost
        (a batch's records are written together, so the first record alone says nothing)."""
        if self.first_batch is None or self.labelled <= self.batch_size or self.seconds <= self.first_batch:
            return None
        return (self.labelled - self.batch_size) / (self.seconds - self.first_batch)

    def text(self, output: Path) -> str:
        rate = self.labelled / self.seconds if self.seconds else 0.0
        lines = [
            f"Read {self.read:,} record(s); labelled {self.labelled:,}; skipped {self.skipped:,} bad record(s). "
            f"Output: {output}. Took {duration(self.seconds)} ({rate:,.1f} docs/s"
            + (
                f"; {self.steady_rate:,.1f} docs/s after the first batch of {self.batch_size:,}, "
                f"written at {self.first_batch:.1f} s)."
                if self.steady_rate
                else ")."
            )
        ]
        if self.resumed_after:
            lines.append(
                f"Resumed after {self.resumed_after[0]}:{self.resumed_after[1]}, the last record of the "
                "earlier run; records before it were not read again."
            )
        return "\n".join(lines)


class BadRecordError(LabelInputError):
    pass


def check_pipeline(name: str) -> None:
    """Refuse a pipeline that does not exist before any work starts (on Ray, before actors would
    each fail to load it)."""
    from spacy.util import is_package

    path = Path(name)
    if (path / "config.cfg").is_file() or is_package(name):
        return
    what = f"{path} has no config.cfg" if path.is_dir() else f"no directory or installed package {name!r}"
    raise LabelInputError(
        f"Cannot load the pipeline: {what}. Give a directory written by nlp.to_disk or spacy train "
        "(e.g. its model-best), or the name of an installed pipeline package."
    )


def load_pipeline(name: str, gpu_id: Optional[int] = None) -> Any:
    import spacy

    if gpu_id is not None and gpu_id >= 0:
        try:
            spacy.require_gpu(gpu_id)
        except Exception as err:
            raise LabelInputError(
                f"--gpu-id {gpu_id}: no usable GPU ({err}). Leave --gpu-id out to label on the CPU, "
                'or install CUDA support (pip install "spacy-repsl[cuda]").'
            ) from None
    try:
        return spacy.load(name)
    except OSError as err:
        raise LabelInputError(
            f"Cannot load the pipeline {name!r}: give a directory written by nlp.to_disk or "
            f"spacy train, or an installed pipeline package. ({err})"
        ) from None


def checked(
    entries: Iterable[Tuple[Any, ...]], summary: Summary, on_error: str, stream: TextIO
) -> Iterator[Tuple[Any, ...]]:
    """Count every entry (an `Item` first, then what came with it); one with a bad item ends the
    stream (`fail`: kept in `summary.stopped_by`, raised once the records before it are written)
    or is reported and left out (`skip`)."""
    for entry in entries:
        item = entry[0]
        summary.read += 1
        if item.error is None:
            yield entry
            continue
        message = f"{item.where}: {item.error}"
        if on_error == "fail":
            summary.stopped_by = BadRecordError(
                f"{message}. Fix the record, or pass --on-error skip to leave such "
                "records out (each is reported and counted)."
            )
            return
        summary.skipped += 1
        summary.errors.append(message)
        if summary.skipped <= SHOWN_ERRORS:
            stream.write(f"skipped {message}\n")
        elif summary.skipped == SHOWN_ERRORS + 1:
            stream.write("(further bad records are counted, not listed)\n")


def within_length(items: Iterable[Item], max_length: int) -> Iterator[Item]:
    """Items, a text longer than `max_length` characters turned into a bad record."""
    for item in items:
        if item.error is None and item.text is not None and len(item.text) > max_length:
            item.error = (
                f"a text of {len(item.text):,} characters, more than --max-length {max_length:,}: "
                "raise --max-length (long texts are labelled in windows), or split the record"
            )
        yield item


def prepare_pipeline(nlp: Any, max_length: int) -> Any:
    """Check that `nlp` predicts something `label` can write, and let it take texts of up to
    `max_length` characters (spaCy's `nlp.max_length` guards its own components' memory; a
    repsl_tagger labels a long text in windows)."""
    if not targets(nlp, explicit=True):
        names = ", ".join(nlp.pipe_names) or "none"
        raise LabelInputError(
            f"The pipeline has no component that predicts entities or spans (components: {names}): "
            "label needs a pipeline with a repsl_tagger (or another component that sets doc.ents)."
        )
    nlp.max_length = max(nlp.max_length, max_length + 1)
    return nlp


def doc_input(nlp: Any, item: Item) -> Any:
    """What `nlp.pipe` gets: the text, or for a DocBin's doc the doc itself (its tokens kept)."""
    if item.doc is not None:
        from spacy.tokens import Doc

        return Doc(nlp.vocab).from_bytes(item.doc)
    return item.text


def label_local(nlp: Any, items: Iterable[Item], options: Options) -> Iterator[Tuple[Item, Any, dict]]:
    wanted, scored = targets(nlp), score_groups(nlp)
    stream = ((doc_input(nlp, item), item) for item in items)
    kwargs = {"batch_size": options.batch_size} if options.batch_size else {}
    for doc, item in nlp.pipe(stream, as_tuples=True, n_process=options.n_process, **kwargs):
        yield item, doc, output_record(item, doc, wanted, scored)


class LabelWorker:
    """One Ray Data actor: loads the pipeline once, labels batches of pickled items. Bad items
    pass through untouched, so the driver handles them in input order, as the local engine does."""

    def __init__(
        self,
        pipeline: str,
        gpu_id: Optional[int],
        batch_size: Optional[int],
        with_docs: bool,
        max_length: int = MAX_LENGTH,
    ):
        self.nlp = prepare_pipeline(load_pipeline(pipeline, gpu_id), max_length)
        self.max_length = max_length
        self.wanted, self.scored = targets(self.nlp), score_groups(self.nlp)
        self.batch_size = batch_size
        self.with_docs = with_docs

    def __call__(self, payloads: List[bytes]) -> List[bytes]:
        items = list(within_length((pickle.loads(p) for p in payloads), self.max_length))
        good = [item for item in items if item.error is None]
        kwargs = {"batch_size": self.batch_size} if self.batch_size else {}
        docs = iter(self.nlp.pipe((doc_input(self.nlp, item) for item in good), **kwargs))
        out = []
        for item in items:
            if item.error is not None:
                out.append(pickle.dumps((item, None, None)))
                continue
            doc = next(docs)
            out.append(
                pickle.dumps(
                    (
                        item,
                        doc.to_bytes() if self.with_docs else None,
                        output_record(item, doc, self.wanted, self.scored),
                    )
                )
            )
        return out


def read_payloads(part: Tuple[str, str, int]) -> Iterator[bytes]:
    path, text_key, after_line = part
    for item in read_file(Path(path), text_key, after_line):
        yield pickle.dumps(item)


def label_ray(files: List[Path], after: Optional[Position], options: Options) -> Iterator[Tuple[Item, Any, Any]]:
    """(item, labelled doc or None, record or None) in input order, bad items included."""
    from spacy.tokens import Doc
    from spacy.vocab import Vocab

    from ..engines.ray_data import map_in_order

    first, line = start_of(files, after)  # as `read_items`: files before the resumed one are not read
    parts = [(str(files[k]), options.text_key, line if k == first else 0) for k in range(first, len(files))]
    with_docs = options.output.suffix.lower() == ".spacy"
    results = map_in_order(
        parts,
        read_payloads,
        LabelWorker,
        {
            "pipeline": options.pipeline,
            "gpu_id": options.gpu_id,
            "batch_size": options.batch_size,
            "with_docs": with_docs,
            "max_length": options.max_length,
        },
        address=options.ray_address,
        num_workers=options.num_workers,
        gpus_per_worker=options.gpus_per_worker,
        cpus_per_worker=options.cpus_per_worker,
        batch_size=options.batch_size or RAY_BATCH_SIZE,
    )
    vocab = Vocab()
    for result in results:
        item, doc_bytes, record = pickle.loads(result)
        yield item, Doc(vocab).from_bytes(doc_bytes) if doc_bytes is not None else None, record


def label(options: Options, stream: Optional[TextIO] = None, nlp: Any = None) -> Summary:
    """Label `options.input` into `options.output`; the counts of what was read, labelled, skipped.
    Progress and bad records are reported on `stream` (standard error by default). The local
    engine uses `nlp` when given (a pipeline already loaded), else loads `options.pipeline`."""
    stream = stream or sys.stderr
    if options.on_error not in ON_ERROR:
        raise LabelInputError(f"--on-error must be one of {ON_ERROR}, got {options.on_error!r}.")
    if options.engine not in ("local", "ray"):
        raise LabelInputError(f"--engine must be 'local' or 'ray', got {options.engine!r}.")
    if options.n_process < 1 or options.num_workers < 1 or options.part_size < 1:
        raise LabelInputError("--n-process, --num-workers and --part-size must be at least 1.")
    files = input_files(options.input)
    if nlp is None:
        check_pipeline(options.pipeline)
    check_output_apart(options.output, options.input, files)
    sink = open_sink(options.output, resume=options.resume, overwrite=options.overwrite, part_size=options.part_size)
    summary = Summary(resumed_after=sink.position() if options.resume else None)
    progress = Progress(
        None if summary.resumed_after else count_items(files), every=options.progress_every, stream=stream
    )
    start = time.perf_counter()
    # Long records: a line of tokens done inside their batch (the passes of this process; not Ray's)
    with on_pass(progress.tokens):
        try:
            if options.engine == "local":
                nlp = prepare_pipeline(
                    nlp if nlp is not None else load_pipeline(options.pipeline, options.gpu_id), options.max_length
                )
                items = within_length(read_items(files, options.text_key, summary.resumed_after), options.max_length)
                good = (item for (item,) in checked(((item,) for item in items), summary, options.on_error, stream))
                labelled = label_local(nlp, good, options)
                summary.batch_size = options.batch_size or nlp.batch_size
            else:
                labelled = checked(label_ray(files, summary.resumed_after, options), summary, options.on_error, stream)
                summary.batch_size = options.batch_size or RAY_BATCH_SIZE
            for item, doc, record in labelled:
                if not options.replace_spans:
                    check_fields(item)
                sink.write(item, doc, record)
                summary.labelled += 1
                now = time.perf_counter() - start
                if summary.first_record is None:
                    summary.first_record = now
                if summary.labelled == summary.batch_size:
                    summary.first_batch = now
                progress.update()
        finally:
            sink.close()  # what was labelled is kept, complete, for --resume
            progress.close()
            summary.seconds = time.perf_counter() - start
    if summary.stopped_by is not None:  # the records before the bad one are written
        raise summary.stopped_by
    return summary
