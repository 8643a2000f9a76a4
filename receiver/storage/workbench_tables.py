"""DDL of the web workbench: indexes for the incident list's filters and the FTS5 search table."""

from __future__ import annotations

import sqlite_utils

_INCIDENT_TEXT = (
    "coalesce(new.alertname, '') || ' ' || coalesce(new.labels, '') || ' ' || coalesce(new.annotations, '')"
)
_DIAGNOSIS_TEXT = (
    "coalesce(new.category, '') || ' ' || coalesce(json_extract(new.body, '$.executive_summary'), '')"
    " || ' ' || coalesce(json_extract(new.body, '$.primary_hypothesis.title'), '')"
    " || ' ' || coalesce(json_extract(new.body, '$.primary_hypothesis.suspect'), '')"
)


def migrate_workbench(db: sqlite_utils.Database) -> None:
    """Indexes for the list's filters (newest first) and the FTS5 search table with its triggers."""
    for column in ("first_seen", "status, first_seen", "severity, first_seen", "alertname, first_seen"):
        name = "idx_incidents_wb_" + column.replace(", ", "_")
        db.execute(f"CREATE INDEX {name} ON incidents ({column})")
    db.execute("CREATE INDEX idx_diagnoses_category ON diagnoses (category, incident_id)")
    db.execute("CREATE INDEX idx_diagnoses_created ON diagnoses (created_at)")
    db.execute("CREATE VIRTUAL TABLE incident_search USING fts5(incident_id UNINDEXED, body)")
    db.execute(
        "CREATE TRIGGER incident_search_incident AFTER INSERT ON incidents BEGIN"
        f" INSERT INTO incident_search (incident_id, body) VALUES (new.id, {_INCIDENT_TEXT}); END"
    )
    db.execute(
        "CREATE TRIGGER incident_search_diagnosis AFTER INSERT ON diagnoses BEGIN"
        f" INSERT INTO incident_search (incident_id, body) VALUES (new.incident_id, {_DIAGNOSIS_TEXT}); END"
    )
    db.execute(
        "INSERT INTO incident_search (incident_id, body) SELECT id, "
        + _INCIDENT_TEXT.replace("new.", "")
        + " FROM incidents"
    )
    db.execute(
        "INSERT INTO incident_search (incident_id, body) SELECT incident_id, "
        + _DIAGNOSIS_TEXT.replace("new.", "")
        + " FROM diagnoses"
    )
