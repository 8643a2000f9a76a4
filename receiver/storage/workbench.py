"""Queries of the web workbench: the filtered incident list, full-text search, the overview's aggregates,
the on-demand form's results.

The search index (`incident_search`, SQLite FTS5) is kept by triggers (`workbench_tables.py`), so no
writer has to remember it. Every function runs on the Store's thread.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from receiver.storage import incidents as db_incidents
from receiver.storage.database import fetch_all, fetch_one
from receiver.storage.feedback import incident_exists

KEPT_ONDEMAND_RESULTS = 100  # the form's newest results; older ones also go with storage.retention_days


def fts_query(text: str) -> str | None:
    """A user's words as an FTS5 query: every word must match (prefix match on the last one)."""
    words = re.findall(r"\w+", text)
    if not words:
        return None
    quoted = ['"' + w.replace('"', '""') + '"' for w in words]
    quoted[-1] += "*"
    return " AND ".join(quoted)


@dataclass(frozen=True)
class IncidentFilter:
    """What the list page filters on; empty fields do not filter. `since`/`until` are Unix seconds of the
    alert's start (its `startsAt`), not of when the webhook arrived: a rule's `for:` delays that."""

    status: str | None = None
    severity: str | None = None
    category: str | None = None
    alertname: str | None = None
    since: float | None = None
    until: float | None = None
    text: str | None = None


def filtered_incidents(
    db: sqlite_utils.Database, where: IncidentFilter, *, limit: int = 50, offset: int = 0
) -> list[dict[str, Any]]:
    """One page of incidents, the latest-started first, with the latest diagnosis' headline (one query, no
    JSON; indexed by `migrations._list_by_start`)."""
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (
        ("status", where.status),
        ("severity", where.severity),
        ("alertname", where.alertname),
        ("diagnosis_category", where.category),
    ):
        if value:
            clauses.append(f"{column} = ?")
            params.append(value)
    if where.since is not None:
        clauses.append("starts_at >= ?")
        params.append(where.since)
    if where.until is not None:
        clauses.append("starts_at < ?")
        params.append(where.until)
    match = fts_query(where.text or "")
    if match is not None:
        clauses.append("rowid IN (SELECT rowid FROM incident_search WHERE incident_search MATCH ?)")
        params.append(match)
    return fetch_all(
        db,
        "SELECT id, alertname, severity, status, source, starts_at, ends_at, first_seen, stage,"
        " json_extract(annotations, '$.summary') AS summary, diagnosis_category AS category,"
        " diagnosis_confidence AS confidence, diagnosis_title AS title, diagnosis_suspect AS suspect"
        f" FROM incidents {'WHERE ' + ' AND '.join(clauses) if clauses else ''}"
        " ORDER BY starts_at DESC, id LIMIT ? OFFSET ?",
        [*params, limit, offset],
    )


ALERTNAME_CHOICES = 50  # the alert-name field's suggestions: 20,000 names made the list page 1.3 MB
ALERTNAME_SAMPLE = 5000  # counted among the latest-started incidents: all 100,000 took 9 ms a page


def filter_choices(db: sqlite_utils.Database) -> dict[str, list[str]]:
    """The severities and categories for the filter menus, and the alert names most frequent among the
    latest-started ALERTNAME_SAMPLE incidents (at most ALERTNAME_CHOICES) for the alert-name field's
    suggestions (index-only scans)."""
    return {
        "alertname": _distinct(
            db,
            "SELECT alertname FROM (SELECT alertname FROM incidents INDEXED BY idx_incidents_started"
            f" ORDER BY starts_at DESC, id LIMIT {ALERTNAME_SAMPLE}) WHERE alertname IS NOT NULL"
            f" GROUP BY alertname ORDER BY count(*) DESC, alertname LIMIT {ALERTNAME_CHOICES}",
        ),
        "severity": _distinct(db, "SELECT DISTINCT severity FROM incidents"),
        "category": _distinct(db, "SELECT DISTINCT diagnosis_category FROM incidents"),
    }


def _distinct(db: sqlite_utils.Database, sql: str) -> list[str]:
    return sorted(str(r[0]) for r in db.conn.execute(sql) if r[0])


def incident_page_data(db: sqlite_utils.Database, incident_id: str) -> dict[str, Any] | None:
    """The incident row, every diagnosis (newest first), its stages, deliveries and Alertmanager URL."""
    row = fetch_one(db, "SELECT * FROM incidents WHERE id = ?", [incident_id])
    if row is None:
        return None
    row["labels"] = json.loads(row["labels"] or "{}")
    row["annotations"] = json.loads(row["annotations"] or "{}")
    row["evidence"] = db_incidents.load_evidence(db, incident_id)
    successor = row["superseded_by"]
    row["successor_pruned"] = bool(successor) and not incident_exists(db, successor)
    diagnoses = fetch_all(
        db, "SELECT id, created_at, body FROM diagnoses WHERE incident_id = ? ORDER BY id DESC", [incident_id]
    )
    stages = fetch_all(
        db,
        "SELECT stage, outcome, detail, started_at, duration_seconds FROM stage_results"
        " WHERE incident_id = ? ORDER BY id",
        [incident_id],
    )
    deliveries = fetch_all(
        db,
        "SELECT destination, kind, status, attempts, last_error, result, updated_at FROM delivery_outbox"
        " WHERE incident_id = ? ORDER BY id",
        [incident_id],
    )
    external = db.conn.execute(
        "SELECT json_extract(body, '$.externalURL') FROM notifications WHERE id = ?", [row["notification_id"]]
    ).fetchone()
    return {
        "incident": row,
        "diagnoses": [{**json.loads(d.pop("body")), **d} for d in diagnoses],
        "stages": stages,
        "deliveries": [{**d, "result": json.loads(d["result"]) if d["result"] else None} for d in deliveries],
        "alertmanager_url": external[0] if external else None,
    }


def overview(db: sqlite_utils.Database, since: float) -> dict[str, Any]:
    """Aggregates since `since`: incidents per day, alert-to-diagnosis delays, LLM use, rules, deliveries.
    The incidents per day go by the alert's start (`starts_at`), as the list does: an alert that started
    before midnight and was notified after it (a rule's `for:`) belongs to the day it started."""
    day = "date(i.starts_at, 'unixepoch')"
    return {
        "by_severity": fetch_all(
            db,
            f"SELECT {day} AS day, i.severity AS key, count(*) AS n FROM incidents i"
            " WHERE i.starts_at >= ? GROUP BY 1, 2 ORDER BY 1",
            [since],
        ),
        "by_category": fetch_all(
            db,
            f"SELECT {day} AS day, i.diagnosis_category AS key, count(*) AS n FROM incidents i"
            " WHERE i.starts_at >= ? AND i.diagnosis_category IS NOT NULL GROUP BY 1, 2 ORDER BY 1",
            [since],
        ),
        "delays": [  # (from the alert's start, from the webhook's arrival) to the first diagnosis
            (r[0], r[1])
            for r in db.conn.execute(
                "SELECT first_diagnosed_at - starts_at, first_diagnosed_at - first_seen FROM incidents"
                " WHERE first_seen >= ? AND first_diagnosed_at IS NOT NULL",
                [since],
            )
        ],
        "llm": fetch_all(
            db,
            "SELECT backend, coalesce(model, '-') AS model, count(*) AS calls, sum(tokens_in) AS tokens_in,"
            " sum(tokens_out) AS tokens_out, sum(cost_usd) AS cost_usd, sum(fallback) AS fallbacks,"
            " sum(cached) AS cached FROM diagnoses WHERE created_at >= ? GROUP BY 1, 2 ORDER BY calls DESC",
            [since],
        ),
        "diagnose_outcomes": fetch_all(
            db,
            "SELECT outcome, count(*) AS n FROM stage_results WHERE stage = 'diagnose' AND started_at >= ?"
            " GROUP BY 1 ORDER BY 2 DESC",
            [since],
        ),
        "rule_hits": fetch_all(  # incidents in the window; the last one and its finding of all time
            db,
            "SELECT alertname AS rule, sum(first_seen >= ?) AS hits, max(first_seen) AS last_at,"
            " (SELECT json_extract(annotations, '$.summary') FROM incidents j WHERE j.source = 'detector'"
            "  AND j.alertname = i.alertname ORDER BY first_seen DESC LIMIT 1) AS latest"
            " FROM incidents i WHERE source = 'detector' GROUP BY alertname",
            [since],
        ),
        "delivery_failures": fetch_all(
            db,
            "SELECT destination, kind, incident_id, attempts, last_error, updated_at FROM delivery_outbox"
            " WHERE status = 'failed' ORDER BY updated_at DESC LIMIT 20",
        ),
        "delivery_counts": fetch_all(
            db,
            "SELECT destination, status, count(*) AS n FROM delivery_outbox GROUP BY 1, 2 ORDER BY 1, 2",
        ),
    }


def keep_ondemand_result(
    db: sqlite_utils.Database,
    incident: Mapping[str, Any],
    evidence: Mapping[str, Any],
    diagnosis: Mapping[str, Any],
    created_at: float,
    *,
    keep: int = KEPT_ONDEMAND_RESULTS,
) -> str:
    """Store an ad-hoc diagnosis of the workbench's form (JSON-ready parts), forgetting all but the newest
    `keep`; its id, unguessable (the result shows what was asked about, as an incident page does)."""
    result_id = secrets.token_urlsafe(12)
    db.conn.execute(
        "INSERT INTO ondemand_results (id, created_at, incident, evidence, diagnosis) VALUES (?, ?, ?, ?, ?)",
        (result_id, created_at, json.dumps(incident), json.dumps(evidence), json.dumps(diagnosis)),
    )
    db.conn.execute(
        "DELETE FROM ondemand_results WHERE id NOT IN"
        " (SELECT id FROM ondemand_results ORDER BY created_at DESC, rowid DESC LIMIT ?)",
        (keep,),
    )
    return result_id


def ondemand_result(db: sqlite_utils.Database, result_id: str) -> dict[str, Any] | None:
    """A kept ad-hoc result as `incident_page_data` gives an incident (no stages, deliveries or
    Alertmanager), or None when it is not kept (any more)."""
    row = fetch_one(db, "SELECT * FROM ondemand_results WHERE id = ?", [result_id])
    if row is None:
        return None
    incident = {**json.loads(row["incident"]), "evidence": json.loads(row["evidence"])}
    diagnosis = {**json.loads(row["diagnosis"]), "created_at": row["created_at"]}
    return {
        "incident": incident,
        "diagnoses": [diagnosis],
        "stages": [],
        "deliveries": [],
        "alertmanager_url": None,
    }
