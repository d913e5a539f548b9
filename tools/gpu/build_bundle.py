"""Build what the GPU machine needs: `python tools/gpu/build_bundle.py [--model GGUF] [--data DIR]`.

The device machine (nvidia-h200, Python 3.12, x86_64) has no package index. This downloads, here,
the wheels of `tools/gpu/bundle.txt` with their dependencies for that Python and platform, drops
those its image already has (`tools/gpu/on_image.txt`) unless `bundle.txt` pins them, adds
spacy-repsl itself as a wheel, then packs them unpacked as one `.gpu/site.tar.xz` (xz packs
tighter than the wheels' zip; bitsandbytes keeps only its CUDA 13 and CPU libraries, as the image
runs CUDA 13), checked against what one device call can carry (64 MiB with the working tree).
`--model` splits a GGUF into parts that each fit one call, `--encoder` does the same with an
encoder's checkpoint folder (tarred; all-MiniLM-L6-v2 for the encoder stage), `--data` copies
CoNLL-2003's three files. Run from the repository root; `.whl/` and `.gpu/` are git-ignored through
`.git/info/exclude` (added here if missing). See tools/gpu/README.md for the calls that carry them.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PLATFORMS = [
    "manylinux_2_28_x86_64",
    "manylinux_2_27_x86_64",
    "manylinux_2_24_x86_64",
    "manylinux_2_17_x86_64",
    "manylinux2014_x86_64",
    "manylinux1_x86_64",
]
CARRY_LIMIT_MIB = 64
PART_MIB = 48  # a model part per call, leaving room for the working tree
DROP = re.compile(r"bitsandbytes/libbitsandbytes_cuda1[12]\d*\.so$|/__pycache__/")  # CUDA 11/12 builds
NEVER = ("torch", "triton", "nvidia-", "cuda-")  # the image's own CUDA stack (cu13) stays


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def names_in(path: Path) -> list:
    lines = [line.split("#")[0].strip() for line in path.read_text().splitlines()]
    return [normalize(re.split(r"[<>=!~ \[]", line)[0]) for line in lines if line]


def wheel_name(wheel: Path) -> str:
    return normalize(wheel.name.split("-")[0])


def download(dest: Path, python: str) -> None:
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--only-binary=:all:",
            "--python-version",
            python,
            "--implementation",
            "cp",
            *platforms,
            "-d",
            str(dest),
            "-r",
            str(HERE / "bundle.txt"),
        ],
        check=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=ROOT / ".whl")
    parser.add_argument("--python", default="3.12", help="the GPU machine's Python (default 3.12)")
    parser.add_argument("--model", type=Path, default=None, help="a GGUF to split into parts (e.g. SmolLM2's)")
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="an encoder checkpoint folder to tar and split into parts (e.g. all-MiniLM-L6-v2's)",
    )
    parser.add_argument("--data", type=Path, default=None, help="CoNLL-2003's folder (train.txt, valid.txt, test.txt)")
    args = parser.parse_args()
    pinned, on_image = set(names_in(HERE / "bundle.txt")), set(names_in(HERE / "on_image.txt"))
    with tempfile.TemporaryDirectory() as tmp:
        download(Path(tmp), args.python)
        wheels = sorted(Path(tmp).glob("*.whl"))
        keep = [
            w
            for w in wheels
            if not wheel_name(w).startswith(NEVER) and (wheel_name(w) in pinned or wheel_name(w) not in on_image)
        ]
        if args.dest.exists():
            shutil.rmtree(args.dest)
        args.dest.mkdir(parents=True)
        for wheel in keep:
            shutil.copy2(wheel, args.dest / wheel.name)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(args.dest),
            str(ROOT),
        ],
        check=True,
    )
    gpu = ROOT / ".gpu"
    gpu.mkdir(exist_ok=True)
    exclude = ROOT / ".git" / "info" / "exclude"
    if exclude.parent.is_dir():
        text = exclude.read_text() if exclude.is_file() else ""
        with exclude.open("a") as handle:
            handle.writelines(f"{entry}\n" for entry in ("/.whl/", "/.gpu/") if entry not in text.split())
    site = pack(sorted(args.dest.glob("*.whl")), gpu / "site.tar.xz")
    print(
        f"{site:7.1f} MiB  {gpu / 'site.tar.xz'} ({len(list(args.dest.glob('*.whl')))} wheels unpacked; "
        f"one device call carries at most {CARRY_LIMIT_MIB} MiB with the working tree)"
    )
    if args.model:
        for k, part in enumerate(split(args.model, gpu), 1):
            print(f"{part.stat().st_size / 2**20:7.1f} MiB  {part} (carry in call {k + 1}, see README.md)")
    if args.encoder:
        tarred = gpu / "encoder.tar"
        with tarfile.open(tarred, "w") as tar:  # the checkpoint's own files, as `from_pretrained` reads them
            for path in sorted(args.encoder.iterdir()):
                if path.is_file():
                    tar.add(path, arcname=path.name)
        for part in split(tarred, gpu, "encoder"):
            print(f"{part.stat().st_size / 2**20:7.1f} MiB  {part} (see README.md, the encoder calls)")
        tarred.unlink()
    if args.data:
        (gpu / "conll2003").mkdir(exist_ok=True)
        for name in ("train.txt", "valid.txt", "test.txt"):
            shutil.copy2(args.data / name, gpu / "conll2003" / name)
    if site > CARRY_LIMIT_MIB - 8:
        print("error: the bundle is too large for one call: leave packages out of bundle.txt", file=sys.stderr)
        return 1
    return 0


def pack(wheels: list, target: Path) -> float:
    """Every wheel's files (as installed: a wheel is a zip of its site-packages files) in one tar.xz."""
    import zipfile

    with tempfile.TemporaryDirectory() as tmp:
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(tmp, [n for n in archive.namelist() if not DROP.search(n)])
        with tarfile.open(target, "w:xz", preset=9) as tar:
            tar.add(tmp, arcname=".")
    return target.stat().st_size / 2**20


def split(model: Path, gpu: Path, stem: str = "model") -> list:
    """`model` in parts of at most PART_MIB MiB: .gpu/STEM.part1, .part2, ..."""
    parts = []
    with model.open("rb") as handle:
        while chunk := handle.read(PART_MIB * 2**20):
            parts.append(gpu / f"{stem}.part{len(parts) + 1}")
            parts[-1].write_bytes(chunk)
    return parts


if __name__ == "__main__":
    sys.exit(main())
