"""Delivery tables: the outbox rows, alert-group membership, noise decisions, Slack threads, Grafana ids.

Every function takes the sqlite-utils Database first and runs on the Store's database thread; the
`claim_next` and `mark_sent` steps and every planner batch run inside one `transaction`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from receiver.storage.database import fetch_all, fetch_one, transaction

PENDING, IN_FLIGHT, SENT, FAILED, SUPPRESSED = "pending", "in_flight", "sent", "failed", "suppressed"
LIVE = f"status NOT IN ('{FAILED}', '{SUPPRESSED}')"


@dataclass(frozen=True)
class Delivery:
    """One outbox row as a sink sees it.

    `parent_result` is the result of the row it depends on; `reconcile` is set when an earlier attempt
    may have reached the destination (a crash interrupted it, or it timed out), so the outbox calls
    `Sink.recover` before sending again.
    """

    id: int
    incident_id: str
    group_key: str
    destination: str
    kind: str
    payload: Mapping[str, Any]
    attempts: int
    parent_result: Mapping[str, Any] | None = None
    reconcile: bool = False


@dataclass(frozen=True)
class NewDelivery:
    """A row to insert; `depends_on` names the row whose result this one needs (Slack parent, annotation)."""

    incident_id: str
    group_key: str
    destination: str
    queue: str
    kind: str
    payload: Mapping[str, Any]
    depends_on: int | None = None
    status: str = PENDING
    last_error: str | None = None
    similarity_key: str | None = None


@dataclass(frozen=True)
class Claim:
    delivery: Delivery | None
    wait_seconds: float | None


def insert_delivery(db: sqlite_utils.Database, row: NewDelivery, now: float) -> int:
    """Insert one row (call inside a transaction) and return its id."""
    cursor = db.conn.execute(
        "INSERT INTO delivery_outbox (incident_id, group_key, destination, queue, kind, payload, depends_on,"
        " status, attempts, next_attempt_at, last_error, similarity_key, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)",
        [
            row.incident_id,
            row.group_key,
            row.destination,
            row.queue,
            row.kind,
            json.dumps(row.payload, separators=(",", ":")),
            row.depends_on,
            row.status,
            now,
            row.last_error,
            row.similarity_key,
            now,
            now,
        ],
    )
    return int(cursor.lastrowid or 0)


def _delivery(row: Mapping[str, Any], parent_result: Mapping[str, Any] | None) -> Delivery:
    return Delivery(
        id=int(row["id"]),
        incident_id=row["incident_id"],
        group_key=row["group_key"] or "",
        destination=row["destination"],
        kind=row["kind"],
        payload=json.loads(row["payload"]),
        attempts=int(row["attempts"]),
        parent_result=parent_result,
        reconcile=bool(row["reconcile"]),
    )


def _set_status(
    db: sqlite_utils.Database, delivery_id: int, status: str, error: str | None, now: float
) -> None:
    db.conn.execute(
        "UPDATE delivery_outbox SET status=?, last_error=?, updated_at=? WHERE id=?",
        [status, error, now, delivery_id],
    )


def claim_next(db: sqlite_utils.Database, queue: str, now: float) -> Claim:
    """Mark the queue's head row in flight and return it, or say how long to wait for it."""
    with transaction(db):
        row = fetch_one(
            db,
            "SELECT * FROM delivery_outbox WHERE queue=? AND status=? ORDER BY id LIMIT 1",
            [queue, PENDING],
        )
        if row is None:
            return Claim(None, None)
        if row["next_attempt_at"] > now:
            return Claim(None, row["next_attempt_at"] - now)
        parent_result = None
        if row["depends_on"] is not None:
            parent = fetch_one(
                db, "SELECT status, result, last_error FROM delivery_outbox WHERE id=?", [row["depends_on"]]
            )
            if parent is None or parent["status"] in (FAILED, SUPPRESSED):
                reason = "missing" if parent is None else f"{parent['status']}: {parent['last_error']}"
                _set_status(db, row["id"], FAILED, f"depends on delivery {row['depends_on']} ({reason})", now)
                return Claim(None, 0.0)
            if parent["status"] != SENT:
                return Claim(None, 0.2)
            parent_result = json.loads(parent["result"] or "{}")
        db.conn.execute(
            "UPDATE delivery_outbox SET status=?, attempts=attempts+1, updated_at=? WHERE id=?",
            [IN_FLIGHT, now, row["id"]],
        )
        row["attempts"] += 1
        return Claim(_delivery(row, parent_result), None)


def mark_sent(
    db: sqlite_utils.Database,
    delivery: Delivery,
    result: Mapping[str, Any],
    now: float,
    record: Callable[[sqlite_utils.Database, Delivery, Mapping[str, Any]], None],
) -> None:
    with transaction(db):
        db.conn.execute(
            "UPDATE delivery_outbox SET status=?, result=?, last_error=NULL, reconcile=0, sent_at=?,"
            " updated_at=? WHERE id=?",
            [SENT, json.dumps(result), now, now, delivery.id],
        )
        record(db, delivery, result)


def mark_retry(
    db: sqlite_utils.Database, delivery_id: int, error: str, next_at: float, now: float, check: bool = False
) -> None:
    """Pending again at `next_at`; `check`: the last attempt may have been sent, so the next one asks the
    sink first (as after a crash)."""
    db.conn.execute(
        "UPDATE delivery_outbox SET status=?, last_error=?, next_attempt_at=?, updated_at=?, reconcile=?"
        " WHERE id=?",
        [PENDING, error, next_at, now, int(check), delivery_id],
    )


def mark_failed(
    db: sqlite_utils.Database, delivery_id: int, error: str, now: float, credentials_rejected: bool = False
) -> None:
    """Given up; `credentials_rejected`: the destination refused the credentials, so a reload that
    changes them queues the row again (`receiver.delivery.requeue`)."""
    db.conn.execute(
        "UPDATE delivery_outbox SET status=?, last_error=?, updated_at=?, credentials_rejected=? WHERE id=?",
        [FAILED, error, now, int(credentials_rejected), delivery_id],
    )


@dataclass(frozen=True)
class GroupRow:
    """A row of a destination in an alert group that still fires, as a reload weighs queueing it again
    (`receiver.delivery.requeue`)."""

    id: int
    incident_id: str
    group_key: str  # the incident's alert group (`incident:ID` when it has none, as the planner names it)
    destination: str
    kind: str
    status: str
    depends_on: int | None
    rejected: bool  # failed on refused credentials
    waited: bool  # failed because the row it depends on had failed
    firing: bool  # its incident fires (its resolution is not planned yet)
    open_thread: bool  # the parent message of its group's current, unresolved Slack thread


def rows_of_firing_groups(db: sqlite_utils.Database, destinations: Sequence[str]) -> list[GroupRow]:
    """The rows of `destinations` in the alert groups where an incident fires, oldest first."""
    marks = ",".join("?" * len(destinations))
    incidents = "SELECT incident_id FROM delivery_group_members WHERE status = 'firing'"
    groups = "SELECT group_key FROM delivery_group_members WHERE status = 'firing'"
    rows = fetch_all(
        db,
        "SELECT o.id, o.incident_id, COALESCE(o.group_key, 'incident:' || o.incident_id) AS group_key,"
        " o.destination, o.kind, o.status, o.depends_on,"
        " o.credentials_rejected AS rejected, o.last_error LIKE 'depends on delivery %' AS waited,"
        f" o.incident_id IN ({incidents}) AS firing,"
        " EXISTS (SELECT 1 FROM slack_threads t WHERE t.parent_delivery_id = o.id AND t.resolved_at IS NULL)"
        f" AS open_thread FROM delivery_outbox o WHERE o.destination IN ({marks})"
        f" AND (o.group_key IN ({groups}) OR o.incident_id IN ({incidents})) ORDER BY o.id",
        destinations,
    )
    flags = ("rejected", "waited", "firing", "open_thread")
    return [GroupRow(**{**row, **{flag: bool(row[flag]) for flag in flags}}) for row in rows]


def move_to_thread(db: sqlite_utils.Database, moves: Mapping[int, int], now: float) -> dict[int, int]:
    """Point each Slack reply (id -> the parent row of its group's current thread) at its new parent and
    into that parent's queue, renumbered after every row: a queue sends in id order and its head waits
    for a pending parent, so a reply queued before the parent it waits on would hold the queue for good.
    The new ids by old id (call inside a transaction)."""
    moved: dict[int, int] = {}
    for reply_id, parent_id in sorted(moves.items()):
        new_id = int(db.conn.execute("SELECT MAX(id) + 1 FROM delivery_outbox").fetchone()[0])
        db.conn.execute(
            "UPDATE delivery_outbox SET id=?, depends_on=?, updated_at=?,"
            " queue=(SELECT queue FROM delivery_outbox WHERE id=?) WHERE id=?",
            [new_id, parent_id, now, parent_id, reply_id],
        )
        db.conn.execute("UPDATE delivery_outbox SET depends_on=? WHERE depends_on=?", [new_id, reply_id])
        moved[reply_id] = new_id
    return moved


def requeue(db: sqlite_utils.Database, delivery_ids: Sequence[int], now: float) -> None:
    """Pending again from attempt 0, due now (call inside a transaction)."""
    db.conn.executemany(
        "UPDATE delivery_outbox SET status=?, attempts=0, next_attempt_at=?, updated_at=?,"
        " credentials_rejected=0, reconcile=0 WHERE id=?",
        [(PENDING, now, now, delivery_id) for delivery_id in delivery_ids],
    )


def flag_interrupted_for_reconcile(db: sqlite_utils.Database, now: float) -> int:
    """Rows left in flight by a crash go back to pending, flagged so the sink checks before resending."""
    cursor = db.conn.execute(
        "UPDATE delivery_outbox SET status=?, reconcile=1, next_attempt_at=?, updated_at=? WHERE status=?",
        [PENDING, now, now, IN_FLIGHT],
    )
    return cursor.rowcount


def fail_disabled_destinations(db: sqlite_utils.Database, enabled: Sequence[str], now: float) -> int:
    marks = ",".join("?" * len(enabled)) or "''"
    cursor = db.conn.execute(
        f"UPDATE delivery_outbox SET status=?, last_error=?, updated_at=?"
        f" WHERE status IN (?, ?) AND destination NOT IN ({marks})",
        [FAILED, "destination is no longer configured", now, PENDING, IN_FLIGHT, *enabled],
    )
    return cursor.rowcount


def queues_with_work(db: sqlite_utils.Database) -> list[str]:
    rows = fetch_all(
        db, "SELECT DISTINCT queue FROM delivery_outbox WHERE status IN (?, ?)", [PENDING, IN_FLIGHT]
    )
    return [row["queue"] for row in rows]


def unfinished_counts(db: sqlite_utils.Database) -> dict[str, int]:
    rows = fetch_all(
        db,
        "SELECT destination, COUNT(*) AS n FROM delivery_outbox WHERE status IN (?, ?) GROUP BY destination",
        [PENDING, IN_FLIGHT],
    )
    return {row["destination"]: int(row["n"]) for row in rows}


def work_due_before(db: sqlite_utils.Database, deadline: float) -> int:
    row = fetch_one(
        db,
        "SELECT COUNT(*) AS n FROM delivery_outbox WHERE status=? OR (status=? AND next_attempt_at<=?)",
        [IN_FLIGHT, PENDING, deadline],
    )
    return int(row["n"]) if row else 0


def deliveries_of(db: sqlite_utils.Database, incident_id: str) -> list[dict[str, object]]:
    """The outbox rows of one incident, for the API (payloads left out)."""
    rows = fetch_all(
        db,
        "SELECT id, destination, kind, status, attempts, last_error, result, created_at, updated_at, sent_at,"
        " next_attempt_at FROM delivery_outbox WHERE incident_id=? ORDER BY id",
        [incident_id],
    )
    for row in rows:
        row["result"] = json.loads(row["result"]) if row["result"] else None
        if row["status"] != "pending":
            row["next_attempt_at"] = None
    return rows


# -- alert groups, Slack threads, Grafana annotations (the planner's reads and writes) -------------------


def join_group(
    db: sqlite_utils.Database, incident_id: str, group_key: str, starts_at: float, ends_at: float | None
) -> None:
    """Count the incident in its group; it stays open until `resolve_member`."""
    db.conn.execute(
        "INSERT OR IGNORE INTO delivery_group_members (incident_id, group_key, status, starts_at, ends_at)"
        " VALUES (?, ?, 'firing', ?, ?)",
        [incident_id, group_key, starts_at, ends_at],
    )


def member_status(db: sqlite_utils.Database, incident_id: str) -> str | None:
    row = fetch_one(db, "SELECT status FROM delivery_group_members WHERE incident_id=?", [incident_id])
    return None if row is None else str(row["status"])


def resolve_member(db: sqlite_utils.Database, incident_id: str, ended: float) -> None:
    db.conn.execute(
        "UPDATE delivery_group_members SET status='resolved', ends_at=? WHERE incident_id=?",
        [ended, incident_id],
    )


def group_members(db: sqlite_utils.Database, group_key: str) -> list[dict[str, Any]]:
    """The group's members, each with its stored incident's severity and whether its alert resolved
    (`alert_resolved` NULL when the incident is not stored)."""
    return fetch_all(
        db,
        "SELECT m.incident_id, m.status, m.starts_at, m.ends_at, i.severity, i.status = 'resolved'"
        " AS alert_resolved FROM delivery_group_members m LEFT JOIN incidents i ON i.id = m.incident_id"
        " WHERE m.group_key = ?",
        [group_key],
    )


def open_thread(db: sqlite_utils.Database, group_key: str) -> dict[str, Any] | None:
    """The group's unresolved Slack thread, unless its parent message failed."""
    return fetch_one(
        db,
        "SELECT t.group_key, t.incident_id, t.channel, t.parent_delivery_id, t.alertname, t.severity,"
        " t.summary, t.opened_at FROM slack_threads t JOIN delivery_outbox o ON o.id = t.parent_delivery_id"
        f" WHERE t.group_key=? AND t.resolved_at IS NULL AND o.{LIVE}",
        [group_key],
    )


def save_thread(db: sqlite_utils.Database, thread: Mapping[str, Any]) -> None:
    db.conn.execute(
        "INSERT OR REPLACE INTO slack_threads (group_key, incident_id, channel, parent_delivery_id,"
        " alertname, severity, summary, opened_at) VALUES (:group_key, :incident_id, :channel,"
        " :parent_delivery_id, :alertname, :severity, :summary, :opened_at)",
        dict(thread),
    )


def close_thread(db: sqlite_utils.Database, group_key: str, now: float) -> None:
    db.conn.execute("UPDATE slack_threads SET resolved_at=? WHERE group_key=?", [now, group_key])


def record_thread_message(
    db: sqlite_utils.Database, parent_delivery_id: int, channel_id: str, ts: str
) -> None:
    """The Slack channel id and `ts` of a thread's parent, once it was sent."""
    db.conn.execute(
        "UPDATE slack_threads SET channel_id=?, ts=? WHERE parent_delivery_id=?",
        [channel_id, ts, parent_delivery_id],
    )


def has_live(db: sqlite_utils.Database, incident_id: str, destination: str, kinds: Sequence[str]) -> bool:
    """Whether the incident has a live (not failed, not suppressed) row of one of `kinds`."""
    marks = ",".join("?" * len(kinds))
    row = fetch_one(
        db,
        f"SELECT 1 FROM delivery_outbox WHERE incident_id=? AND destination=? AND kind IN ({marks})"
        f" AND {LIVE}",
        [incident_id, destination, *kinds],
    )
    return row is not None


def last_live_id(db: sqlite_utils.Database, incident_id: str, destination: str, kind: str) -> int | None:
    row = fetch_one(
        db,
        f"SELECT id FROM delivery_outbox WHERE incident_id=? AND destination=? AND kind=? AND {LIVE}"
        " ORDER BY id DESC LIMIT 1",
        [incident_id, destination, kind],
    )
    return int(row["id"]) if row else None


def last_live_group_kind(db: sqlite_utils.Database, group_key: str, destination: str) -> str | None:
    row = fetch_one(
        db,
        f"SELECT kind FROM delivery_outbox WHERE group_key=? AND destination=? AND {LIVE}"
        " ORDER BY id DESC LIMIT 1",
        [group_key, destination],
    )
    return None if row is None else str(row["kind"])


def record_annotation(
    db: sqlite_utils.Database, incident_id: str, delivery_id: int, annotation_id: int, now: float
) -> None:
    db.conn.execute(
        "INSERT OR REPLACE INTO grafana_annotations (incident_id, delivery_id, annotation_id, updated_at)"
        " VALUES (?, ?, ?, ?)",
        [incident_id, delivery_id, annotation_id, now],
    )


# -- noise decisions --------------------------------------------------------------------------------------


def stored_decision(db: sqlite_utils.Database, incident_id: str) -> tuple[bool, str | None]:
    """(decided, suppression reason) of the verdict made earlier for this incident."""
    row = fetch_one(db, "SELECT suppressed_reason FROM delivery_decisions WHERE incident_id=?", [incident_id])
    if row is None:
        return False, None
    return True, None if row["suppressed_reason"] is None else str(row["suppressed_reason"])


def record_decision(
    db: sqlite_utils.Database, incident_id: str, alertname: str, now: float, reason: str | None
) -> None:
    db.conn.execute(
        "INSERT INTO delivery_decisions (incident_id, alertname, decided_at, suppressed_reason)"
        " VALUES (?, ?, ?, ?)",
        [incident_id, alertname, now, reason],
    )


def notified_since(db: sqlite_utils.Database, alertname: str, since: float, at_most: int) -> int:
    """How many incidents of `alertname` were decided to notify after `since`, counted up to `at_most`
    (a budget only needs to know whether it is spent; a busy alertname has thousands an hour)."""
    row = fetch_one(
        db,
        "SELECT COUNT(*) AS n FROM (SELECT 1 FROM delivery_decisions"
        " WHERE alertname=? AND decided_at>? AND suppressed_reason IS NULL LIMIT ?)",
        [alertname, since, at_most],
    )
    return int(row["n"]) if row else 0


def last_similar(db: sqlite_utils.Database, key: str, since: float) -> dict[str, Any] | None:
    """The latest live row with this similarity key created after `since` (incident_id, created_at)."""
    return fetch_one(
        db,
        "SELECT incident_id, created_at FROM delivery_outbox WHERE similarity_key=? AND status NOT IN (?, ?)"
        " AND created_at>? ORDER BY id DESC LIMIT 1",
        [key, SUPPRESSED, FAILED, since],
    )
