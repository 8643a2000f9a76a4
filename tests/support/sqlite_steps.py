"""Cost in tests as SQLite counts it, not in seconds: virtual-machine instructions a piece of work runs."""

from __future__ import annotations

from collections.abc import Callable

import sqlite_utils


def vm_steps(db: sqlite_utils.Database, work: Callable[[], object], every: int = 1) -> int:
    """SQLite virtual-machine instructions `work()` runs on `db`'s connection, counted in `every`s."""
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    db.conn.set_progress_handler(count, every)
    try:
        work()
    finally:
        db.conn.set_progress_handler(None, every)
    return steps
