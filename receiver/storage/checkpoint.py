"""WAL checkpoints on a connection and thread of their own, so no commit on the writer thread pays for one."""

from __future__ import annotations

import sqlite3
import threading

import structlog

log = structlog.get_logger("receiver.storage")


class WalCheckpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `interval` seconds; PASSIVE never blocks the writer.

    The writer connection turns automatic checkpoints off (`wal_autocheckpoint=0`); without this thread
    the WAL would grow without bound, so a failed checkpoint is logged and retried at the next tick.
    """

    def __init__(self, path: str, interval: float = 1.0) -> None:
        self._path = path
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        conn = sqlite3.connect(self._path, check_same_thread=False, timeout=5)
        try:
            while not self._stop.wait(self._interval):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:
                    log.warning("wal_checkpoint_failed", error=str(exc))
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        except sqlite3.Error as exc:
            log.warning("final_wal_checkpoint_failed", error=str(exc))
        finally:
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
