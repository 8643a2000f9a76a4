"""Likely twins are read from an index of the alertname's newest signatures, so a lookup costs the same
whatever the history; migration 8 gives the signatures of an existing database their alertname."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from analyst.memory import EvidenceSignature
from receiver.storage import memory, migrations

MOVED = ("orders-db|db_pool|up", "orders-api|latency|up")


def _incident(db: sqlite_utils.Database, incident_id: str, alertname: str, at: float) -> None:
    db.conn.execute(
        "INSERT INTO incidents (id, alertname, stage, first_seen) VALUES (?, ?, 'done', ?)",
        (incident_id, alertname, at),
    )


def _history(db: sqlite_utils.Database, count: int) -> None:
    for n in range(count):
        _incident(db, f"inc-{n}", "OrdersDbPoolExhausted", float(n))
        signature = EvidenceSignature("OrdersDbPoolExhausted", "OrdersDbPoolExhausted|desk=rates", MOVED)
        memory.save_signature(db, f"inc-{n}", signature, diagnosis_id=None, category="db", suspect="", now=n)


def test_twins_come_from_the_newest_signatures_of_the_alertname(monkeypatch: pytest.MonkeyPatch) -> None:
    db = sqlite_utils.Database(memory=True)
    migrations.migrate(db)
    _history(db, 5)
    _incident(db, "other", "DiskFull", 9.0)
    memory.save_signature(
        db,
        "other",
        EvidenceSignature("DiskFull", "DiskFull|x", MOVED),
        diagnosis_id=None,
        category="",
        suspect="",
        now=9.0,
    )
    monkeypatch.setattr(memory, "CANDIDATES", 2)
    now = EvidenceSignature("OrdersDbPoolExhausted", "OrdersDbPoolExhausted|desk=rates", MOVED)
    found = memory.similar_incidents(db, now, "", exclude="inc-4")
    assert [r["incident_id"] for r in found] == ["inc-3", "inc-2"]
    assert all(r["alertname"] == "OrdersDbPoolExhausted" and r["same_signature"] for r in found)


def test_migration_gives_existing_signatures_their_alertname(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(tmp_path / "v7.db", isolation_level=None)
    db = sqlite_utils.Database(conn)
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:7])
    assert migrations.migrate(db) == 7
    _incident(db, "inc-1", "OrdersDbPoolExhausted", 1.0)
    conn.execute(
        "INSERT INTO incident_signatures (incident_id, evidence_key, alert_key, moved, created_at)"
        " VALUES ('inc-1', 'k', 'OrdersDbPoolExhausted|desk=rates', '[]', 1.0)"
    )
    monkeypatch.undo()
    assert migrations.migrate(db) == len(migrations.MIGRATIONS)
    assert conn.execute("SELECT alertname FROM incident_signatures").fetchall() == [
        ("OrdersDbPoolExhausted",)
    ]
