"""Per-session folders for uploaded data, and their removal.

Each browser session that uploads data gets its own folder
``$TMPDIR/lifecircle-upload-<server pid>-<random>/`` (:func:`new_session_folder`). It is
removed

* when the session ends: the folder's :class:`SessionFolder` lives in the session's
  ``st.session_state``, and a :func:`weakref.finalize` removes the folder when Streamlit
  drops the session (closed, or disconnected for longer than
  ``server.disconnectedSessionTTL``, 2 minutes by default) and its state is freed.
  Streamlit 1.67 has no public session-end callback: ``st.cache_resource(scope="session",
  on_release=...)`` is released on every *disconnect*, network blips and page reloads
  included, after which the session may reconnect with its state, so deleting there would
  pull the data from under a live session;
* when the server exits normally (SIGTERM, Ctrl+C): the finalizers run at interpreter exit,
  and :func:`remove_own_folders` is registered with :mod:`atexit` as well;
* at the next server start, for a server that was killed (SIGKILL, power cut):
  :func:`remove_stale_folders` removes folders of server processes that are no longer
  running, and any not modified for a day.

A result solved from uploaded data refers to these files, so after its session ends it can
no longer be reopened from the result store (upload the data again).
"""

from __future__ import annotations

import atexit
import os
import re
import shutil
import tempfile
import threading
import time
import weakref
from pathlib import Path

PREFIX = "lifecircle-upload-"
"""Start of every upload folder's name (then the server's process id)."""

MAX_AGE_S = 24 * 3600.0
"""Folders not modified for this long are removed at server start, whoever made them."""

_NAME = re.compile(rf"^{re.escape(PREFIX)}(?P<pid>\d+)-")
_registered = threading.Lock()
_atexit_done = False


def upload_root() -> Path:
    """The folder upload folders are made in (the system's temporary folder)."""
    return Path(tempfile.gettempdir())


def _remove(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError), or cannot tell
        return True
    return True


def new_session_folder(root: str | Path | None = None) -> Path:
    """Make a fresh upload folder of this server process (and register the exit cleanup)."""
    global _atexit_done
    with _registered:
        if not _atexit_done:
            atexit.register(remove_own_folders)
            _atexit_done = True
    base = Path(root) if root is not None else upload_root()
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))


class SessionFolder:
    """An upload folder that is removed when this object is garbage-collected (the session
    that holds it in ``st.session_state`` ended) or at interpreter exit, whichever is first.

    Parameters
    ----------
    path
        The folder (default: a new one from :func:`new_session_folder`).
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else new_session_folder()
        self._finalizer = weakref.finalize(self, _remove, str(self.path))

    def remove(self) -> None:
        """Remove the folder now."""
        self._finalizer()

    def __repr__(self) -> str:
        return f"SessionFolder({str(self.path)!r})"


def remove_own_folders(root: str | Path | None = None) -> list[Path]:
    """Remove every upload folder of this process (at server exit)."""
    base = Path(root) if root is not None else upload_root()
    removed = []
    for path in base.glob(f"{PREFIX}{os.getpid()}-*"):
        _remove(str(path))
        removed.append(path)
    return removed


def remove_stale_folders(root: str | Path | None = None, *,
                         max_age_s: float = MAX_AGE_S) -> list[Path]:
    """Remove upload folders of server processes no longer running, and any older than
    ``max_age_s`` (by modification time). Run once when a server starts.

    Returns
    -------
    list[pathlib.Path]
        The folders removed.
    """
    base = Path(root) if root is not None else upload_root()
    now = time.time()
    removed = []
    for path in base.glob(f"{PREFIX}*"):
        match = _NAME.match(path.name)
        if match is None or not path.is_dir() or path.is_symlink():
            continue
        try:
            age = now - path.stat().st_mtime
        except FileNotFoundError:
            continue
        pid = int(match["pid"])
        if (not _alive(pid)) or (age > max_age_s and pid != os.getpid()):
            _remove(str(path))
            removed.append(path)
    return removed
