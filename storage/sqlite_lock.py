"""One process per SQLite database: a second `dxbot serve` (or `chat`) on the same file is refused.

SQLite mode relies on being alone (rows left 'sending' by a crash are re-sent at start-up), so
two processes on one file would step on each other. An OS file lock next to the database says
who owns it; the OS releases it when the process dies, even by ``kill -9``.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; documented as "run one process"
    fcntl = None  # type: ignore[assignment]


class DatabaseInUse(RuntimeError):
    """Another process already runs on this SQLite database."""


class LockUnusable(RuntimeError):
    """The lock file cannot be made or opened: a missing folder, or one owned by another user
    (e.g. left by a command run as root beside a service that runs as ``dxbot``)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def database_path(url: str) -> Path | None:
    """The file behind a ``sqlite+aiosqlite:///PATH`` URL, or None for in-memory databases."""
    _, _, rest = url.partition(":///")
    path = rest.split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


class SQLiteLock:
    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        if fcntl is None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise LockUnusable(self.path.resolve(), exc.strerror or str(exc)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(fd)
            raise DatabaseInUse(str(self.path)) from exc
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None and fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
