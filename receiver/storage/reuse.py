"""The newest full analysis of each label set, so that an alert firing again soon reuses it.

Evidence is a function of the alert's labels and the time window, so an alert with the same labels that
fires again minutes later would fetch and judge nearly the same data. Every function runs on the Store's
database thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlite_utils


@dataclass(frozen=True)
class StoredAnalysis:
    """An earlier incident's full analysis: its diagnosis as stored (its evidence stays where it is)."""

    incident_id: str
    analysed_at: float
    diagnosis: dict[str, Any]


def labels_key(labels: Mapping[str, str]) -> str:
    """The identity of an alert: its label set (Alertmanager's fingerprint is a hash of the same)."""
    canonical = json.dumps(dict(labels), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def note_analysis(db: sqlite_utils.Database, key: str, incident_id: str, at: float) -> None:
    """Record `incident_id` as the newest full analysis of the label set `key`."""
    db.conn.execute(
        "INSERT INTO recent_analyses (labels_key, incident_id, analysed_at) VALUES (?,?,?)"
        " ON CONFLICT(labels_key) DO UPDATE SET incident_id=excluded.incident_id,"
        " analysed_at=excluded.analysed_at WHERE excluded.analysed_at >= recent_analyses.analysed_at",
        (key, incident_id, at),
    )


def recent_analysis(db: sqlite_utils.Database, key: str, since: float, exclude: str) -> StoredAnalysis | None:
    """The newest full analysis of the label set `key` made at or after `since`, not of `exclude`."""
    row = db.conn.execute(
        "SELECT r.incident_id, r.analysed_at,"
        " (SELECT body FROM diagnoses WHERE incident_id = r.incident_id ORDER BY id DESC LIMIT 1)"
        " FROM recent_analyses r WHERE r.labels_key = ? AND r.analysed_at >= ? AND r.incident_id != ?",
        (key, since, exclude),
    ).fetchone()
    if row is None or not row[2]:
        return None
    return StoredAnalysis(row[0], row[1], json.loads(row[2]))
