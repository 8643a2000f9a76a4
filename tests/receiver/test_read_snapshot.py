"""A read on the store's reader connection sees one state of the database from its first statement to its
last, whatever the writer commits meanwhile: a count and the rows it counts agree. Each statement took its
own snapshot before, and memory's recall once divided a count of rows by a window read a statement
earlier, empty then."""

from __future__ import annotations

from pathlib import Path

import sqlite_utils

from receiver.payload import parse_webhook
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from tests.receiver.test_damaged_database import FIRING


def _count(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM notifications").fetchone()[0])


async def test_the_writer_commits_between_two_statements_of_a_read_and_the_read_sees_neither(
    tmp_path: Path,
) -> None:
    store = Store(tmp_path / "aa.db")
    try:
        store.write_sync(db_incidents.ingest_notification, parse_webhook(FIRING), FIRING)

        def count_write_count(db: sqlite_utils.Database) -> tuple[int, int, int]:
            before = _count(db)
            store.write_sync(db_incidents.ingest_notification, parse_webhook(FIRING), FIRING)  # committed
            return before, _count(db), store.run_sync(_count)

        before, after, written = await store.read(count_write_count)

        assert written == before + 1  # the writer's commit is there for its own connection
        assert after == before  # and not for the read that began before it
        assert await store.read(_count) == written  # the next read sees it
    finally:
        store.close()
