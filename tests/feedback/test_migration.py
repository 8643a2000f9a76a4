"""The feedback-and-memory migration upgrades a version 5 database in place and keeps every row."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.storage import migrations
from tests.receiver.conftest import open_with_first_migrations


def test_feedback_migration_keeps_every_existing_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    conn, db = open_with_first_migrations(tmp_path / "v5.db", 5, monkeypatch)
    assert migrations.migrate(db) == 5
    conn.execute(
        "INSERT INTO notifications (received_at, group_key, status, body) VALUES (1.0, 'g', 'firing', '{}')"
    )
    conn.execute(
        "INSERT INTO incidents (id, stage, alertname)"
        " VALUES ('inc-1', 'done', 'A'), ('inc-2', 'diagnose', 'B')"
    )
    conn.execute(
        "INSERT INTO diagnoses (incident_id, created_at, backend, category, confidence, body)"
        " VALUES ('inc-1', 1.0, 'builtin', 'network', 0.5, '{}')"
    )
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
    columns = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")] for t in tables}

    def rows(table: str) -> list[tuple[object, ...]]:
        """The table's rows in the columns it had before the migration (later ones may add columns)."""
        return conn.execute(f"SELECT {', '.join(columns[table])} FROM {table} ORDER BY rowid").fetchall()

    before = {t: rows(t) for t in tables}
    monkeypatch.undo()

    assert (
        migrations.migrate(db)
        == conn.execute("PRAGMA user_version").fetchone()[0]
        == len(migrations.MIGRATIONS)
    )
    assert {t: rows(t) for t in tables} == before
    assert sum(len(rows) for rows in before.values()) >= 4
    conn.execute(
        "INSERT INTO feedback (incident_id, who, verdict, source, created_at, updated_at)"
        " VALUES ('inc-1', 'ana', 'correct', 'api', 2.0, 2.0)"
    )
    conn.execute("INSERT INTO incident_text (incident_id, alert) VALUES ('inc-1', 'disk full on db-1')")
    assert conn.execute(
        "SELECT incident_id FROM incident_text WHERE incident_text MATCH 'disk'"
    ).fetchall() == [("inc-1",)]
