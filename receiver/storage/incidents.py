"""Incident storage: idempotent ingestion of notifications, queries, stage results, evidence, diagnoses.

Every function takes the sqlite-utils Database first and runs on the Store's database thread.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlite_utils
import structlog

from receiver.errors import PayloadError
from receiver.models import STAGES, Incident, incident_id_for
from receiver.payload import WebhookAlert, WebhookPayload, parse_webhook
from receiver.storage.database import fetch_all

log = structlog.get_logger("receiver.storage")


@dataclass(frozen=True)
class IngestResult:
    """What materialising one notification did: the incidents it created and the ones it closed."""

    notification_id: int
    created: list[str]
    resolved: list[str]
    superseded: list[str] = field(default_factory=list)  # closed by a newer occurrence of their alert


@dataclass(frozen=True)
class NotificationHead:
    """What the notifications table keeps beside the body."""

    group_key: str
    status: str
    receiver: str
    alert_count: int

    @classmethod
    def of(cls, payload: WebhookPayload) -> NotificationHead:
        return cls(payload.effective_group_key(), payload.status, payload.receiver, len(payload.alerts))


def accept_notification(
    db: sqlite_utils.Database,
    payload: WebhookPayload,
    body: bytes,
    received_at: float | None = None,
    pending: bool = True,
    digest: str | None = None,
) -> int:
    """Store the raw notification and return its id (call through Store.write).

    This is all the webhook's answer waits for: `materialize_pending` turns a pending notification into
    incidents behind the answer, in notification order, also after a restart. `digest`: the body's
    `body_digest`, when the caller has it already.
    """
    body_text = body.decode("utf-8", "replace")
    digest = digest or body_digest(body)
    return _insert_notification(
        db, NotificationHead.of(payload), digest, body_text, pending, None, received_at
    )


def accept_resend(
    db: sqlite_utils.Database,
    same_as: int,
    head: NotificationHead,
    digest: str,
    received_at: float | None = None,
) -> int:
    """Store a re-send of the stored notification `same_as` (the same bytes) as a reference to it."""
    return _insert_notification(db, head, digest, "", True, same_as, received_at)


def _insert_notification(
    db: sqlite_utils.Database,
    head: NotificationHead,
    digest: str,
    body: str,
    pending: bool,
    same_as: int | None,
    received_at: float | None,
) -> int:
    cur = db.conn.execute(
        "INSERT INTO notifications (received_at, group_key, status, receiver, alert_count, digest, body,"
        " pending, same_as) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            received_at or time.time(),
            head.group_key,
            head.status,
            head.receiver,
            head.alert_count,
            digest,
            body,
            int(pending),
            same_as,
        ),
    )
    return int(cur.lastrowid or 0)


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def incident_ids(payload: WebhookPayload) -> list[str]:
    """The ids of the alert occurrences a notification carries, in alert order (pure: no lookup); an
    occurrence that fired again after its resolution is another incident (`current_incident_ids`)."""
    return [incident_id_for(a.effective_fingerprint(), a.starts_at) for a in payload.alerts]


def alert_occurrences(payload: WebhookPayload) -> list[tuple[str, str]]:
    """(occurrence id, alert status) of each alert, in alert order: what `current_incident_ids` needs."""
    return [(i, payload.alert_status(a)) for i, a in zip(incident_ids(payload), payload.alerts, strict=True)]


def current_incident_ids(
    db: sqlite_utils.Database, occurrences: Sequence[tuple[str, str]], now: float
) -> list[str]:
    """The incidents a notification received `now` touches, as the stored incidents stand: each alert
    occurrence's newest re-fire, or the re-fire its firing alert opens after its resolution (as
    `_occurrences` decides when the notification is materialised)."""
    heads = _newest_refires(db.conn, list({i for i, _ in occurrences}))
    named = []
    for incident_id, status in occurrences:
        head = heads.get(incident_id)
        if head is None:
            named.append(incident_id)
        elif status == "firing" and head.refires(now):
            named.append(_refire_id(head.id))
        else:
            named.append(head.id)
    return named


def alerts_by_status(payload: WebhookPayload) -> dict[str, int]:
    counts: dict[str, int] = {}
    for alert in payload.alerts:
        status = payload.alert_status(alert)
        counts[status] = counts.get(status, 0) + 1
    return counts


# Pending notifications, oldest first, with the stored body of the notification a re-send repeats.
PENDING_SQL = (
    "SELECT n.id, n.received_at, COALESCE(o.body, n.body) FROM notifications n"
    " LEFT JOIN notifications o ON o.id = n.same_as WHERE n.pending = 1 ORDER BY n.id LIMIT ?"
)


# Close an incident (ends_at, last_seen, id) with its resolution still to deliver.
RESOLVE_SQL = "UPDATE incidents SET status='resolved', ends_at=?, last_seen=?, resolve_pending=1 WHERE id=?"


def materialize_pending(db: sqlite_utils.Database, limit: int) -> tuple[int, list[IngestResult]]:
    """Turn up to `limit` pending notifications, oldest first, into incidents (call through Store.write).

    Returns how many notifications it took (fewer than `limit`: none are left) and what each did.

    The payload is parsed again from the stored body rather than kept from the webhook, so a backlog
    costs disk, not memory, and a restart needs nothing else. A body that no longer parses (it was
    validated on arrival, so only a hand-edited row) is logged and marked done rather than blocking the
    ones behind it.
    """
    conn = db.conn
    rows = conn.execute(PENDING_SQL, (limit,)).fetchall()
    results = []
    for notification_id, received_at, body in rows:
        try:
            payload = parse_webhook(body.encode())
        except PayloadError as exc:
            log.error("notification_unparseable", notification_id=notification_id, error=str(exc))
            continue
        results.append(_upsert_incidents(conn, payload, notification_id, received_at))
    conn.executemany("UPDATE notifications SET pending = 0 WHERE id = ?", [(r[0],) for r in rows])
    return len(rows), results


def count_pending_notifications(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM notifications WHERE pending = 1").fetchone()[0])


def ingest_notification(
    db: sqlite_utils.Database, payload: WebhookPayload, body: bytes, received_at: float | None = None
) -> IngestResult:
    """Accept and materialise one notification in the caller's transaction (tests, replay, tools)."""
    now = received_at or time.time()
    notification_id = accept_notification(db, payload, body, now, pending=False)
    return _upsert_incidents(db.conn, payload, notification_id, now)


def _upsert_incidents(conn: Any, payload: WebhookPayload, notification_id: int, now: float) -> IngestResult:
    """Upsert one incident per alert occurrence of a stored notification.

    A re-sent alert only bumps `last_seen`; a resolved alert closes its incident once. An occurrence
    firing again after its resolution opens a new incident, and one older than another occurrence of its
    alert is stored already superseded (`_occurrences`). Set-based: a few lookups and `executemany` calls
    per notification, whatever the number of alerts.
    """
    group_key = payload.effective_group_key()
    alerts = [(alert, payload.alert_status(alert)) for alert in payload.alerts]
    occurrences, known, late = _occurrences(conn, dict(zip(incident_ids(payload), alerts, strict=True)), now)
    new = [i for i in occurrences if i not in known]
    closing = [i for i, (_, st) in occurrences.items() if st == "resolved" and known.get(i) == "firing"]
    seen_again = [i for i in known if i not in closing]
    conn.executemany(
        "INSERT INTO incidents (id, fingerprint, starts_at, ends_at, status, alertname, severity,"
        " labels, annotations, generator_url, group_key, source, first_seen, last_seen, notification_id,"
        " stage, resolve_pending) VALUES (?,?,?,?,?,?,?,?,?,?,?,'alertmanager',?,?,?,?,?)",
        [_new_incident_row(i, *occurrences[i], group_key, notification_id, now) for i in new],
    )
    conn.executemany(RESOLVE_SQL, [(occurrences[i][0].ends_at or now, now, i) for i in closing])
    conn.executemany("UPDATE incidents SET last_seen=? WHERE id=?", [(now, i) for i in seen_again])
    conn.executemany(
        SUPERSEDE_SQL, [(starts, now, successor, 0, i) for i, (starts, successor) in late.items()]
    )
    if payload.truncated_alerts:  # the group's incidents say that alerts of the group went untracked
        conn.executemany(
            "UPDATE incidents SET truncated_alerts = max(coalesce(truncated_alerts, 0), ?) WHERE id = ?",
            [(payload.truncated_alerts, i) for i in occurrences],
        )
    firing_new = {i: occurrences[i][0] for i in new if occurrences[i][1] == "firing" and i not in late}
    superseded, announced = _supersede(conn, firing_new, now)
    return IngestResult(notification_id, new, [*closing, *announced], [*late, *superseded])


# Close an incident superseded by a newer occurrence (ends_at, last_seen, superseded_by, resolve_pending, id).
SUPERSEDE_SQL = (
    "UPDATE incidents SET status='resolved', ends_at=?, last_seen=?, superseded_by=?, stage='done',"
    " resolve_pending=? WHERE id=?"
)


def _occurrences(
    conn: Any, alerts: Mapping[str, tuple[WebhookAlert, str]], now: float
) -> tuple[dict[str, tuple[WebhookAlert, str]], dict[str, str], dict[str, tuple[float, str]]]:
    """The incident each alert is about, the status of those that exist, and the late ones among the new.

    `alerts`: (alert, status) by the id of its occurrence (`incident_ids`). Returns (alert, status) by
    incident id; the status of the incidents that exist; and (ends_at, superseded_by) of the new firing
    incidents to store already superseded.

    - An alert firing again with the same startsAt after its incident was resolved (Alertmanager resolved
      it while Prometheus was out of reach, and it came back) opens a new incident, `_refire_id` of the
      resolved one, when the notification comes after the resolution (notification order) and was
      received after the resolution's end. Re-sends before the resolution only bump `last_seen`. A
      superseded incident never fires again: a notification still carrying it is stale (a retry, an HA
      replica) and only bumps `last_seen` too.
    - A new firing occurrence older than another occurrence of the same fingerprint, firing or resolved,
      arrived late (an HA replica lagging, a retry): Alertmanager holds the newer one only and will never
      resolve the older. It is stored superseded by the next newer one, ending where that one starts, and
      never announced.
    - An occurrence whose first incident was pruned by retention while its re-fire still fires is that
      re-fire (found, like late ones, among the incidents of the fingerprint from its start on).
    """
    heads = _newest_refires(conn, list(alerts))
    occurrences: dict[str, tuple[WebhookAlert, str]] = {}
    known: dict[str, str] = {}
    for incident_id, (alert, status) in alerts.items():
        head = heads.get(incident_id)
        if head is None:
            occurrences[incident_id] = (alert, status)
        elif status == "firing" and head.refires(now):
            occurrences[_refire_id(head.id)] = (alert, status)
        else:
            occurrences[head.id] = (alert, status)
            known[head.id] = head.status
    new = {i: alert for i, (alert, _) in occurrences.items() if i not in known}
    around = _occurrences_around(conn, {(a.effective_fingerprint(), a.starts_at) for a in new.values()})
    late: dict[str, tuple[float, str]] = {}
    for incident_id, alert in new.items():
        rows = around.get((alert.effective_fingerprint(), alert.starts_at), [])
        pruned = [i for i, starts, status in rows if starts == alert.starts_at and status == "firing"]
        newer = [(starts, i) for i, starts, _ in rows if starts > alert.starts_at]
        if pruned and incident_id in alerts:
            occurrences[pruned[0]] = occurrences.pop(incident_id)
            known[pruned[0]] = "firing"
        elif newer and occurrences[incident_id][1] == "firing":
            late[incident_id] = newer[0]
    return occurrences, known, late


# The incidents of each wanted (fingerprint, start): those starting then and those of the next newer start,
# whatever their status, first seen first (through idx_incidents_fingerprint_starts, a seek per pair).
OCCURRENCES_AROUND_SQL = (
    "WITH wanted (fingerprint, starts_at) AS (VALUES {marks})"
    " SELECT w.fingerprint, w.starts_at, i.id, i.starts_at, i.status FROM wanted w"
    " JOIN incidents i ON i.fingerprint = w.fingerprint AND i.starts_at >= w.starts_at"
    " AND i.starts_at <= coalesce((SELECT min(n.starts_at) FROM incidents n"
    " WHERE n.fingerprint = w.fingerprint AND n.starts_at > w.starts_at), w.starts_at)"
    " ORDER BY i.starts_at, i.first_seen, i.id"
)


def _occurrences_around(
    conn: Any, wanted: set[tuple[str, float]], chunk: int = 250
) -> dict[tuple[str, float], list[tuple[str, float, str]]]:
    """(id, starts_at, status) of the incidents `OCCURRENCES_AROUND_SQL` finds, by wanted pair."""
    found: dict[tuple[str, float], list[tuple[str, float, str]]] = {}
    pairs = sorted(wanted)
    for start in range(0, len(pairs), chunk):
        part = pairs[start : start + chunk]
        sql = OCCURRENCES_AROUND_SQL.format(marks=",".join(["(?, ?)"] * len(part)))
        for fingerprint, starts, incident_id, incident_starts, status in conn.execute(
            sql, [value for pair in part for value in pair]
        ):
            found.setdefault((fingerprint, starts), []).append((incident_id, incident_starts, status))
    return found


@dataclass(frozen=True)
class _Head:
    """The newest incident of an occurrence's re-fire chain."""

    id: str
    status: str
    end: float  # ends_at, or last_seen while firing
    superseded: bool

    def refires(self, now: float) -> bool:
        """Whether a firing notification received `now` opens a re-fire of this incident."""
        return self.status == "resolved" and not self.superseded and now > self.end


def _newest_refires(conn: Any, ids: list[str]) -> dict[str, _Head]:
    """For each of `ids` that exists: the newest re-fire, or itself if none.

    Only a resolved incident can have a re-fire, so the chain is followed from resolved ones only.
    """
    heads: dict[str, _Head] = {}
    todo = {incident_id: incident_id for incident_id in ids}
    while todo:
        found = {
            row[0]: _Head(row[0], row[1], row[2], row[3] is not None)
            for row in _rows_in(
                conn,
                "SELECT id, status, COALESCE(ends_at, last_seen), superseded_by FROM incidents"
                " WHERE id IN ({marks})",
                list(todo.values()),
            )
        }
        following = {}
        for first, candidate in todo.items():
            if candidate in found:
                heads[first] = found[candidate]
                if found[candidate].status == "resolved":
                    following[first] = _refire_id(candidate)
        todo = following
    return heads


def _refire_id(incident_id: str) -> str:
    """The id of the incident an occurrence opens when it fires again after `incident_id` resolved."""
    return f"inc-{hashlib.sha256(f'{incident_id}|refire'.encode()).hexdigest()[:16]}"


# The firing incidents of some fingerprints. The index is named: given several fingerprints the planner
# took idx_incidents_status_first_seen (reading every firing incident), or now
# idx_incidents_fingerprint_starts (every past occurrence of each).
FIRING_OF_FINGERPRINTS_SQL = (
    "SELECT id, fingerprint, starts_at, stage FROM incidents INDEXED BY idx_incidents_firing_fingerprint"
    " WHERE status = 'firing' AND fingerprint IN ({marks})"
)


def _supersede(conn: Any, newer: Mapping[str, WebhookAlert], now: float) -> tuple[list[str], list[str]]:
    """Close the older firing occurrences of the alerts that start again in `newer` (id -> alert).

    Alertmanager keeps one alert per fingerprint: when it fires again, the webhook carries only the new
    `startsAt`, never the old occurrence's resolution. The old incident ends where the new one starts.
    One not yet announced leaves the pipeline silently (the newer one is analysed instead); one already
    announced gets its resolution delivered like any other. Returns the superseded ids and, among them,
    those whose resolution is pending.
    """
    newest: dict[str, tuple[float, str]] = {}
    for incident_id, alert in newer.items():
        fingerprint = alert.effective_fingerprint()
        if fingerprint not in newest or alert.starts_at > newest[fingerprint][0]:
            newest[fingerprint] = (alert.starts_at, incident_id)
    rows = _rows_in(conn, FIRING_OF_FINGERPRINTS_SQL, list(newest))
    updates, superseded, announced = [], [], []
    for incident_id, fingerprint, starts_at, stage in rows:
        successor_starts, successor = newest[fingerprint]
        if incident_id == successor or starts_at >= successor_starts:
            continue
        pending = int(stage != STAGES[0])
        updates.append((successor_starts, now, successor, pending, incident_id))
        superseded.append(incident_id)
        if pending:
            announced.append(incident_id)
    conn.executemany(SUPERSEDE_SQL, updates)
    return superseded, announced


def _rows_in(conn: Any, sql: str, values: list[str], chunk: int = 500) -> list[Any]:
    """Rows of `sql` whose `IN ({marks})` takes `values`, chunked under SQLite's variable limit."""
    rows: list[Any] = []
    for start in range(0, len(values), chunk):
        part = values[start : start + chunk]
        rows.extend(conn.execute(sql.format(marks=",".join("?" * len(part))), part))
    return rows


def _new_incident_row(
    incident_id: str, alert: WebhookAlert, status: str, group_key: str, notification_id: int, now: float
) -> tuple[object, ...]:
    resolved = status == "resolved"
    return (
        incident_id,
        alert.effective_fingerprint(),
        alert.starts_at,
        alert.ends_at if resolved else None,
        status,
        alert.alertname,
        alert.labels.get("severity", "warning"),
        json.dumps(alert.labels),
        json.dumps(alert.annotations),
        alert.generator_url,
        group_key,
        now,
        now,
        notification_id,
        STAGES[0],
        1 if resolved else 0,
    )


def resolve_quiet_detector_incidents(
    db: sqlite_utils.Database,
    *,
    evaluated_rules: Sequence[str],
    active: Sequence[str],
    opened_before: float,
    now: float,
) -> list[str]:
    """Resolve the firing incidents scheduled detection opened whose anomaly is over; their ids.

    Only incidents of rules evaluated this cycle are judged (a rule whose query failed says nothing; a
    detector incident's alertname is its rule's name). One is over when it opened before `opened_before`
    (its rule's cooldown, within which the series' findings are the same incident, has passed) and its
    series (fingerprint) has no fresh anomaly (`active`), or when a newer incident of the same series was
    opened since. It ends `now`, its resolution pending
    (delivered like an Alertmanager resolution). Call through Store.write.
    """
    fresh = set(active)
    rows = _rows_in(
        db.conn,
        "SELECT id, fingerprint, first_seen FROM incidents"
        " WHERE status = 'firing' AND source = 'detector' AND alertname IN ({marks})",
        list(evaluated_rules),
    )
    rows.sort(key=lambda row: row[2])
    newest = {fingerprint: incident_id for incident_id, fingerprint, _ in rows}
    over = [
        incident_id
        for incident_id, fingerprint, first_seen in rows
        if first_seen < opened_before and (fingerprint not in fresh or newest[fingerprint] != incident_id)
    ]
    db.conn.executemany(RESOLVE_SQL, [(now, now, incident_id) for incident_id in over])
    return over


def create_incident(db: sqlite_utils.Database, incident: Incident) -> bool:
    """Insert an incident produced outside Alertmanager (scheduled detection); False if it already exists.

    Call through Store.write.
    """
    inserted = db.conn.execute(
        "INSERT OR IGNORE INTO incidents (id, fingerprint, starts_at, ends_at, status, alertname, severity,"
        " labels, annotations, generator_url, group_key, source, first_seen, last_seen, stage,"
        " resolve_pending) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,0)",
        (
            incident.id,
            incident.fingerprint,
            incident.starts_at,
            incident.ends_at,
            incident.status,
            incident.alertname,
            incident.severity,
            json.dumps(dict(incident.labels), sort_keys=True),
            json.dumps(dict(incident.annotations), sort_keys=True),
            incident.generator_url,
            incident.group_key,
            incident.source,
            incident.first_seen,
            incident.last_seen,
            STAGES[0],
        ),
    ).rowcount
    return bool(inserted)


def row_to_incident(row: Mapping[str, Any]) -> Incident:
    return Incident(
        id=row["id"],
        fingerprint=row["fingerprint"],
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        status=row["status"],
        alertname=row["alertname"],
        severity=row["severity"],
        labels=json.loads(row["labels"] or "{}"),
        annotations=json.loads(row["annotations"] or "{}"),
        generator_url=row["generator_url"] or "",
        group_key=row["group_key"] or "",
        source=row["source"],
        first_seen=row["first_seen"],
        last_seen=row["last_seen"],
        stage=row["stage"],
    )


def get_incident(db: sqlite_utils.Database, incident_id: str) -> Incident | None:
    rows = fetch_all(db, "SELECT * FROM incidents WHERE id=?", (incident_id,))
    return row_to_incident(rows[0]) if rows else None


INCIDENT_SUMMARY_COLUMNS = (
    "id, fingerprint, alertname, severity, status, source, starts_at, ends_at, group_key, first_seen,"
    " last_seen, stage, labels"
)


def list_incidents(
    db: sqlite_utils.Database,
    *,
    status: str | None = None,
    alertname: str | None = None,
    since: float | None = None,
    limit: int = 50,
    offset: int = 0,
    after: tuple[float, str] | None = None,
) -> list[dict[str, Any]]:
    """Newest first (first_seen, then id); `since` filters on first_seen (Unix seconds). `after` is the
    (first_seen, id) of the previous page's last row: a seek that neither repeats nor skips rows when
    incidents arrive or go between pages, as `offset` does."""
    where: list[str] = []
    params: list[Any] = []
    if status:
        where.append("status = ?")
        params.append(status)
    if alertname:
        where.append("alertname = ?")
        params.append(alertname)
    if since is not None:
        where.append("first_seen >= ?")
        params.append(since)
    if after is not None:
        where.append("first_seen <= ? AND (first_seen < ? OR id > ?)")
        params += [after[0], after[0], after[1]]
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    rows = fetch_all(
        db,
        f"SELECT {INCIDENT_SUMMARY_COLUMNS} FROM incidents {clause}"
        " ORDER BY first_seen DESC, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )
    for row in rows:
        row["labels"] = json.loads(row["labels"] or "{}")
        diag = latest_diagnosis_row(db, row["id"])
        row["diagnosis"] = (
            {"category": diag["category"], "confidence": diag["confidence"], "backend": diag["backend"]}
            if diag
            else None
        )
    return rows


def incident_detail(db: sqlite_utils.Database, incident_id: str) -> dict[str, Any] | None:
    """Everything the API shows about one incident (evidence and diagnosis as stored JSON)."""
    rows = fetch_all(db, "SELECT * FROM incidents WHERE id=?", (incident_id,))
    if not rows:
        return None
    row = rows[0]
    row.pop("evidence")
    evidence = load_evidence(db, incident_id)
    row["labels"] = json.loads(row["labels"] or "{}")
    row["annotations"] = json.loads(row["annotations"] or "{}")
    alert = {
        "status": row["status"],
        "labels": row["labels"],
        "annotations": row["annotations"],
        "startsAt": row["starts_at"],
        "endsAt": row["ends_at"],
        "generatorURL": row["generator_url"],
        "fingerprint": row["fingerprint"],
    }
    events = [{"status": "firing", "at": row["first_seen"]}]
    if row["status"] == "resolved":
        events.append({"status": "resolved", "at": row["ends_at"]})
    stages = fetch_all(
        db,
        "SELECT stage, outcome, detail, started_at, duration_seconds FROM stage_results"
        " WHERE incident_id=? ORDER BY id",
        (incident_id,),
    )
    diag = latest_diagnosis_row(db, incident_id)
    return {
        "incident": row,
        "alerts": [alert],
        "events": events,
        "stages": stages,
        "evidence": evidence,
        "diagnosis": json.loads(diag["body"]) if diag else None,
    }


def latest_diagnosis_row(
    db: sqlite_utils.Database, incident_id: str, columns: str = "*"
) -> dict[str, Any] | None:
    """The incident's newest diagnosis: `columns` of it (a constant SQL column list; all by default)."""
    rows = fetch_all(
        db, f"SELECT {columns} FROM diagnoses WHERE incident_id=? ORDER BY id DESC LIMIT 1", (incident_id,)
    )
    return rows[0] if rows else None


# An incident with work left: a stage to run or a resolution to deliver. The WHERE of both partial indexes,
# word for word (SQLite uses a partial index only for a query that states its WHERE); INDEXED BY keeps
# SQLite on them (it would rather walk idx_incidents_group_key over every incident, done ones too).
WAITING = "(stage != 'done' OR resolve_pending = 1)"
_BY_GROUP = "incidents INDEXED BY idx_incidents_work_group"
WAITING_GROUPS_SQL = (  # the waiting groups, one seek each: a skip scan of the group index
    "WITH RECURSIVE waiting(key) AS ("
    f" SELECT (SELECT min(group_key) FROM {_BY_GROUP} WHERE {WAITING})"
    f" UNION ALL SELECT (SELECT min(group_key) FROM {_BY_GROUP} WHERE {WAITING} AND group_key > waiting.key)"
    " FROM waiting WHERE waiting.key IS NOT NULL LIMIT ?)"
    " SELECT key FROM waiting WHERE key IS NOT NULL"
)
UNGROUPED_WAITING_SQL = f"SELECT 1 FROM {_BY_GROUP} WHERE {WAITING} AND group_key IS NULL LIMIT 1"
GROUP_OLDEST_SQL = (
    f"SELECT rowid, id, first_seen FROM {_BY_GROUP} WHERE {WAITING} AND group_key IS ?"
    " ORDER BY first_seen, rowid LIMIT ?"
)
OLDEST_SQL = (
    f"SELECT id, group_key FROM incidents INDEXED BY idx_incidents_work WHERE {WAITING}"
    " ORDER BY first_seen, rowid"
)


def work_ids(db: sqlite_utils.Database, limit: int) -> dict[str, str]:
    """Incidents with a stage left to run or a resolution to deliver, each with its alert group, the
    groups in turn: the oldest of each group, then the second oldest of each, and so on (a storm in one
    group does not push another group's incidents past `limit`). A group key that is NULL reads as "".

    Reads about `limit` rows plus one index seek per waiting group (up to `limit` + 1 of them), whatever
    the backlog: a storm of 100,000 in one group costs what 1,000 do.
    """
    if limit <= 0:
        return {}
    groups: list[str | None] = [row[0] for row in db.conn.execute(WAITING_GROUPS_SQL, (limit + 1,))]
    if db.conn.execute(UNGROUPED_WAITING_SQL).fetchone():
        groups.append(None)
    if len(groups) > limit:
        return _heads(db, limit)
    return _in_turn(db, groups, limit)


def _heads(db: sqlite_utils.Database, limit: int) -> dict[str, str]:
    """More groups wait than `limit` incidents are asked for, so only first turns are taken: the oldest of
    each of the `limit` groups whose oldest came first, read oldest first until that many groups showed."""
    heads: dict[str | None, str] = {}
    rows = db.conn.execute(OLDEST_SQL)
    try:
        for incident_id, group in rows:
            if group not in heads:
                heads[group] = str(incident_id)
                if len(heads) == limit:
                    break
    finally:
        rows.close()  # ends the read at once, not when the cursor is collected
    return {incident_id: group or "" for group, incident_id in heads.items()}


def _in_turn(db: sqlite_utils.Database, groups: Sequence[str | None], limit: int) -> dict[str, str]:
    """Each group's oldest `turns`, with `turns` doubled for the groups that had that many until the rows
    read fill `limit` (every row left unread then comes at a later turn than all of them), ordered by turn
    and age."""
    turns = -(-limit // max(len(groups), 1))
    taken: dict[str | None, list[tuple[int, str, float]]] = {}
    todo = list(groups)
    while todo:
        for group in todo:
            taken[group] = db.conn.execute(GROUP_OLDEST_SQL, (group, turns)).fetchall()
        if sum(len(rows) for rows in taken.values()) >= limit:
            break
        todo = [group for group in todo if len(taken[group]) == turns]
        turns *= 2
    ordered = sorted(
        (turn, first_seen, rowid, str(incident_id), group or "")
        for group, rows in taken.items()
        for turn, (rowid, incident_id, first_seen) in enumerate(rows)
    )
    return {incident_id: group for *_, incident_id, group in ordered[:limit]}


def group_keys(db: sqlite_utils.Database, incident_ids: Iterable[str]) -> dict[str, str]:
    """The alert group of each stored incident among `incident_ids`."""
    rows = _rows_in(db.conn, "SELECT id, group_key FROM incidents WHERE id IN ({marks})", list(incident_ids))
    return {str(incident_id): str(group) for incident_id, group in rows}


def record_stage(
    db: sqlite_utils.Database,
    incident_id: str,
    stage: str,
    outcome: str,
    detail: str,
    started_at: float,
    duration: float,
    next_stage: str,
) -> bool:
    """Store a stage's outcome and advance the incident's checkpoint (call through Store.write).

    False when the checkpoint had moved meanwhile (a newer occurrence superseded the incident): the
    caller stops. An announcement that raced the supersession still gets its resolution delivered.
    """
    db.conn.execute(
        "INSERT INTO stage_results (incident_id, stage, outcome, detail, started_at, duration_seconds)"
        " VALUES (?,?,?,?,?,?)",
        (incident_id, stage, outcome, detail, started_at, duration),
    )
    moved = db.conn.execute(
        "UPDATE incidents SET stage=? WHERE id=? AND stage=?", (next_stage, incident_id, stage)
    ).rowcount
    if not moved and stage == STAGES[0]:
        db.conn.execute(
            "UPDATE incidents SET resolve_pending=1 WHERE id=? AND superseded_by IS NOT NULL", (incident_id,)
        )
    return bool(moved)


# The writers below run inside Store.write's group-committed transaction: no transaction handling here.


def resolve_pending(db: sqlite_utils.Database, incident_id: str) -> bool:
    """True while the incident's resolution has not been handed to delivery yet."""
    row = db.conn.execute("SELECT resolve_pending FROM incidents WHERE id=?", (incident_id,)).fetchone()
    return bool(row and row[0])


def clear_resolve_pending(db: sqlite_utils.Database, incident_id: str) -> None:
    db.conn.execute("UPDATE incidents SET resolve_pending=0 WHERE id=?", (incident_id,))


def save_evidence(db: sqlite_utils.Database, incident_id: str, evidence: Mapping[str, Any]) -> None:
    db.conn.execute("UPDATE incidents SET evidence=? WHERE id=?", (json.dumps(evidence), incident_id))


def load_evidence(db: sqlite_utils.Database, incident_id: str) -> dict[str, Any] | None:
    """The incident's evidence: its own, or that of the incident whose analysis it reused (`evidence_of`:
    a reused analysis is not copied), named after `incident_id` either way."""
    row = db.conn.execute(
        "SELECT COALESCE(i.evidence, s.evidence) FROM incidents i"
        " LEFT JOIN incidents s ON s.id = i.evidence_of WHERE i.id=?",
        (incident_id,),
    ).fetchone()
    if not row or not row[0]:
        return None
    evidence: dict[str, Any] = json.loads(row[0])
    evidence["incident_id"] = incident_id
    return evidence


def link_evidence(db: sqlite_utils.Database, incident_id: str, source_id: str) -> None:
    """`incident_id` reuses the evidence of `source_id` (call through Store.write)."""
    db.conn.execute("UPDATE incidents SET evidence_of=? WHERE id=?", (source_id, incident_id))


def save_diagnosis(
    db: sqlite_utils.Database,
    incident_id: str,
    body: Mapping[str, Any],
    *,
    backend: str,
    category: str,
    confidence: float,
) -> int:
    cur = db.conn.execute(
        "INSERT INTO diagnoses (incident_id, created_at, backend, category, confidence, body)"
        " VALUES (?,?,?,?,?,?)",
        (incident_id, time.time(), backend, category, confidence, json.dumps(body)),
    )
    return int(cur.lastrowid or 0)


def count_open(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("SELECT count(*) FROM incidents WHERE status='firing'").fetchone()[0])


def ping(db: sqlite_utils.Database) -> bool:
    return db.conn.execute("SELECT 1").fetchone()[0] == 1


def superseded_by(db: sqlite_utils.Database, incident_id: str) -> str | None:
    """The newer occurrence that closed the incident when its alert fired again (`_supersede`), if any."""
    row = db.conn.execute("SELECT superseded_by FROM incidents WHERE id=?", (incident_id,)).fetchone()
    return str(row[0]) if row and row[0] else None
