"""Atomic file writes: a reader (or a rerun after a crash) sees the old file or the new one,
never a part of either.

Every output lifecircle writes goes through here: the bytes are written to a hidden
temporary file in the target's own folder (``.tmp-<pid>-<random>-<name>``, so it is on the
same file system and keeps the name's suffix for pandas, matplotlib or pyogrio to infer the
format from), flushed to disk with :func:`os.fsync`, then renamed over the target with
:func:`os.replace` (atomic on POSIX and Windows), and the folder is synced so the rename
itself survives a power cut.

A process killed mid-write leaves its temporary file behind, under a hidden name that is
never mistaken for an output. The next atomic write of the same name in that folder removes
the leftovers of writers that are no longer running (:func:`remove_stale_temporaries`).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

TEMP_PREFIX = ".tmp-"
"""Start of the name of every temporary file written here."""

_TEMP_NAME = re.compile(r"^\.tmp-(?P<pid>\d+)-[0-9a-f]+-(?P<name>.+)$")


def temporary_path(path: str | Path) -> Path:
    """A fresh hidden temporary name next to ``path``: ``.tmp-<pid>-<random>-<name>``."""
    target = Path(path)
    return target.with_name(f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}-{target.name}")


def is_temporary(name: str) -> bool:
    """True for a name :func:`temporary_path` makes."""
    return _TEMP_NAME.match(name) is not None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:  # e.g. Windows: cannot tell, so keep the file
        return True
    return True


def remove_stale_temporaries(folder: str | Path, name: str | None = None) -> list[Path]:
    """Remove temporary files in ``folder`` left by writers that are no longer running.

    Parameters
    ----------
    folder
        The folder to clean (a missing folder is fine).
    name
        Only the leftovers of this final name (default: of every name).

    Returns
    -------
    list[pathlib.Path]
        The files removed. Temporaries of running processes (this one included) are kept:
        they are writes in progress.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if match is None or (name is not None and match["name"] != name):
            continue
        if _alive(int(match["pid"])):
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path, ignore_errors=True)
            else:
                os.unlink(entry.path)
            removed.append(Path(entry.path))
    return removed


def fsync_path(path: str | Path) -> None:
    """Flush a file's (or, on POSIX, a folder's) data and metadata to disk."""
    flags = os.O_RDONLY
    if Path(path).is_dir():
        flags |= getattr(os, "O_DIRECTORY", 0)
    try:
        handle = os.open(path, flags)
    except OSError:  # Windows cannot open a folder; nothing more to do there
        return
    try:
        os.fsync(handle)
    except OSError:  # some file systems (and all folders on Windows) refuse
        pass
    finally:
        os.close(handle)


@contextlib.contextmanager
def atomic_path(path: str | Path, *, sync: bool = True) -> Iterator[Path]:
    """A temporary path to write ``path``'s new content to; renamed over ``path`` on success.

    For writers that want a file name (``DataFrame.to_csv``, ``Figure.savefig``,
    ``pyogrio.write_dataframe``, Chromium's PDF printer)::

        with atomic_path(out / "sites.csv") as temporary:
            frame.to_csv(temporary, index=False)

    The folder is created if missing. When the block raises, the temporary file is removed
    and ``path`` is untouched.

    Parameters
    ----------
    path
        The final file.
    sync
        ``fsync`` the file before the rename and the folder after it (durable against a power
        cut, not only against a killed process).

    Yields
    ------
    pathlib.Path
        The temporary file (in ``path``'s folder, ending in ``path``'s name, not yet
        created).

    Raises
    ------
    FileNotFoundError
        The block did not write the temporary file.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target.parent, target.name)
    temporary = temporary_path(target)
    try:
        yield temporary
        if not temporary.exists():
            raise FileNotFoundError(f"nothing was written to {temporary} for {target}")
        if sync:
            fsync_path(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise
    if sync:
        fsync_path(target.parent)


def write_bytes_atomic(path: str | Path, data: bytes, *, sync: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    target = Path(path)
    with atomic_path(target, sync=sync) as temporary:
        handle = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
    return target


def write_text_atomic(path: str | Path, text: str, *, encoding: str = "utf-8",
                      sync: bool = True) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``.

    Newlines are written as given (no platform translation), as ``Path.write_text`` does on
    POSIX.
    """
    return write_bytes_atomic(path, text.encode(encoding), sync=sync)
