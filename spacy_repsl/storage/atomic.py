"""A folder replaced as a whole or not at all: written beside its destination under a hidden,
marked name, synced, then swapped in (`renameat2(RENAME_EXCHANGE)` where the system has it, two
renames elsewhere). A killed save leaves the old folder or the new one, never a mix; only our own
marked leftovers are ever cleared.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, List, Optional, Union

from .paths import HIDDEN_MARK, give_default_modes, hidden_prefix

RENAME_EXCHANGE = 2
AT_FDCWD = -100


def _libc() -> Optional[Any]:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    except OSError:
        return None


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (both must exist); False where the system cannot."""
    libc = _libc()
    if libc is None or not hasattr(libc, "renameat2"):
        return False
    result = libc.renameat2(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if result == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False  # this file system (or kernel) cannot exchange
    raise OSError(err, f"Cannot swap {a} and {b}: {os.strerror(err)}")


def our_leftovers(path: Path) -> List[Path]:
    """Hidden folders that our killed saves left next to `path` (never a user's own folder)."""
    if not path.parent.is_dir():
        return []
    return [p for p in path.parent.glob(f".{path.name}.{HIDDEN_MARK}*") if p.is_dir() and not p.is_symlink()]


@contextmanager
def atomic_directory(path: Union[str, Path]) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `path` only once fully written (and
    flushed to disk): in one atomic exchange where the system has it, else by two renames.
    Hidden copies that a killed save left next to `path` are removed first. A `path` that is a
    symlink stays one: its target is replaced."""
    path = Path(path)
    if path.is_symlink():  # write where the link points: the link itself stays a link
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in our_leftovers(path):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=hidden_prefix(path, "new"), dir=path.parent))
    try:
        yield tmp
        give_default_modes(tmp)
        _fsync_tree(tmp)
        if path.exists() and exchange(tmp, path):
            shutil.rmtree(tmp, ignore_errors=True)  # now the previous copy
        elif path.exists():
            old = Path(tempfile.mkdtemp(prefix=hidden_prefix(path, "old"), dir=path.parent))
            os.replace(path, old / path.name)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
        _fsync_dir(path.parent)  # the new name itself survives a power loss
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot flush a directory
        pass
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush the new files to disk before they replace the old ones (power loss, not only kills)."""
    for folder, _, files in os.walk(root):
        for name in files:
            fd = os.open(os.path.join(folder, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
