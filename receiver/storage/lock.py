"""One receiver process per database file: a lock on `<storage.path>.lock`, held while the Store is open.

Two receivers on one file (a misconfigured HA pair, a rolling update, a second container on the volume)
each sweep the other's incidents and run their stages again: diagnoses made twice (an LLM paid twice),
deliveries sent twice, and a start-up marks the other's in-flight deliveries as interrupted. SQLite keeps
the file consistent, not the work.

The lock file sits beside the file the path resolves to, so a symlink to the database is refused like
the path itself (a hard link, a second name of the same file, is not detected). A POSIX record lock
(`lockf`): the kernel drops it when the process ends, however it ends, so a crash leaves nothing stale,
and no child process inherits it. It is the process's: Stores within one process
(tests, tools) share it, and closing any of them releases it. The file itself stays (removing it would
race a process taking it).
"""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from pathlib import Path

from receiver.errors import StorageUnusable


class StorageLockError(StorageUnusable):
    """The database's lock file is held by another process, or cannot be opened: `serve` exits with the
    message (naming the holder) instead of sharing the file."""


class DatabaseLock:
    """The lock of one database file: `acquire` takes it or raises StorageLockError."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, database: str | Path) -> DatabaseLock:
        """Lock `<database>.lock`, the database named by its real path: a symlink to a file another
        receiver has open (or the path of a symlinked directory) takes the same lock."""
        path = Path(f"{os.path.realpath(database)}.lock")
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise StorageLockError(
                f"storage.path {database}: cannot open the lock file {path}: {exc.strerror} (the directory"
                " must take new files, and a lock file left by another user must be writable)"
            ) from exc
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _holder(fd) if exc.errno in (errno.EACCES, errno.EAGAIN) else None
            os.close(fd)
            if holder is None:
                raise StorageLockError(
                    f"storage.path {database}: cannot lock {path}: {exc.strerror} (a file system without"
                    " locks: SQLite needs them too; keep the database on a local disk)"
                ) from exc
            raise StorageLockError(
                f"storage.path {database}: the database is in use by another alert-analyst ({holder}):"
                " run one receiver per storage.path (stop the other, or give this one its own path)"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Let another process open the database (closing the descriptor drops the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _holder(fd: int) -> str:
    """What the holding process wrote into the lock file ("pid N on HOST"), or a neutral description."""
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        text = ""
    return text or "a process that has not said which"
