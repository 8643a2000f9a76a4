"""Noise control: which notifications to suppress (recorded as `suppressed` rows, never dropped silently).

The verdict on an incident (severity threshold, hourly budget per alertname) is made once and
stored, so all of its events share it. The cooldown applies to diagnoses: the same alertname,
labels and diagnosed category notified less than `cooldown_minutes` ago is suppressed.
Both are pure: the planner reads what they need (`planner.read_snapshot`) and records the verdict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from receiver.delivery.settings import NoiseSettings
from receiver.delivery.severity import severity_at_least
from receiver.delivery.summary import format_duration
from receiver.models import Incident


def verdict(noise: NoiseSettings, incident: Incident, notified_last_hour: int) -> str | None:
    """A new incident's suppression reason, or None to notify."""
    if not severity_at_least(incident.severity, noise.severity_threshold):
        return (
            f"severity {incident.severity!r} is below noise.severity_threshold ({noise.severity_threshold})"
        )
    if noise.max_alerts_per_hour is not None and notified_last_hour >= noise.max_alerts_per_hour:
        return (
            f"{incident.alertname} already notified {notified_last_hour} times in the last hour"
            f" (noise.max_alerts_per_hour={noise.max_alerts_per_hour})"
        )
    return None


def cooldown_reason(noise: NoiseSettings, similar: Mapping[str, Any] | None, now: float) -> str | None:
    """A reason if a similar diagnosis (`similar`: the last live row with its similarity key within the
    cooldown) was notified."""
    if noise.cooldown_minutes <= 0 or similar is None:
        return None
    return (
        f"a similar diagnosis (same alertname, labels and category) was notified "
        f"{format_duration(now - similar['created_at'])} ago for incident {similar['incident_id']}"
        f" (noise.cooldown_minutes={noise.cooldown_minutes:g})"
    )


def repeat_reason(repeat_of: str | None) -> str | None:
    """A reason when the diagnosis repeats an earlier incident's analysis (the same alert fired again
    within pipeline.reuse_analysis_seconds), for the destinations that still show that one's (its open
    Slack thread, its PagerDuty alert while triggered)."""
    if repeat_of is None:
        return None
    return (
        f"the same analysis as incident {repeat_of} (the alert fired again within"
        " pipeline.reuse_analysis_seconds)"
    )
