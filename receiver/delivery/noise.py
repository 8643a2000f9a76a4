"""Noise control: which notifications to suppress (recorded as `suppressed` rows, never dropped silently).

The verdict on an incident (severity threshold, hourly budget per alertname) is made once and
stored, so all of its events share it. The cooldown applies to diagnoses: the same alertname,
labels and diagnosed category notified less than `cooldown_minutes` ago is suppressed.
"""

from __future__ import annotations

import sqlite_utils

from receiver.delivery.outbox import FAILED, SUPPRESSED, fetch_one
from receiver.delivery.settings import NoiseSettings
from receiver.delivery.severity import severity_at_least
from receiver.delivery.summary import format_duration
from receiver.models import Incident


def _verdict(db: sqlite_utils.Database, noise: NoiseSettings, incident: Incident, now: float) -> str | None:
    if not severity_at_least(incident.severity, noise.severity_threshold):
        return (
            f"severity {incident.severity!r} is below noise.severity_threshold ({noise.severity_threshold})"
        )
    if noise.max_alerts_per_hour is not None:
        row = fetch_one(
            db,
            "SELECT COUNT(*) AS n FROM delivery_decisions"
            " WHERE alertname=? AND decided_at>? AND suppressed_reason IS NULL",
            [incident.alertname, now - 3600],
        )
        if row and row["n"] >= noise.max_alerts_per_hour:
            return (
                f"{incident.alertname} already notified {row['n']} times in the last hour"
                f" (noise.max_alerts_per_hour={noise.max_alerts_per_hour})"
            )
    return None


def incident_suppression(
    db: sqlite_utils.Database, noise: NoiseSettings, incident: Incident, now: float
) -> str | None:
    """The stored verdict for this incident (made now if new): a suppression reason, or None to notify."""
    row = fetch_one(db, "SELECT suppressed_reason FROM delivery_decisions WHERE incident_id=?", [incident.id])
    if row is not None:
        return str(row["suppressed_reason"]) if row["suppressed_reason"] is not None else None
    reason = _verdict(db, noise, incident, now)
    db.conn.execute(
        "INSERT INTO delivery_decisions (incident_id, alertname, decided_at, suppressed_reason)"
        " VALUES (?, ?, ?, ?)",
        [incident.id, incident.alertname, now, reason],
    )
    return reason


def stored_suppression(db: sqlite_utils.Database, incident_id: str) -> str | None:
    """The verdict made earlier for this incident, without making one (None if never decided)."""
    row = fetch_one(db, "SELECT suppressed_reason FROM delivery_decisions WHERE incident_id=?", [incident_id])
    return None if row is None or row["suppressed_reason"] is None else str(row["suppressed_reason"])


def cooldown_suppression(db: sqlite_utils.Database, noise: NoiseSettings, key: str, now: float) -> str | None:
    """A reason if a similar diagnosis (same similarity key) was notified within the cooldown."""
    if noise.cooldown_minutes <= 0:
        return None
    row = fetch_one(
        db,
        "SELECT incident_id, created_at FROM delivery_outbox WHERE similarity_key=? AND status NOT IN (?, ?)"
        " AND created_at>? ORDER BY id DESC LIMIT 1",
        [key, SUPPRESSED, FAILED, now - noise.cooldown_minutes * 60],
    )
    if row is None:
        return None
    return (
        f"a similar diagnosis (same alertname, labels and category) was notified "
        f"{format_duration(now - row['created_at'])} ago for incident {row['incident_id']}"
        f" (noise.cooldown_minutes={noise.cooldown_minutes:g})"
    )
