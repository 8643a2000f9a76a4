"""Noise control: which notifications to suppress (recorded as `suppressed` rows, never dropped silently).

The verdict on an incident (severity threshold, hourly budget per alertname) is made once and
stored, so all of its events share it. The cooldown applies to diagnoses: the same alertname,
labels and diagnosed category notified less than `cooldown_minutes` ago is suppressed.
"""

from __future__ import annotations

import sqlite_utils

from receiver.delivery.settings import NoiseSettings
from receiver.delivery.severity import severity_at_least
from receiver.delivery.summary import format_duration
from receiver.models import Incident
from receiver.storage import outbox as db_outbox


def _verdict(db: sqlite_utils.Database, noise: NoiseSettings, incident: Incident, now: float) -> str | None:
    if not severity_at_least(incident.severity, noise.severity_threshold):
        return (
            f"severity {incident.severity!r} is below noise.severity_threshold ({noise.severity_threshold})"
        )
    if noise.max_alerts_per_hour is not None:
        count = db_outbox.notified_since(db, incident.alertname, now - 3600)
        if count >= noise.max_alerts_per_hour:
            return (
                f"{incident.alertname} already notified {count} times in the last hour"
                f" (noise.max_alerts_per_hour={noise.max_alerts_per_hour})"
            )
    return None


def incident_suppression(
    db: sqlite_utils.Database, noise: NoiseSettings, incident: Incident, now: float
) -> str | None:
    """The stored verdict for this incident (made now if new): a suppression reason, or None to notify."""
    decided, reason = db_outbox.stored_decision(db, incident.id)
    if decided:
        return reason
    reason = _verdict(db, noise, incident, now)
    db_outbox.record_decision(db, incident.id, incident.alertname, now, reason)
    return reason


def stored_suppression(db: sqlite_utils.Database, incident_id: str) -> str | None:
    """The verdict made earlier for this incident, without making one (None if never decided)."""
    return db_outbox.stored_decision(db, incident_id)[1]


def cooldown_suppression(db: sqlite_utils.Database, noise: NoiseSettings, key: str, now: float) -> str | None:
    """A reason if a similar diagnosis (same similarity key) was notified within the cooldown."""
    if noise.cooldown_minutes <= 0:
        return None
    row = db_outbox.last_similar(db, key, now - noise.cooldown_minutes * 60)
    if row is None:
        return None
    return (
        f"a similar diagnosis (same alertname, labels and category) was notified "
        f"{format_duration(now - row['created_at'])} ago for incident {row['incident_id']}"
        f" (noise.cooldown_minutes={noise.cooldown_minutes:g})"
    )
