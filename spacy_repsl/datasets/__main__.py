"""python -m spacy_repsl.datasets DATASET INPUT_DIR OUTPUT_DIR [--split paper|random] [--seed N]"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Optional, Sequence

from . import DATASETS


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.datasets",
        description="Convert a public dataset to train/dev/test .spacy files and a report.json.",
    )
    parser.add_argument("dataset", choices=DATASETS)
    parser.add_argument("input_dir", type=Path, help="the dataset's files as published")
    parser.add_argument("output_dir", type=Path)
    parser.add_argument("--split", default="paper", choices=["paper", "random"],
                        help="rest14/nlupp: the paper's split or a seeded random one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ace05-files", nargs=3, metavar=("TRAIN", "DEV", "TEST"),
                        help="ace05 only: file names (default train.json dev.json test.json)")
    parser.add_argument("--only-if-listed", metavar="DATASETS",
                        help="comma-separated dataset names; do nothing unless DATASET is one of them")
    args = parser.parse_args(argv)
    if args.only_if_listed is not None and args.dataset not in args.only_if_listed.split(","):
        print(f"{args.dataset}: not in the chosen datasets ({args.only_if_listed}), skipped")
        return
    module = importlib.import_module(f".{args.dataset}", __package__)
    kwargs = {"split": args.split, "seed": args.seed}
    if args.ace05_files:
        kwargs["files"] = dict(zip(("train", "dev", "test"), args.ace05_files))
    conversion = module.convert(args.input_dir, **kwargs)
    conversion.write(args.output_dir)
    print(f"Wrote {', '.join(sorted(conversion.docs))} and report.json to {args.output_dir}")


if __name__ == "__main__":
    main()
