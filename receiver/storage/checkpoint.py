"""WAL checkpoints on a connection and thread of their own, so no commit on the writer thread pays for one,
and a WAL that stays bounded under continuous writes."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable

import structlog

log = structlog.get_logger("receiver.storage")

DEFAULT_MAX_WAL_BYTES = 64 * 1024 * 1024
MIN_WAL_CAP = 1024 * 1024
IDLE_SECONDS = 1.0


def file_bytes(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def free_bytes(path: str) -> int | None:
    """Bytes still free for this process on the file system of `path` (None when it cannot be asked)."""
    try:
        stats = os.statvfs(path)
    except OSError:
        return None
    return stats.f_bavail * stats.f_frsize


def wal_cap(path: str, max_wal_bytes: int) -> int:
    """The WAL size past which it is checkpointed and truncated at once: `max_wal_bytes`, or half the space
    left beside the database when that is less (at least MIN_WAL_CAP). A checkpoint grows the database by
    up to the WAL's size: a WAL that took the last free bytes could never be checkpointed, so freeing space
    after a full disk brought nothing back (the backlog's WAL refilled it within seconds)."""
    free = free_bytes(path)
    return max_wal_bytes if free is None else min(max_wal_bytes, max(free // 2, MIN_WAL_CAP))


class WalCheckpointer:
    """Every `interval` seconds: `wal_checkpoint(PASSIVE)`, which never blocks the writer; and
    `wal_checkpoint(TRUNCATE)`, which resets the WAL file to zero bytes, once the writer has been idle
    for a second or whenever the WAL is over its cap (`wal_cap`; then writers wait for it, up to the busy
    timeout). PASSIVE alone cannot keep up with continuous writes: the WAL grew to gigabytes.

    The writer connection turns automatic checkpoints off (`wal_autocheckpoint=0`); a failed checkpoint is
    logged and retried at the next tick.
    """

    def __init__(
        self,
        path: str,
        last_write: Callable[[], float],
        *,
        interval: float = 1.0,
        max_wal_bytes: int = DEFAULT_MAX_WAL_BYTES,
        busy_timeout: float = 5.0,
    ) -> None:
        self._path = path
        self._last_write = last_write
        self._interval = interval
        self._max_wal_bytes = max_wal_bytes
        self._busy_timeout = busy_timeout
        self.truncations = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def mode(self, wal_bytes: int, now: float) -> str:
        """TRUNCATE over the cap, or when idle with anything in the WAL; else PASSIVE."""
        idle = now - self._last_write() >= IDLE_SECONDS
        over = wal_bytes > wal_cap(self._path, self._max_wal_bytes)
        return "TRUNCATE" if over or (idle and wal_bytes > 0) else "PASSIVE"

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False, timeout=self._busy_timeout)
        try:
            while not self._stop.wait(self._interval):
                mode = self.mode(file_bytes(self._path + "-wal"), time.monotonic())
                try:
                    busy = conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0]
                except sqlite3.Error as exc:
                    log.warning("wal_checkpoint_failed", mode=mode, error=str(exc))
                    continue
                if mode == "TRUNCATE" and not busy:
                    self.truncations += 1
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("final_wal_checkpoint_failed", error=str(exc))
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
