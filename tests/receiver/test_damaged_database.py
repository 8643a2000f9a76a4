"""A damaged database file: webhooks are refused (nothing acknowledged that was not stored) and /-/ready
says why, as it does for a full disk or a read-only file. It used to answer 200 while every write failed
with "database disk image is malformed"."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from receiver.storage import database
from receiver.web.keys import STORE

from .conftest import ClientFactory

FIRING = (
    Path(__file__).resolve().parents[1] / "data" / "webhooks" / "captured-am025-prom242-firing.json"
).read_bytes()


def damage_table(path: Path, table: str) -> None:
    """Overwrite the root page of `table` with garbage (the file checkpointed, so the page is in it)."""
    db = database.open_database(path)
    page_size = db.conn.execute("PRAGMA page_size").fetchone()[0]
    root = db.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    with path.open("r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(os.urandom(page_size))


async def test_a_damaged_table_refuses_webhooks_and_makes_ready_503(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    damage_table(tmp_path / "aa.db", "notifications")  # where make_client's receiver keeps its data
    client = await make_client()
    answer = await client.post(
        "/webhook/alertmanager", data=FIRING, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 503
    ready = await client.get("/-/ready")
    assert ready.status == 503
    assert (await ready.json())["problems"] == ["database: writes fail: database disk image is malformed"]
    assert client.app[STORE].last_write_error is not None


def test_damage_counts_as_the_database_refusing_writes_a_constraint_does_not(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    damage_table(path, "notifications")
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="malformed") as damaged:
        conn.execute("INSERT INTO notifications (received_at, body) VALUES (1, '{}')")
    conn.close()
    assert database.refuses_writes(damaged.value)
    assert database.refuses_writes(sqlite3.OperationalError("database or disk is full"))
    assert not database.refuses_writes(sqlite3.OperationalError("database is locked"))
    assert not database.refuses_writes(sqlite3.IntegrityError("UNIQUE constraint failed: incidents.id"))
