"""A damaged database file: webhooks are refused (nothing acknowledged that was not stored) and /-/ready
says why, as it does for a full disk or a read-only file. It used to answer 200 while every write failed
with "database disk image is malformed".

Damage to the full-text indexes only (derived data) stops nothing: the index is rebuilt from the primary
tables when a write meets it. It used to fail every materialisation ("vtable constructor failed:
incident_search") while webhooks were acknowledged: `materialize_failed` once a second, for ever."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils
from structlog.testing import capture_logs

from analyst.memory import EvidenceSignature
from receiver.storage import database, memory, search_index
from receiver.storage import incidents as db_incidents
from receiver.storage.workbench import IncidentFilter, filtered_incidents
from receiver.web.keys import STORE
from tests.support.polling import eventually

from .conftest import ClientFactory

FIRING = (
    Path(__file__).resolve().parents[1] / "data" / "webhooks" / "captured-am025-prom242-firing.json"
).read_bytes()


def damage_table(path: Path, *tables: str) -> None:
    """Overwrite the root page of each of `tables` with garbage (the file checkpointed, so the page is in
    it)."""
    db = database.open_database(path)
    page_size = db.conn.execute("PRAGMA page_size").fetchone()[0]
    roots = [
        db.conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0]
        for table in tables
    ]
    db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.conn.close()
    with path.open("r+b") as file:
        for root in roots:
            file.seek((root - 1) * page_size)
            file.write(os.urandom(page_size))


def damage_search_indexes(path: Path) -> None:
    """Garbage over every FTS5 shadow table of both full-text indexes, nothing else."""
    shadows = ("data", "idx", "content", "docsize", "config")
    damage_table(path, *(f"{index}_{s}" for index in search_index.SEARCH_INDEXES for s in shadows))


def integrity_of(path: Path, index: str) -> None:
    conn = sqlite3.connect(path)
    try:
        conn.execute(f"INSERT INTO {index} ({index}) VALUES ('integrity-check')")
    finally:
        conn.close()


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


async def test_damaged_search_indexes_are_rebuilt_and_webhooks_still_become_incidents(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    path = tmp_path / "aa.db"
    damage_search_indexes(path)
    client = await make_client()
    store = client.app[STORE]
    with capture_logs() as logs:
        answer = await client.post(
            "/webhook/alertmanager", data=FIRING, headers={"Content-Type": "application/json"}
        )
        assert answer.status == 200
        await eventually(lambda: store.run_sync(db_incidents.count_pending_notifications) == 0)
    events = [e["event"] for e in logs]
    assert "materialize_failed" not in events
    assert sorted(e["index"] for e in logs if e["event"] == "search_index_rebuilt") == [
        "incident_search",
        "incident_text",
    ]
    found = await store.read(filtered_incidents, IncidentFilter(text="PnLDrawdownHigh"))
    assert len(found) == 2  # the rebuilt search index has the new incidents
    ready = await client.get("/-/ready")
    assert ready.status == 200 and await ready.text() == "OK\n"
    exposed = await (await client.get("/metrics")).text()
    assert 'alert_analyst_search_index_rebuilds_total{index="incident_search"} 1.0' in exposed
    assert 'alert_analyst_search_index_rebuilds_total{index="incident_text"} 1.0' in exposed
    for index in search_index.SEARCH_INDEXES:
        integrity_of(path, index)


async def test_a_memory_write_rebuilds_the_index_with_the_incidents_remembered_before(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    store = database.Store(path)
    signature = EvidenceSignature("DiskFull", "alert-key", ("node_filesystem_avail_bytes",))

    def remembered(db: sqlite_utils.Database, incident_id: str, labels: str) -> None:
        db.conn.execute(
            "INSERT INTO incidents (id, alertname, labels, annotations, first_seen, status)"
            " VALUES (?, 'DiskFull', ?, '{}', 1.0, 'firing')",
            (incident_id, labels),
        )
        memory.save_signature(
            db, incident_id, signature, diagnosis_id=None, category="capacity", suspect="", now=1.0
        )
        memory.index_text(db, incident_id, f"DiskFull {labels}", "")

    await store.write(remembered, "inc-1", '{"instance": "zeppelin-7"}')
    store.close()
    damage_search_indexes(path)
    store = database.Store(path)
    try:
        await store.write(remembered, "inc-2", '{"instance": "other-1"}')
        scores = await store.read(memory._text_scores, "zeppelin-7 disk", exclude="inc-2")
        assert set(scores) == {"inc-1"}
        assert store.search_index_problem is None
    finally:
        store.close()
    for index in search_index.SEARCH_INDEXES:
        integrity_of(path, index)


async def test_damage_to_the_primary_tables_still_refuses_writes_after_the_index_check(
    tmp_path: Path,
) -> None:
    """The indexes are healthy: nothing is rebuilt, and the write fails as the damage says."""
    path = tmp_path / "db.sqlite"
    database.Store(path).close()
    damage_table(path, "notifications")
    store = database.Store(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            await store.write(
                lambda db: db.conn.execute("INSERT INTO notifications (received_at, body) VALUES (1, '')")
            )
        assert store.recent_write_error() == "writes fail: database disk image is malformed"
        assert store.search_index_problem is None
    finally:
        store.close()
