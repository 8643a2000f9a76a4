"""DDL of the web workbench: list indexes, the latest diagnosis' headline on its incident, FTS5 search.

Everything is kept by triggers, so no writer has to remember it:
- a new diagnosis copies its headline (category, confidence, title, suspect, time) onto the incident and
  its accounting (model, tokens, cost, fallback) into columns of its own row, so the list and the
  overview never parse diagnosis JSON;
- `incident_search` holds one document per incident (rowid = the incident's rowid): the alert's name,
  labels and annotations, plus the latest diagnosis' category, summary, title and suspect.

`ondemand_results` keeps the ad-hoc diagnoses the workbench's form ran (an ad-hoc alert has no incident
row), so the page its redirect opens is there after a restart and on every replica.
"""

from __future__ import annotations

import sqlite_utils

INCIDENT_COLUMNS = {
    "diagnosis_category": "TEXT",
    "diagnosis_confidence": "REAL",
    "diagnosis_title": "TEXT",
    "diagnosis_suspect": "TEXT",
    "diagnosed_at": "REAL",
    "first_diagnosed_at": "REAL",
}
DIAGNOSIS_COLUMNS = {
    "model": "TEXT",
    "tokens_in": "INTEGER",
    "tokens_out": "INTEGER",
    "cost_usd": "REAL",
    "fallback": "INTEGER",
    "cached": "INTEGER",
}
# Newest first under each filter; the first also covers the overview's aggregates (rows are large).
LIST_INDEXES = {
    "idx_incidents_first_seen": "first_seen, severity, diagnosis_category, starts_at, first_diagnosed_at",
    "idx_incidents_status_first_seen": "status, first_seen",
    "idx_incidents_severity_first_seen": "severity, first_seen",
    "idx_incidents_alertname_first_seen": "alertname, first_seen",
    "idx_incidents_category_first_seen": "diagnosis_category, first_seen",
    "idx_incidents_source_alertname": "source, alertname",
}
INCIDENT_SEARCH_DDL = "CREATE VIRTUAL TABLE incident_search USING fts5(body)"
_INCIDENT_TEXT = (
    "coalesce(i.alertname, '') || ' ' || coalesce(i.labels, '') || ' ' || coalesce(i.annotations, '')"
)
_DIAGNOSIS_TEXT = (
    "coalesce({d}.category, '') || ' ' || coalesce(json_extract({d}.body, '$.executive_summary'), '')"
    " || ' ' || coalesce(json_extract({d}.body, '$.primary_hypothesis.title'), '')"
    " || ' ' || coalesce(json_extract({d}.body, '$.primary_hypothesis.suspect'), '')"
)
_HEADLINE = (
    "diagnosis_category = {d}.category, diagnosis_confidence = {d}.confidence,"
    " diagnosis_title = json_extract({d}.body, '$.primary_hypothesis.title'),"
    " diagnosis_suspect = json_extract({d}.body, '$.primary_hypothesis.suspect'),"
    " diagnosed_at = {d}.created_at, first_diagnosed_at = coalesce(first_diagnosed_at, {d}.created_at)"
)
_ACCOUNTING = (
    "model = json_extract(body, '$.llm_model_used'), tokens_in = json_extract(body, '$.tokens_in'),"
    " tokens_out = json_extract(body, '$.tokens_out'), cost_usd = json_extract(body, '$.cost_usd'),"
    " fallback = json_extract(body, '$.fallback_reason') IS NOT NULL, cached = json_extract(body, '$.cached')"
)


def migrate_workbench(db: sqlite_utils.Database) -> None:
    """Add the columns, indexes, search table and triggers, and fill them from the rows already stored."""
    for column, kind in INCIDENT_COLUMNS.items():
        db.execute(f"ALTER TABLE incidents ADD COLUMN {column} {kind}")
    for column, kind in DIAGNOSIS_COLUMNS.items():
        db.execute(f"ALTER TABLE diagnoses ADD COLUMN {column} {kind}")
    for name, columns in LIST_INDEXES.items():
        db.execute(f"CREATE INDEX {name} ON incidents ({columns})")
    db.execute(
        "CREATE INDEX idx_diagnoses_accounting ON diagnoses"
        " (created_at, backend, model, tokens_in, tokens_out, cost_usd, fallback, cached)"
    )
    db.execute(INCIDENT_SEARCH_DDL)
    db.execute(
        "CREATE TRIGGER incident_search_new AFTER INSERT ON incidents BEGIN"
        " INSERT INTO incident_search (rowid, body) SELECT i.rowid, "
        + _INCIDENT_TEXT
        + " FROM incidents i WHERE i.rowid = new.rowid; END"
    )
    db.execute(
        "CREATE TRIGGER diagnosis_headline AFTER INSERT ON diagnoses BEGIN"
        f" UPDATE diagnoses SET {_ACCOUNTING} WHERE id = new.id;"
        f" UPDATE incidents SET {_HEADLINE.format(d='new')} WHERE id = new.incident_id;"
        " DELETE FROM incident_search WHERE rowid = (SELECT rowid FROM incidents WHERE id = new.incident_id);"
        " INSERT INTO incident_search (rowid, body) SELECT i.rowid, "
        + _INCIDENT_TEXT
        + " || ' ' || "
        + _DIAGNOSIS_TEXT.format(d="new")
        + " FROM incidents i WHERE i.id = new.incident_id; END"
    )
    _backfill(db)


def _backfill(db: sqlite_utils.Database) -> None:
    latest = "d.id = (SELECT max(id) FROM diagnoses WHERE incident_id = incidents.id)"
    db.execute(f"UPDATE diagnoses SET {_ACCOUNTING}")
    db.execute(
        "UPDATE incidents SET (diagnosis_category, diagnosis_confidence, diagnosis_title,"
        " diagnosis_suspect, diagnosed_at) = (SELECT d.category, d.confidence,"
        " json_extract(d.body, '$.primary_hypothesis.title'),"
        " json_extract(d.body, '$.primary_hypothesis.suspect'), d.created_at"
        f" FROM diagnoses d WHERE {latest}),"
        " first_diagnosed_at = (SELECT min(created_at) FROM diagnoses WHERE incident_id = incidents.id)"
    )
    fill_incident_search(db)


def fill_incident_search(db: sqlite_utils.Database) -> None:
    """One search document per incident, from the incidents and their latest diagnoses (an empty index)."""
    db.execute(
        "INSERT INTO incident_search (rowid, body) SELECT i.rowid, "
        + _INCIDENT_TEXT
        + " || ' ' || coalesce((SELECT "
        + _DIAGNOSIS_TEXT.format(d="d")
        + " FROM diagnoses d WHERE d.id = (SELECT max(id) FROM diagnoses WHERE incident_id = i.id)), '')"
        " FROM incidents i"
    )


def migrate_ondemand_results(db: sqlite_utils.Database) -> None:
    """The workbench form's ad-hoc results: its incident, evidence and diagnosis as JSON, by an unguessable
    id (they were kept in memory: a restart, or a second replica, answered the form's redirect with 404)."""
    db.execute(
        "CREATE TABLE ondemand_results (id TEXT PRIMARY KEY, created_at REAL NOT NULL,"
        " incident TEXT NOT NULL, evidence TEXT NOT NULL, diagnosis TEXT NOT NULL)"
    )
