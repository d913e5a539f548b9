"""python -m spacy_repsl.label PIPELINE INPUT OUTPUT: label a corpus with a trained pipeline.

INPUT: a .jsonl file (one JSON object per line, the text in --text-key; every other field is
kept), a .txt file (one document per line), a .spacy DocBin or a .parquet file (a text column);
or a directory or a glob of such files. OUTPUT: a .jsonl file (each input record with `spans`:
character start/end, label, token start/end, text; and its id `_source`, `_line`), or a
.parquet or .spacy directory of parts. Exit status: 0 done, 1 a bad record stopped the run
(--on-error fail), 2 wrong arguments or unreadable input, 130 interrupted (--resume goes on).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Optional, Sequence

from .sources import MAX_LENGTH, LabelInputError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m spacy_repsl.label", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("pipeline", help="a pipeline directory (nlp.to_disk, spacy train's model-best) or package name")
    p.add_argument("input", help="a file, a directory or a glob ('data/*.jsonl')")
    p.add_argument("output", type=Path, help="OUT.jsonl, OUT.parquet (a directory of parts) or OUT.spacy (likewise)")
    p.add_argument("--text-key", default="text", help="the JSONL field or Parquet column with the text (default: text)")
    p.add_argument("--batch-size", type=int, default=None, help="docs per nlp.pipe batch (default: the pipeline's)")
    p.add_argument("--n-process", type=int, default=1, help="processes on this machine (spaCy's multiprocessing, CPU)")
    p.add_argument("--gpu-id", type=int, default=None, help="label on this GPU (default: the CPU)")
    p.add_argument(
        "--on-error",
        choices=("fail", "skip"),
        default="fail",
        help="a malformed line or a record without text: stop (default), or report, count and skip it",
    )
    p.add_argument("--resume", action="store_true", help="continue an interrupted run after its last complete record")
    p.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT")
    p.add_argument("--part-size", type=int, default=10000, help="documents per Parquet / DocBin part file")
    p.add_argument(
        "--progress-every",
        type=int,
        default=10000,
        help="without a terminal, a progress line every this many documents",
    )
    p.add_argument(
        "--engine",
        choices=("local", "ray"),
        default="local",
        help="local (nlp.pipe) or ray (Ray Data with a pool of actors, each loading the pipeline once)",
    )
    p.add_argument("--ray-address", default=None, help="a Ray cluster to join (default: start one on this machine)")
    p.add_argument("--num-workers", type=int, default=1, help="Ray actors, each with its own copy of the pipeline")
    p.add_argument("--gpus-per-worker", type=float, default=0.0, help="GPUs per Ray actor (e.g. 1, or 0.5 to share)")
    p.add_argument("--cpus-per-worker", type=float, default=1.0, help="CPUs per Ray actor")
    p.add_argument(
        "--max-length",
        type=int,
        default=MAX_LENGTH,
        help=f"longest text labelled, in characters (default {MAX_LENGTH:,}; longer ones are bad records); "
        "long texts are labelled in windows",
    )
    p.add_argument(
        "--replace-spans",
        action="store_true",
        help="replace input records' own spans/_source/_line fields (default: refuse such records)",
    )
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parser().parse_args(argv)
    from .run import BadRecordError, Options, label

    options = Options(
        pipeline=args.pipeline,
        input=args.input,
        output=args.output,
        text_key=args.text_key,
        batch_size=args.batch_size,
        n_process=args.n_process,
        gpu_id=args.gpu_id,
        on_error=args.on_error,
        resume=args.resume,
        overwrite=args.overwrite,
        part_size=args.part_size,
        progress_every=args.progress_every,
        engine=args.engine,
        ray_address=args.ray_address,
        num_workers=args.num_workers,
        gpus_per_worker=args.gpus_per_worker,
        cpus_per_worker=args.cpus_per_worker,
        max_length=args.max_length,
        replace_spans=args.replace_spans,
    )
    try:
        summary = label(options)
    except BadRecordError as err:
        print(
            f"error: {err}\nWhat was labelled before it is in {args.output}; fix the record and rerun with "
            "--resume to go on from there.",
            file=sys.stderr,
        )
        return 1
    except LabelInputError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # the real cause, in one line: permission denied is not "missing"
        what = f" {err.filename}" if err.filename else ""
        print(
            f"error: cannot use{what}: {err.strerror or err}. Check the path and its permissions "
            "(an OUTPUT must be writable, every INPUT readable).",
            file=sys.stderr,
        )
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: what was labelled is in {args.output}; rerun with --resume to go on.", file=sys.stderr)
        return 130
    print(summary.text(args.output), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
