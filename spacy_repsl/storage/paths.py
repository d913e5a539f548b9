"""Paths: why one cannot be used, in words that name the real cause (for the CLIs' one-line
errors), and the names and modes of the folders we write beside a destination.

`Path.exists()` and `Path.is_file()` answer False for a dangling symlink, a FIFO or (on some
Pythons) a folder this user cannot search, so "does not exist" would blame the wrong thing.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Union


def why_unusable(path: Union[str, Path]) -> str:
    """Why `path` is not a readable regular file or directory ("" when it is one).

    Distinguishes: does not exist, a symbolic link to something that does not exist, permission
    denied (on the path or a folder on the way), exists but is neither a file nor a directory.
    """
    path = Path(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        for link in (path, *path.parents):  # the path, or a folder on the way, may be a dangling link
            if os.path.islink(link) and not os.path.exists(link):
                where = "" if link == path else f"{path}: "
                return f"{where}{link} is a symbolic link to {os.readlink(link)}, which does not exist"
        return f"{path} does not exist"
    except PermissionError:
        return f"{path}: permission denied (a folder on the way cannot be searched by this user)"
    except OSError as err:
        return f"{path}: {err.strerror or err}"
    if path.is_dir():
        return "" if os.access(path, os.R_OK | os.X_OK) else f"{path}: permission denied (the folder cannot be read)"
    if not path.is_file():
        kind = "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else "a special file"
        return f"{path} exists but is {kind}, not a regular file or a directory"
    return "" if os.access(path, os.R_OK) else f"{path}: permission denied (the file cannot be read by this user)"


def os_error_line(err: OSError) -> str:
    """An OSError as one line: the path(s) and the system's reason, no traceback."""
    paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p)
    reason = err.strerror or errno.errorcode.get(err.errno or 0, "") or str(err)
    return f"{paths}: {reason}" if paths else reason


HIDDEN_MARK = "repsl-"  # in the name of every hidden sibling folder we create, and only those are removed


def hidden_prefix(path: Path, kind: str) -> str:
    """The name prefix of a hidden sibling folder of `path` that we create (`kind`: new, old,
    done): `.NAME.repsl-KIND-`. A user's own `.NAME.bak/` or `.NAME.old/` never matches it."""
    return f".{path.name}.{HIDDEN_MARK}{kind}-"


def default_mode(directory: bool) -> int:
    """What os.mkdir / open would give under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return (0o777 if directory else 0o666) & ~umask


def give_default_modes(root: Path) -> None:
    """The modes a plain mkdir / open would give under the umask, for the folder and all it holds:
    mkdtemp makes 0700 folders and some writers (safetensors) 0600 files, which other users could
    not load."""
    folder_mode, file_mode = default_mode(directory=True), default_mode(directory=False)
    os.chmod(root, folder_mode)
    for folder, folders, files in os.walk(root):
        for name in folders:
            os.chmod(os.path.join(folder, name), folder_mode)
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), file_mode)
