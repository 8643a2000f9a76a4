"""A database left at any older schema version, with rows in every table it had, upgrades in place and
reads back through the current read functions as if the current release had written it; an interrupted
migration leaves the version it started from; drafts of two migrations that ran on some databases are
repaired."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import sqlite_utils

from analyst.memory import EvidenceSignature
from receiver.payload import parse_webhook
from receiver.storage import feedback, memory, migrations, outbox, rules, workbench
from receiver.storage import incidents as db_incidents
from receiver.storage.database import open_database, run_in_transaction
from receiver.storage.retention import EXPIRED_INCIDENTS_SQL
from receiver.testing import complete_stages
from tests.receiver.conftest import open_with_first_migrations

WEBHOOKS = Path(__file__).resolve().parents[1] / "data" / "webhooks"
CORPUS = (
    "captured-am025-prom242-firing.json",
    "kubernaut-multiple-alerts.json",
    "captured-am025-prom242-resolved.json",
)
LATEST = len(migrations.MIGRATIONS)


def diagnosis(n: int) -> dict[str, Any]:
    return {
        "executive_summary": f"connection pool exhausted on db-{n}",
        "primary_hypothesis": {"title": f"pool saturation {n}", "suspect": f"db-{n}", "confidence": 0.7},
        "llm_model_used": "model-x",
        "tokens_in": 100 * n,
        "tokens_out": 10 * n,
        "cost_usd": 0.01 * n,
    }


def write_history(db: sqlite_utils.Database) -> list[str]:
    """What a running receiver leaves, through the storage functions it uses; the incident ids."""
    now = time.time()
    ids: list[str] = []
    for n, name in enumerate(CORPUS):
        body = (WEBHOOKS / name).read_bytes()
        ids += db_incidents.ingest_notification(db, parse_webhook(body), body, now - 600 + n).created
    for n, incident_id in enumerate(ids):
        complete_stages(db, incident_id, now - 500)
        db_incidents.save_evidence(db, incident_id, {"series": [{"series_id": "s1", "values": [1, 2]}]})
        diagnosis_id = db_incidents.save_diagnosis(
            db, incident_id, diagnosis(n), backend="builtin", category="saturation", confidence=0.7
        )
        incident = db_incidents.get_incident(db, incident_id)
        assert incident is not None
        signature = EvidenceSignature(incident.alertname, f"{incident.alertname}{{}}", ("db|level|up",))
        memory.save_signature(
            db,
            incident_id,
            signature,
            diagnosis_id=diagnosis_id,
            category="saturation",
            suspect="db",
            now=now,
        )
        memory.index_text(db, incident_id, incident.alertname, "pool exhausted")
        feedback.record_feedback(db, incident_id, feedback.Feedback("ana", "correct", note="pool"), now)
        row = outbox.NewDelivery(
            incident_id, f"g{n}", "webhook", "webhook", "firing", {"n": n}, status="sent"
        )
        outbox.insert_delivery(db, row, now)
        outbox.join_group(db, incident_id, f"g{n}", now - 600, None)
        outbox.record_decision(db, incident_id, incident.alertname, now, None)
    rules.insert_api_rule(db, "errors", {"query": "up", "method": "zscore"})
    return ids


@pytest.fixture(scope="module")
def current(tmp_path_factory: pytest.TempPathFactory) -> tuple[sqlite_utils.Database, list[str]]:
    """The history as the current release writes it: what every upgraded database must read back as."""
    db = open_database(tmp_path_factory.mktemp("current") / "current.db")
    return db, run_in_transaction(db, write_history)


def _tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'").fetchall()
    # FTS5 keeps its rows in shadow tables: incident_text is copied through itself, incident_search is
    # kept by triggers (or built by the migration that adds it).
    shadow = ("incident_text_", "incident_search")
    return [name for name, sql in rows if not name.startswith(shadow) and "VIRTUAL" not in sql] + [
        name for name, sql in rows if name == "incident_text"
    ]


def _columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")]


def copy_history(source: sqlite3.Connection, old: sqlite3.Connection) -> None:
    """The rows of `source` in the tables and columns the older schema had (parents first)."""
    for table in sorted(_tables(old), key=lambda t: (t != "notifications", t != "incidents", t)):
        columns = [c for c in _columns(old, table) if c in _columns(source, table)]
        names = ", ".join(columns)
        rows = source.execute(f"SELECT {names} FROM {table} ORDER BY rowid").fetchall()
        old.executemany(f"INSERT INTO {table} ({names}) VALUES ({', '.join('?' * len(columns))})", rows)


def reads(db: sqlite_utils.Database, ids: list[str], version: int) -> dict[str, Any]:
    """What the API and workbench show of the history, of the tables an older `version` already had."""
    pages = {i: workbench.incident_page_data(db, i) for i in ids}
    if version < 2:  # no delivery tables yet
        pages = {i: {**page, "deliveries": []} for i, page in pages.items() if page}
    shown: dict[str, Any] = {
        "pages": pages,
        "list": db_incidents.list_incidents(db, limit=100),
        "search": [r["id"] for r in workbench.filtered_incidents(db, workbench.IncidentFilter(text="pool"))],
        "search_alert": [
            r["id"]
            for r in workbench.filtered_incidents(db, workbench.IncidentFilter(text="PnLDrawdownHigh"))
        ],
        "rules": rules.load_api_rules(db) if version >= 3 else [],
    }
    if version >= 6:  # feedback and memory
        signature = memory.signature_of(db, ids[0])
        assert signature is not None
        shown["feedback"] = {i: feedback.incident_feedback(db, i) for i in ids}
        shown["similar"] = memory.similar_incidents(db, signature, "pool exhausted", exclude=ids[0])
        shown["problems"] = memory.problems(db)
    return shown


def consistent(db: sqlite_utils.Database) -> None:
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    for fts in ("incident_search", "incident_text"):
        db.execute(f"INSERT INTO {fts} ({fts}, rank) VALUES ('integrity-check', 1)")


@pytest.mark.parametrize("version", range(1, LATEST))
def test_a_database_at_an_older_version_upgrades_and_reads_back_as_written_now(
    version: int,
    current: tuple[sqlite_utils.Database, list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source, ids = current
    conn, db = open_with_first_migrations(tmp_path / "old.db", version, monkeypatch)
    migrations.migrate(db)
    with conn:
        conn.execute("BEGIN")
        copy_history(source.conn, conn)
    monkeypatch.undo()

    assert migrations.migrate(db) == LATEST
    assert reads(db, ids, version) == reads(source, ids, version)
    assert len(reads(db, ids, version)["search"]) == len(ids) >= 5  # the index was built for old rows too
    consistent(db)


def test_a_migration_that_fails_half_way_leaves_the_version_it_started_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each step is one transaction with its version: a failure (or a crash) in the middle of one leaves
    no half of it, and the next start runs it again."""
    workbench_step = migrations.MIGRATIONS[6]
    conn, db = open_with_first_migrations(tmp_path / "v6.db", 6, monkeypatch)
    migrations.migrate(db)
    conn.execute(
        "INSERT INTO incidents (id, alertname, labels, stage) VALUES ('inc-1', 'DiskFull', '{}', 'done')"
    )
    monkeypatch.undo()

    def interrupted(db: sqlite_utils.Database) -> None:
        workbench_step(db)  # columns, indexes, the search table, its triggers, the backfill: then
        raise OSError("killed")

    monkeypatch.setattr(migrations, "MIGRATIONS", (*migrations.MIGRATIONS[:6], interrupted))
    with pytest.raises(OSError, match="killed"):
        migrations.migrate(db)
    assert conn.execute("PRAGMA user_version").fetchone() == (6,)
    assert "diagnosis_category" not in _columns(conn, "incidents")
    assert conn.execute(
        "SELECT count(*) FROM sqlite_master WHERE name LIKE 'incident_search%'"
    ).fetchone() == (0,)
    monkeypatch.undo()

    assert migrations.migrate(db) == LATEST
    found = workbench.filtered_incidents(db, workbench.IncidentFilter(text="disk"))
    assert [row["id"] for row in found] == ["inc-1"]


def test_a_version_9_without_the_same_as_column_upgrades(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draft of migration 9 (8c30bf9) did not add `notifications.same_as`: every later start stopped at
    "no such column: same_as" in migration 10."""
    conn, db = open_with_first_migrations(tmp_path / "v9.db", 9, monkeypatch)
    migrations.migrate(db)
    conn.execute("DROP INDEX IF EXISTS idx_notifications_same_as")
    conn.execute("ALTER TABLE notifications DROP COLUMN same_as")
    conn.execute("INSERT INTO notifications (received_at, status, body) VALUES (1.0, 'firing', '{}')")
    monkeypatch.undo()

    assert migrations.migrate(db) == LATEST
    assert conn.execute("SELECT id, same_as, pending FROM notifications").fetchall() == [(1, None, 0)]


def test_the_draft_retention_index_is_rebuilt_so_the_prune_seeks_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A draft of migration 10 (3487107) indexed `coalesce(ends_at, last_seen)`; the prune asks for
    `max(coalesce(ends_at, last_seen), last_seen)`, so each batch scanned and sorted every resolved
    incident."""
    before_rebuild = migrations.MIGRATIONS.index(migrations._retention_index_as_queried)
    conn, db = open_with_first_migrations(tmp_path / "v13.db", before_rebuild, monkeypatch)
    migrations.migrate(db)
    conn.execute("DROP INDEX idx_incidents_resolved_end")
    conn.execute(
        "CREATE INDEX idx_incidents_resolved_end ON incidents (coalesce(ends_at, last_seen), id)"
        " WHERE status = 'resolved'"
    )
    monkeypatch.undo()

    assert migrations.migrate(db) == LATEST
    plan = " ".join(
        str(row) for row in conn.execute(f"EXPLAIN QUERY PLAN {EXPIRED_INCIDENTS_SQL}", (9, 0, 0, "", 5))
    )
    assert "SEARCH i USING INDEX idx_incidents_resolved_end" in plan
    assert "TEMP B-TREE" not in plan
