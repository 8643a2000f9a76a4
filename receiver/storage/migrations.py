"""Versioned schema migrations of every table, tracked with PRAGMA user_version."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable

import sqlite_utils
import structlog

from receiver.errors import StorageUnusable
from receiver.storage.delivery_tables import migrate_credentials_rejected, migrate_delivery
from receiver.storage.scheduled_tables import migrate_catch_up, migrate_detection, migrate_seen
from receiver.storage.search_index import (
    INCIDENT_TEXT_DDL,
    INCIDENT_TEXT_ROWS_DDL,
    fill_incident_text_rows,
    is_damage,
)
from receiver.storage.workbench_tables import migrate_ondemand_results, migrate_workbench

log = structlog.get_logger("receiver.storage")


def _core_tables(db: sqlite_utils.Database) -> None:
    db.table("notifications").create(
        {
            "id": int,
            "received_at": float,
            "group_key": str,
            "status": str,
            "receiver": str,
            "alert_count": int,
            "digest": str,
            "body": str,
        },
        pk="id",
    )
    db.table("incidents").create(
        {
            "id": str,
            "fingerprint": str,
            "starts_at": float,
            "ends_at": float,
            "status": str,
            "alertname": str,
            "severity": str,
            "labels": str,
            "annotations": str,
            "generator_url": str,
            "group_key": str,
            "source": str,
            "first_seen": float,
            "last_seen": float,
            "notification_id": int,
            "stage": str,
            "evidence": str,
            "resolve_pending": int,
        },
        pk="id",
        defaults={"resolve_pending": 0},
    )
    # The id is a hash of (fingerprint, starts_at), so the primary key already makes occurrences unique.
    db.table("incidents").create_index(["alertname"])
    db.execute(
        "CREATE INDEX idx_incidents_work ON incidents (first_seen)"
        " WHERE stage != 'done' OR resolve_pending = 1"
    )
    db.table("incidents").create_index(["group_key"])
    db.table("stage_results").create(
        {
            "id": int,
            "incident_id": str,
            "stage": str,
            "outcome": str,
            "detail": str,
            "started_at": float,
            "duration_seconds": float,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.table("stage_results").create_index(["incident_id"])
    db.table("diagnoses").create(
        {
            "id": int,
            "incident_id": str,
            "created_at": float,
            "backend": str,
            "category": str,
            "confidence": float,
            "signature": str,
            "body": str,
        },
        pk="id",
        foreign_keys=[("incident_id", "incidents", "id")],
    )
    db.table("diagnoses").create_index(["incident_id"])
    db.table("diagnoses").create_index(["signature"])


def _notification_backlog(db: sqlite_utils.Database) -> None:
    """Notifications are acknowledged once stored and turned into incidents behind the answer."""
    db.execute("ALTER TABLE notifications ADD COLUMN pending INTEGER NOT NULL DEFAULT 0")
    db.execute("CREATE INDEX idx_notifications_pending ON notifications (id) WHERE pending = 1")


def _drop_diagnosis_signature(db: sqlite_utils.Database) -> None:
    """The `diagnoses.signature` column was never filled; rows are kept (SQLite >= 3.35 drops in place)."""
    db.execute("DROP INDEX IF EXISTS idx_diagnoses_signature")
    db.execute("ALTER TABLE diagnoses DROP COLUMN signature")


def _feedback_and_memory(db: sqlite_utils.Database) -> None:
    """Judged diagnoses with their history, Slack replay guard, evidence signatures, full-text memory."""
    db.execute(
        "CREATE TABLE feedback (id INTEGER PRIMARY KEY, incident_id TEXT NOT NULL REFERENCES incidents(id),"
        " diagnosis_id INTEGER, who TEXT NOT NULL, verdict TEXT NOT NULL, actual_category TEXT,"
        " actual_cause TEXT, note TEXT, source TEXT NOT NULL, created_at REAL NOT NULL,"
        " updated_at REAL NOT NULL, UNIQUE (incident_id, who))"
    )
    db.execute(
        "CREATE TABLE feedback_history (id INTEGER PRIMARY KEY, feedback_id INTEGER NOT NULL"
        " REFERENCES feedback(id), incident_id TEXT NOT NULL, who TEXT NOT NULL, at REAL NOT NULL,"
        " source TEXT NOT NULL, changes TEXT NOT NULL)"
    )
    db.execute("CREATE INDEX idx_feedback_history_incident ON feedback_history (incident_id)")
    db.execute("CREATE TABLE slack_replays (signature TEXT PRIMARY KEY, seen_at REAL NOT NULL)")
    db.execute(
        "CREATE TABLE incident_signatures (incident_id TEXT PRIMARY KEY REFERENCES incidents(id),"
        " diagnosis_id INTEGER, evidence_key TEXT NOT NULL, alert_key TEXT NOT NULL, category TEXT,"
        " suspect TEXT, moved TEXT NOT NULL, created_at REAL NOT NULL)"
    )
    db.execute("CREATE INDEX idx_signatures_evidence ON incident_signatures (evidence_key)")
    db.execute("CREATE INDEX idx_signatures_alert ON incident_signatures (alert_key)")
    db.execute(INCIDENT_TEXT_DDL)


def _signature_alertname(db: sqlite_utils.Database) -> None:
    """Signatures carry their alertname, indexed newest first: finding an incident's likely twins reads
    at most the newest few thousand signatures of its alertname instead of sorting the whole history."""
    db.execute("ALTER TABLE incident_signatures ADD COLUMN alertname TEXT")
    db.execute(
        "UPDATE incident_signatures SET alertname ="
        " (SELECT alertname FROM incidents WHERE incidents.id = incident_signatures.incident_id)"
    )
    db.execute("CREATE INDEX idx_signatures_alertname ON incident_signatures (alertname, created_at)")


def _occurrences(db: sqlite_utils.Database) -> None:
    """A newer occurrence of a fingerprint closes the older one (`superseded_by`, found through the
    firing incidents' fingerprints); the newest full analysis of each label set, for re-fired alerts,
    whose evidence they reference (`evidence_of`) rather than copy; a re-sent notification with the same
    bytes references the stored copy (`same_as`) instead of storing its body again."""
    db.execute("ALTER TABLE incidents ADD COLUMN superseded_by TEXT")
    db.execute("ALTER TABLE incidents ADD COLUMN evidence_of TEXT")
    db.execute("ALTER TABLE notifications ADD COLUMN same_as INTEGER")
    db.execute(
        "CREATE INDEX idx_incidents_firing_fingerprint ON incidents (fingerprint) WHERE status = 'firing'"
    )
    db.execute(
        "CREATE TABLE recent_analyses (labels_key TEXT PRIMARY KEY, incident_id TEXT NOT NULL,"
        " analysed_at REAL NOT NULL)"
    )


# The index the retention prune names (INDEXED BY): resolved incidents by their end (or last heard of).
RESOLVED_END_INDEX = (
    "CREATE INDEX idx_incidents_resolved_end"
    " ON incidents (max(coalesce(ends_at, last_seen), last_seen), id) WHERE status = 'resolved'"
)


def _retention_indexes(db: sqlite_utils.Database) -> None:
    """Indexes the retention prune needs to find expired rows and the references that keep them, without
    scanning whole tables: resolved incidents by their end (or when last heard of, if later: a resolution
    replayed today of an alert that ended years ago is kept as long as one that ended today), and who
    points at an incident or notification.

    A version 9 written by a draft of `_occurrences` (8c30bf9) lacks `notifications.same_as`: added here,
    or this step stopped every start at "no such column: same_as"."""
    if "same_as" not in _columns(db, "notifications"):
        db.execute("ALTER TABLE notifications ADD COLUMN same_as INTEGER")
    db.execute(RESOLVED_END_INDEX)
    db.execute(
        "CREATE INDEX idx_incidents_evidence_of ON incidents (evidence_of) WHERE evidence_of IS NOT NULL"
    )
    db.execute("CREATE INDEX idx_incidents_notification ON incidents (notification_id)")
    db.execute("CREATE INDEX idx_notifications_same_as ON notifications (same_as) WHERE same_as IS NOT NULL")
    db.execute("CREATE INDEX idx_slack_threads_incident ON slack_threads (incident_id)")


def _occurrence_starts(db: sqlite_utils.Database) -> None:
    """The occurrences of a fingerprint in start order: a late older occurrence is superseded by the next
    newer one whatever its status, and finding it (or a re-fire whose first incident was pruned) is a
    seek, not a scan of the fingerprint's history."""
    db.execute("CREATE INDEX idx_incidents_fingerprint_starts ON incidents (fingerprint, starts_at)")


def _retention_index_as_queried(db: sqlite_utils.Database) -> None:
    """A database that ran a draft of `_retention_indexes` (3487107) indexes resolved incidents by
    `coalesce(ends_at, last_seen)`, which the prune's `max(...)` cannot seek: every batch of 100 scanned
    and sorted all resolved incidents. Rebuilt as the prune queries it; others are left as they are."""
    row = db.execute("SELECT sql FROM sqlite_master WHERE name = 'idx_incidents_resolved_end'").fetchone()
    if row is None or " ".join(row[0].split()) != RESOLVED_END_INDEX:
        db.execute("DROP INDEX IF EXISTS idx_incidents_resolved_end")
        db.execute(RESOLVED_END_INDEX)


def _waiting_by_group(db: sqlite_utils.Database) -> None:
    """The incidents with work left by alert group, oldest first within each: the sweeper steps from one
    group to the next and takes each group's oldest with a seek (`incidents.work_ids`), instead of reading
    every waiting row to number them per group."""
    db.execute(
        "CREATE INDEX idx_incidents_work_group ON incidents (group_key, first_seen)"
        " WHERE stage != 'done' OR resolve_pending = 1"
    )


def _text_rows(db: sqlite_utils.Database) -> None:
    """Each incident's full-text row by its id, so that re-indexing an incident, adding its notes or
    reading its text no longer reads the whole full-text table. A damaged full-text table leaves it empty:
    the rebuild that damage brings refills both."""
    db.execute(INCIDENT_TEXT_ROWS_DDL)
    try:
        fill_incident_text_rows(db)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        log.warning("search_index_damaged_at_migration", index="incident_text", error=str(exc))


def _newest_first_keyset(db: sqlite_utils.Database) -> None:
    """The API's list pages by keyset, newest first (`incidents.list_incidents`): each page is a seek
    past the last row's (first_seen, id), whatever arrives or goes meanwhile."""
    db.execute("CREATE INDEX idx_incidents_newest ON incidents (first_seen DESC, id)")


def _truncated_alerts(db: sqlite_utils.Database) -> None:
    """How many alerts of its group Alertmanager left out (`truncatedAlerts`, its `max_alerts`) of a
    notification that carried the incident: those alerts are never tracked, and the incident says so."""
    db.execute("ALTER TABLE incidents ADD COLUMN truncated_alerts INTEGER")


def _list_by_start(db: sqlite_utils.Database) -> None:
    """The workbench's list goes by the alert's start (`startsAt`), not by when its webhook arrived (a
    rule's `for:` is between them): the latest-started first, under each of its filters, with a seek. The
    first also holds the alert name, for the name field's suggestions (`workbench.filter_choices`)."""
    db.execute("CREATE INDEX idx_incidents_started ON incidents (starts_at DESC, id, alertname)")
    for column in ("status", "severity", "alertname", "diagnosis_category"):
        db.execute(f"CREATE INDEX idx_incidents_{column}_started ON incidents ({column}, starts_at DESC, id)")


def _overview_by_start(db: sqlite_utils.Database) -> None:
    """The overview counts incidents per day of the alert's start, as the list shows them: its own index
    covers the counts (the incident's row, evidence and all, is not read for each)."""
    db.execute(
        "CREATE INDEX idx_incidents_started_counts ON incidents (starts_at, severity, diagnosis_category)"
    )


def _columns(db: sqlite_utils.Database, table: str) -> set[str]:
    return {str(row[1]) for row in db.execute(f"PRAGMA table_info({table})")}


MIGRATIONS: tuple[Callable[[sqlite_utils.Database], None], ...] = (
    _core_tables,
    migrate_delivery,
    migrate_detection,
    _notification_backlog,
    _drop_diagnosis_signature,
    _feedback_and_memory,
    migrate_workbench,
    _signature_alertname,
    _occurrences,
    _retention_indexes,
    _occurrence_starts,
    migrate_catch_up,
    migrate_ondemand_results,
    _retention_index_as_queried,
    _waiting_by_group,
    _text_rows,
    _newest_first_keyset,
    _truncated_alerts,
    migrate_seen,
    _list_by_start,
    migrate_credentials_rejected,
    _overview_by_start,
)


class NewerSchemaError(StorageUnusable):
    """The database was written by a newer alert-analyst: its schema version is above the migrations
    known here. `serve` exits with the message instead of writing to a schema it does not know (every
    write would fail, or worse, succeed half)."""


class SQLiteTooOldError(StorageUnusable):
    """The SQLite library Python was built with lacks what the schema needs (`ALTER TABLE DROP COLUMN`
    came with 3.35.0): one line naming both versions instead of a syntax error from a migration."""


MIN_SQLITE = (3, 35, 0)


def migrate(db: sqlite_utils.Database) -> int:
    """Apply every migration above the stored user_version, each in its own transaction.

    Raises NewerSchemaError, changing nothing, when the stored version is above the known migrations, and
    SQLiteTooOldError when there is a migration to apply and the SQLite library is older than MIN_SQLITE.
    A migration interrupted (an error, a crash, a kill) leaves the version it started from: the next
    start runs it again.
    """
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    known = len(MIGRATIONS)
    if version > known:
        raise NewerSchemaError(
            f"{_where(db)}database schema version {version} is newer than this alert-analyst knows"
            f" ({known}): upgrade alert-analyst or use another storage.path"
        )
    if version < known and sqlite3.sqlite_version_info < MIN_SQLITE:
        raise SQLiteTooOldError(
            f"{_where(db)}SQLite {sqlite3.sqlite_version} is too old: the schema needs"
            f" {'.'.join(map(str, MIN_SQLITE))} or newer (a Python built with a newer SQLite, or the"
            " container image)"
        )
    if version == known:
        return known
    # A large database takes a while (seconds per 100,000 incidents): the log says why the start waits.
    log.info("schema_migration_started", from_version=version, to_version=known)
    started = time.monotonic()
    for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
        with db.conn:
            db.conn.execute("BEGIN IMMEDIATE")
            step(db)
            db.conn.execute(f"PRAGMA user_version={number}")
    log.info(
        "schema_migrated",
        from_version=version,
        to_version=known,
        seconds=round(time.monotonic() - started, 3),
    )
    return known


def _where(db: sqlite_utils.Database) -> str:
    """The `storage.path FILE: ` that starts a message about a database in a file (nothing in memory)."""
    rows = db.execute("PRAGMA database_list").fetchall()
    path = next((str(r[2]) for r in rows if r[1] == "main" and r[2]), "")
    return f"storage.path {path}: " if path else ""
