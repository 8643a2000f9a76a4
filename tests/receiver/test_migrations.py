"""Schema migrations upgrade a database in place and keep its rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from receiver.storage import migrations
from receiver.storage.incidents import FIRING_OF_FINGERPRINTS_SQL, OCCURRENCES_AROUND_SQL
from tests.receiver.conftest import open_with_first_migrations


def test_dropping_the_unused_signature_column_keeps_diagnoses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, db = open_with_first_migrations(tmp_path / "old.db", 4, monkeypatch)
    migrations.migrate(db)  # the schema as version 4 left it
    conn.execute("INSERT INTO incidents (id, stage) VALUES ('inc-1', 'done')")
    conn.execute(
        "INSERT INTO diagnoses (incident_id, created_at, backend, category, confidence, signature, body)"
        " VALUES ('inc-1', 1.0, 'builtin', 'network', 0.5, '', '{}')"
    )
    monkeypatch.undo()

    assert (
        migrations.migrate(db)
        == conn.execute("PRAGMA user_version").fetchone()[0]
        == len(migrations.MIGRATIONS)
    )
    assert conn.execute("SELECT incident_id, category, body FROM diagnoses").fetchall() == [
        ("inc-1", "network", "{}")
    ]
    assert "signature" not in {row[1] for row in conn.execute("PRAGMA table_info(diagnoses)")}


def test_occurrence_columns_are_added_to_a_version_8_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, db = open_with_first_migrations(tmp_path / "v8.db", 8, monkeypatch)
    assert migrations.migrate(db) == 8
    conn.execute(
        "INSERT INTO incidents (id, fingerprint, status, stage) VALUES ('inc-1', 'f1', 'firing', 'done')"
    )
    monkeypatch.undo()

    assert migrations.migrate(db) == len(migrations.MIGRATIONS)
    row = conn.execute("SELECT id, status, superseded_by, evidence_of FROM incidents").fetchall()
    assert row == [("inc-1", "firing", None, None)]
    sql = FIRING_OF_FINGERPRINTS_SQL.format(marks="?, ?, ?")  # not idx_incidents_status_first_seen
    assert conn.execute(sql, ("f1", "f2", "f3")).fetchall() == [("inc-1", "f1", None, "done")]
    plan = " ".join(str(r) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("f1", "f2", "f3")))
    assert "idx_incidents_firing_fingerprint" in plan
    assert conn.execute("SELECT count(*) FROM recent_analyses").fetchone() == (0,)


def test_occurrences_of_a_fingerprint_are_found_by_start_after_the_upgrade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A late older occurrence looks up the next newer start of its fingerprint, whatever that one's
    status: an index seek, not a scan of the fingerprint's history."""
    conn, db = open_with_first_migrations(tmp_path / "v10.db", 10, monkeypatch)
    assert migrations.migrate(db) == 10
    conn.execute(
        "INSERT INTO incidents (id, fingerprint, starts_at, status, stage)"
        " VALUES ('inc-1', 'f1', 5, 'resolved', 'done')"
    )
    monkeypatch.undo()

    assert migrations.migrate(db) == len(migrations.MIGRATIONS)
    sql = OCCURRENCES_AROUND_SQL.format(marks="(?, ?)")
    assert conn.execute(sql, ("f1", 1.0)).fetchall() == [("f1", 1.0, "inc-1", 5.0, "resolved")]
    plan = " ".join(str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", ("f1", 1.0)))
    assert "SCAN i" not in plan and "SCAN n" not in plan
    assert plan.count("idx_incidents_fingerprint_starts") == 2
