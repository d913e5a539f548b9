"""`python -m spacy_repsl.training CONFIG --output DIR [--gpu-id N] [--code FILE] [--section.key value ...]`:
`spacy train` that checkpoints before each evaluation and, run again after a kill, resumes."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> None:
    from spacy.cli._util import parse_config_overrides

    parser = argparse.ArgumentParser(prog="python -m spacy_repsl.training", description=__doc__)
    parser.add_argument("config", type=Path, help="the training config (as for spacy train)")
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        default=None,
        help="where model-best, model-last and the "
        "checkpoint go; running again with the same config and output resumes",
    )
    parser.add_argument("--gpu-id", "-g", type=int, default=-1, help="GPU id, or -1 for the CPU")
    parser.add_argument(
        "--code",
        "-c",
        type=Path,
        default=None,
        help="a Python file with registered functions to import first (as for spacy train)",
    )
    args, rest = parser.parse_known_args(argv)
    from spacy.cli._util import import_code

    from .loop import train_from_config

    if args.code is not None and not args.code.is_file():
        parser.error(f"{args.code} is missing: --code takes a Python file.")
    import_code(args.code)

    try:
        overrides = parse_config_overrides(rest)
    except SystemExit:
        parser.error(f"cannot read the config overrides {rest}: write them as --section.key value")
    if not args.config.is_file():
        parser.error(f"{args.config} is missing: give the path of a training config (spacy init config).")
    from .loop import CheckpointMismatch, OutputInUse

    try:
        train_from_config(args.config, args.output, use_gpu=args.gpu_id, overrides=overrides)
    except (CheckpointMismatch, OutputInUse) as err:
        sys.exit(f"error: {err}")


if __name__ == "__main__":
    main()
