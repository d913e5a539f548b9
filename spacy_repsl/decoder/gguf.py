"""GGUF bases: a llama.cpp `.gguf` file as the decoder's `name`.

Many people keep their models as GGUF (llama.cpp, Ollama, LM Studio). transformers reads them
(`gguf_file=`, the `gguf` package), de-quantizing the weights to float; but a model loaded that
way cannot be saved, quantized by bitsandbytes or given adapters like an ordinary checkpoint,
and reading a GGUF takes tens of seconds. So a GGUF is converted once into an ordinary
checkpoint directory (config, float32 safetensors, tokenizer) in a cache keyed by the file's
SHA-256, and everything downstream (quantization, LoRA, fingerprints, bundling) sees a plain
checkpoint. Later loads only hash the file (a memo skips even that while the file's device,
inode, size, mtime and ctime are all unchanged: a user can set the mtime back, `cp -p` and
`rsync -t` do, but any write, rename or `utime` moves the ctime, which no user can set).

The cache is `$SPACY_REPSL_CACHE/gguf` (default `$XDG_CACHE_HOME/spacy-repsl`, else
`~/.cache/spacy-repsl`); `python -m spacy_repsl.decoder.gguf FILE [--output DIR]` converts ahead
of time.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Dict, Optional, Sequence

from ..storage.paths import HIDDEN_MARK, give_default_modes, hidden_prefix, why_unusable
from .families import UnsupportedModelError

SOURCE_FILE = "gguf_source.json"  # written into a converted checkpoint: which file it came from
TMP_MARK = f"{HIDDEN_MARK}converting-"  # in our temporary folders' names: only these are ever cleared
HASH_BLOCK = 1 << 24
GGUF_MAGIC = b"GGUF"
# GGUF architectures transformers reads into a model type of another name, and ones that are
# not decoder-only text models.
GGUF_MODEL_TYPES = {"gemma3": "gemma3_text"}
GGUF_NOT_DECODERS = ("t5", "umt5")


class GGUFError(ValueError):
    """A GGUF file that cannot be used as a base: damaged, weightless, or of an unknown kind."""


def cache_root() -> Path:
    """Where converted checkpoints live (see the module docstring)."""
    explicit = os.environ.get("SPACY_REPSL_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "spacy-repsl"


def gguf_file(name: str) -> Optional[Path]:
    """The GGUF file `name` refers to (a `.gguf` file, a file of another name that starts with
    GGUF's magic bytes, as Ollama's blobs do, or a folder holding exactly one `.gguf` file and no
    config.json), else None. A folder with several is refused: say which one.

    Raises GGUFError for a folder with more than one `.gguf` file."""
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" and not path.is_dir():
        problem = why_unusable(path)
        if problem:
            raise FileNotFoundError(f"GGUF file {problem} (relative paths start in {Path.cwd()}).")
        return path
    if path.is_file() and has_gguf_magic(path):  # e.g. Ollama's blobs/sha256-... files, with no suffix
        return path
    if path.is_dir() and not (path / "config.json").is_file():
        found = sorted(p for p in path.iterdir() if p.suffix.lower() == ".gguf" and p.is_file())
        if len(found) > 1:
            raise GGUFError(
                f"'{name}' holds {len(found)} GGUF files ({', '.join(p.name for p in found)}): "
                "set the decoder's `name` to the one to use."
            )
        return found[0] if found else None
    return None


def has_gguf_magic(path: Path) -> bool:
    """True when the file starts with b"GGUF" (every GGUF file does; see the GGUF spec)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def sha256_of(path: Path) -> str:
    """SHA-256 of the whole file, read in blocks (no memo: see `file_sha256`)."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(HASH_BLOCK):
            sha.update(block)
    return sha.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of the whole file, memoised under the cache by its path and a stamp of what changes
    when its bytes do: device, inode, size, mtime and ctime. The ctime is the one a user cannot
    set: a file replaced in place with the same size and its old mtime restored (`cp -p`, `rsync
    -t`, `touch -r`, `os.utime`) still has a new ctime, so it is hashed again."""
    stat = path.stat()
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    memo = cache_root() / "gguf" / "hashes" / f"{key}.json"
    stamp = {
        "device": stat.st_dev,
        "inode": stat.st_ino,
        "size": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "ctime_ns": stat.st_ctime_ns,
    }
    try:
        saved = json.loads(memo.read_text())
        if {k: saved.get(k) for k in stamp} == stamp and len(saved.get("sha256", "")) == 64:
            return saved["sha256"]
    except (OSError, ValueError):
        pass
    digest = sha256_of(path)
    try:
        _write_atomically(memo, json.dumps({**stamp, "sha256": digest}))
    except OSError:  # a read-only cache only costs the hash next time
        pass
    return digest


def require_gguf_package() -> None:
    """transformers reads GGUF through the `gguf` package, an optional extra."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise ImportError(
            'Loading a GGUF file needs the `gguf` package: pip install "spacy-repsl[gguf]" (or pip install gguf).'
        )


def inspect_gguf(path: Path) -> Dict[str, Any]:
    """What the file holds, read from its header without loading weights: the transformers
    model_type, the tensor count. Refuses damaged files, vocabulary-only files and architectures
    spacy-repsl cannot adapt, each with the fix.

    Raises GGUFError, UnsupportedModelError, ImportError (no `gguf` package)."""
    require_gguf_package()
    from gguf import GGUFReader

    size = path.stat().st_size
    try:
        reader = GGUFReader(str(path))
    except Exception as error:  # the reader raises ValueError, struct/numpy errors on damaged files
        raise GGUFError(
            f"'{path}' cannot be read as GGUF ({type(error).__name__}: {error}): the file is "
            "damaged or incomplete (a download cut short?). Copy or download it again."
        ) from None
    end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    if end > size:
        raise GGUFError(
            f"'{path}' is truncated: its tensors need {end:,} bytes, the file has {size:,}. Copy or download it again."
        )
    field = reader.fields.get("general.architecture")
    architecture = bytes(field.parts[field.data[0]]).decode() if field is not None else None
    if not reader.tensors:
        raise GGUFError(
            f"'{path}' holds no weights (a vocabulary-only GGUF, architecture {architecture!r}): "
            "it can give a tokenizer but not a model. Use the GGUF file of the model itself."
        )
    from transformers.integrations.ggml import GGUF_CONFIG_MAPPING

    # transformers names the model type after the GGUF architecture ("gemma3" becomes gemma3_text,
    # a "llama" GGUF whose name says Mistral becomes "mistral"); whether the model offers what the
    # settings need is checked on the loaded stack, as for any checkpoint.
    model_type = GGUF_MODEL_TYPES.get(architecture or "", architecture)
    if architecture not in GGUF_CONFIG_MAPPING or architecture in GGUF_NOT_DECODERS:
        readable = sorted(set(GGUF_CONFIG_MAPPING) - set(GGUF_NOT_DECODERS) - {"general", "tokenizer"})
        raise UnsupportedModelError(
            f"'{path}' is a GGUF of architecture {architecture!r}, which spacy-repsl cannot use: transformers "
            f"reads GGUF decoders of {', '.join(readable)}. Use a GGUF of one of these, or a checkpoint "
            "directory of any decoder-only transformers model."
        )
    return {"architecture": architecture, "model_type": model_type, "tensors": len(reader.tensors)}


def converted_dir(path: Path, digest: Optional[str] = None) -> Path:
    """The cache folder of a GGUF file's conversion (it may not exist yet)."""
    digest = digest or file_sha256(path)
    return cache_root() / "gguf" / f"{digest[:20]}-{path.stem}"


def resolve_gguf(name: str) -> Optional[Path]:
    """The converted checkpoint directory for a GGUF `name` (converting once), else None."""
    path = gguf_file(name)
    if path is None:
        return None
    return convert_gguf(path)


def convert_gguf(path: Path, output: Optional[Path] = None, *, quiet: bool = False) -> Path:
    """Convert a GGUF file to an ordinary float32 checkpoint directory (config.json, safetensors,
    tokenizer files) and return it; into the hash-keyed cache unless `output` is given. A finished
    conversion is found by the file's hash and reused without reading its header again (every
    save of a pipeline on a GGUF base resolves it); the folder appears only complete (written beside it, then renamed), and a
    lock keeps two processes from converting the same file at once.

    Raises GGUFError, UnsupportedModelError, ImportError (see `inspect_gguf`)."""
    from filelock import FileLock

    path = Path(path).expanduser()
    problem = why_unusable(path) or ("" if path.is_file() else f"{path} is a directory")
    if problem:
        raise FileNotFoundError(f"GGUF file {problem}.")
    digest = file_sha256(path)
    target = Path(output).expanduser() if output is not None else converted_dir(path, digest)
    if _is_conversion_of(target, digest):
        return target
    info = inspect_gguf(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(target.parent / f".{target.name}.lock")):
            _convert_locked(path, target, digest, info, quiet)
    except GGUFCacheError:
        raise
    except OSError as error:
        if error.errno in CACHE_ERRNOS:
            raise _cache_error(error, path, target) from error
        raise
    return target


CACHE_ERRNOS = (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT)


def _convert_locked(path: Path, target: Path, digest: str, info: Dict[str, Any], quiet: bool) -> None:
    # Checked under the lock: another process may have finished this conversion since the check
    # before it (then it is used), and only then is a non-empty folder someone else's.
    record = _source_record(target)
    if _is_complete(target, record, digest):
        return
    ours = hidden_prefix(target, "converting")  # == f".{target.name}.{TMP_MARK}"
    if record.get("sha256") == digest:  # our conversion of this file, with a file truncated or gone: rebuilt
        why = (
            "a file is missing or has another size than written"
            if "files" in record
            else "written by an older spacy-repsl, which did not record its files' sizes"
        )
        print(
            f"The conversion of {path.name} in {target} cannot be trusted ({why}); converting it again.",
            file=sys.stderr,
            flush=True,
        )
        aside = Path(tempfile.mkdtemp(prefix=ours, dir=target.parent))
        os.replace(target, aside / "damaged")
        shutil.rmtree(aside, ignore_errors=True)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise FileExistsError(f"'{target}' exists and is not a conversion of '{path}': choose an empty or new folder.")
    for stale in target.parent.glob(f"{ours}*"):  # ours, left by a killed conversion
        if stale.is_dir():
            shutil.rmtree(stale, ignore_errors=True)
    if not quiet:
        print(
            f"Converting {path.name} ({path.stat().st_size / 2**20:.0f} MiB, {info['architecture']}) to a "
            f"checkpoint in {target} (once; later loads reuse it)...",
            file=sys.stderr,
            flush=True,
        )
    tmp = Path(tempfile.mkdtemp(prefix=ours, dir=target.parent))
    try:
        _write_checkpoint(path, tmp)
        files = {item.name: item.stat().st_size for item in tmp.iterdir() if item.is_file()}
        (tmp / SOURCE_FILE).write_text(
            json.dumps({"file": path.name, "sha256": digest, **info, "files": files}, indent=2)
        )
        give_default_modes(tmp)
        if target.exists():
            target.rmdir()  # empty, checked above
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _source_record(directory: Path) -> Dict[str, Any]:
    try:
        record = json.loads((directory / SOURCE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _is_conversion_of(directory: Path, digest: str) -> bool:
    """A complete conversion of the file with this SHA-256 (see `_is_complete`)."""
    return _is_complete(directory, _source_record(directory), digest)


def _is_complete(directory: Path, record: Dict[str, Any], digest: str) -> bool:
    """`record` (the folder's SOURCE_FILE) names the hash, and every file it lists is there with the
    size written (a truncated or deleted weights file is not)."""
    files = record.get("files")
    if record.get("sha256") != digest or not isinstance(files, dict) or not files:
        return False
    try:
        return all((directory / name).stat().st_size == size for name, size in files.items())
    except (OSError, TypeError):
        return False


class GGUFCacheError(OSError):
    """The conversion cannot be written where it must go (read-only folder, disk full, quota)."""


def _cache_error(error: OSError, path: Path, target: Path) -> GGUFCacheError:
    need = max(1, path.stat().st_size * 5 // 2**20)  # float32 weights of a 4-bit file, and the tokenizer
    fix = (
        "pass --output DIR, or set SPACY_REPSL_CACHE"
        if target.parent != cache_root() / "gguf"
        else "set SPACY_REPSL_CACHE"
    ) + f" to a writable folder with about {need:,} MiB free"
    cache_error = GGUFCacheError(
        f"Cannot write the conversion of {path.name} into {target.parent} "
        f"({error.strerror or error}): {fix}, or free space there"
    )
    cache_error.errno = error.errno  # the cause's, for callers that test it; the message stays one line
    return cache_error


def _write_checkpoint(path: Path, out: Path) -> None:
    """transformers' GGUF load, re-saved: a model loaded from GGUF refuses `save_pretrained`, so
    its weights go into a fresh model built from its config (no quantization_config)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, file = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file)
    loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=file, dtype=torch.float32)
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    state = loaded.state_dict()
    del loaded
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    missing, unexpected = fresh.load_state_dict(state, strict=False)
    missing = [k for k in missing if k not in _tied_keys(fresh)]
    if missing or unexpected:
        raise GGUFError(
            f"Converting '{path}': the weights do not fit its config ({len(missing)} missing, e.g. "
            f"{missing[:3]}; {len(unexpected)} unexpected, e.g. {unexpected[:3]})."
        )
    fresh.save_pretrained(out)
    tokenizer.save_pretrained(out)


def _tied_keys(model: Any) -> Sequence[str]:
    tied = getattr(model, "_tied_weights_keys", None) or []
    return list(tied.keys()) if isinstance(tied, dict) else list(tied)


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as handle:
        handle.write(text)
    os.replace(tmp, path)


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Convert a GGUF file (or a folder holding one) once; prints the checkpoint directory."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m spacy_repsl.decoder.gguf", description=main.__doc__)
    parser.add_argument("gguf", help="a .gguf file, or a folder holding exactly one")
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the checkpoint here (default: the cache, keyed by the file's SHA-256)",
    )
    args = parser.parse_args(argv)
    try:
        path = gguf_file(args.gguf)
        if path is None:
            raise FileNotFoundError(f"'{args.gguf}' is neither a .gguf file nor a folder holding one.")
        print(convert_gguf(path, args.output))
    except (GGUFError, UnsupportedModelError, ImportError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
