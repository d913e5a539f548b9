"""python -m spacy_repsl.datasets DATASET INPUT_DIR OUTPUT_DIR [--split paper|random] [--seed N]

`python -m spacy_repsl.datasets demo OUTPUT_DIR [--seed N] [--sizes 600,200,200]` writes the demo's
generated corpus (no input)."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Optional, Sequence

from ..storage.paths import os_error_line
from . import DATASETS
from .skipped import SKIPPED_FILE, mark_skipped


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.datasets",
        description="Convert a public dataset to train/dev/test .spacy files and a report.json.",
    )
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument(
        "paths",
        type=Path,
        nargs="+",
        metavar="INPUT_DIR OUTPUT_DIR",
        help="the dataset's files as published, and where to write (demo: OUTPUT_DIR only)",
    )
    parser.add_argument(
        "--split",
        default="paper",
        choices=["paper", "random"],
        help="rest14/nlupp: the paper's split or a seeded random one",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--ace05-files",
        nargs=3,
        metavar=("TRAIN", "DEV", "TEST"),
        help="ace05 only: file names (default train.json dev.json test.json)",
    )
    parser.add_argument("--sizes", default="600,200,200", help="demo only: train,dev,test sentences")
    parser.add_argument(
        "--limit",
        default="",
        metavar="TRAIN,DEV,TEST",
        help="keep only the first N documents of each split (e.g. 1000,500,1000; 0 or empty keeps "
        "a split whole): CPU-sized subsets, recorded in report.json",
    )
    parser.add_argument(
        "--train-sizes",
        default="",
        metavar="N,N,...",
        help="also write OUTPUT_DIR-N for each N: the first N training documents with the same dev and "
        "test sets (a learning curve's subsets, e.g. 1000,2000,4000,8000)",
    )
    parser.add_argument(
        "--only-if-listed",
        metavar="DATASETS",
        help="comma-separated dataset names; do nothing unless DATASET is one of them",
    )
    parser.add_argument(
        "--skip-if-missing",
        action="store_true",
        help="when the input files are missing, write OUTPUT_DIR/SKIPPED.json (why, and how to add "
        "them) instead of failing: the experiment commands then leave the dataset out",
    )
    args = parser.parse_args(argv)
    wanted = 1 if args.dataset == "demo" else 2
    if len(args.paths) != wanted:
        parser.error("demo takes OUTPUT_DIR only" if wanted == 1 else f"{args.dataset} takes INPUT_DIR OUTPUT_DIR")
    input_dir, output_dir = (None, args.paths[0]) if wanted == 1 else args.paths
    if args.only_if_listed is not None and args.dataset not in args.only_if_listed.split(","):
        print(f"{args.dataset}: not in the chosen datasets ({args.only_if_listed}), skipped")
        return
    module = importlib.import_module(f".{args.dataset}", __package__)
    kwargs = {"split": args.split, "seed": args.seed}
    if args.ace05_files:
        kwargs["files"] = dict(zip(("train", "dev", "test"), args.ace05_files))
    if args.dataset == "demo":
        kwargs["sizes"] = tuple(int(x) for x in args.sizes.split(","))
    try:
        conversion = module.convert(input_dir, **kwargs)
    except FileNotFoundError as err:
        if args.skip_if_missing:
            mark_skipped(output_dir, args.dataset, str(err))
            print(
                f"{args.dataset}: SKIPPED, its files are not there: {err}\nThe experiment commands leave "
                f"{args.dataset} out and results.md lists it as skipped; to add it, put the files there (or set "
                f"--vars.{args.dataset}_dir) and run the workflow again."
            )
            return
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except ValueError as err:  # the user's data: a message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except OSError as err:  # permission denied and the like: the real cause, one line
        print(f"error: {os_error_line(err) if err.errno else err}", file=sys.stderr)
        sys.exit(2)
    if args.limit.strip():
        try:
            sizes = [int(x) for x in args.limit.split(",")]
            if len(sizes) != 3:
                raise ValueError
        except ValueError:
            parser.error(f"--limit takes three numbers TRAIN,DEV,TEST (0 keeps a split whole), got {args.limit!r}")
        try:
            conversion.limit({split: n for split, n in zip(("train", "dev", "test"), sizes) if n})
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
    try:
        train_sizes = sorted({int(x) for x in args.train_sizes.split(",") if x.strip()}, reverse=True)
    except ValueError:
        parser.error(f"--train-sizes takes whole numbers N,N,..., got {args.train_sizes!r}")
    # The whole conversion first, then ever smaller training subsets of it (each a prefix of the last).
    for output, size in [(output_dir, None)] + [
        (output_dir.with_name(f"{output_dir.name}-{n}"), n) for n in train_sizes
    ]:
        try:
            if size is not None:
                conversion.limit({"train": size})
            conversion.write(output)
        except ValueError as err:
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        except OSError as err:
            print(f"error: cannot write {output}: {os_error_line(err)}", file=sys.stderr)
            sys.exit(2)
        (output / SKIPPED_FILE).unlink(missing_ok=True)
        print(f"Wrote {', '.join(sorted(conversion.docs))} and report.json to {output}")


if __name__ == "__main__":
    main()
