"""Why a path cannot be used, in words that name the real cause (for the CLIs' one-line errors).

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
