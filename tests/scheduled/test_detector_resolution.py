"""Which firing detector incidents `resolve_quiet_detector_incidents` closes, on a real SQLite store."""

from __future__ import annotations

from pathlib import Path

from receiver.models import new_incident
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store


def _open(store: Store, rule: str, fingerprint: str, opened: float, source: str = "detector") -> str:
    incident = new_incident(
        fingerprint=fingerprint,
        starts_at=opened - 60,
        ends_at=None,
        labels={"alertname": rule},
        annotations={},
        generator_url="",
        group_key=f"detector:{rule}:{fingerprint}",
        source=source,  # type: ignore[arg-type]
        now=opened,
    )
    assert store.write_sync(db_incidents.create_incident, incident)
    return incident.id


def _status(store: Store, incident_id: str) -> str:
    incident = store.run_sync(db_incidents.get_incident, incident_id)
    assert incident is not None
    return incident.status


def test_only_quiet_incidents_of_evaluated_rules_past_their_cooldown_resolve(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    quiet = _open(store, "latency", "fp-quiet", opened=1_000)
    still_anomalous = _open(store, "latency", "fp-active", opened=1_000)
    too_young = _open(store, "latency", "fp-young", opened=4_500)
    rule_not_run = _open(store, "volume", "fp-volume", opened=1_000)  # its query failed this cycle
    older = _open(store, "pnl", "fp-pnl", opened=1_000)
    newer = _open(store, "pnl", "fp-pnl", opened=3_000)  # a new incident of the same series since

    resolved = store.write_sync(
        db_incidents.resolve_quiet_detector_incidents,
        evaluated_rules=["latency", "pnl"],
        active=["fp-active", "fp-pnl"],
        opened_before=4_000,  # now 5,000, cooldown 1,000 s
        now=5_000,
    )

    assert sorted(resolved) == sorted([quiet, older])
    assert {i: _status(store, i) for i in (still_anomalous, too_young, rule_not_run, newer)} == dict.fromkeys(
        (still_anomalous, too_young, rule_not_run, newer), "firing"
    )
    assert _status(store, quiet) == "resolved" and store.run_sync(db_incidents.resolve_pending, quiet)


def test_alertmanager_incidents_are_never_resolved_by_detection(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.sqlite")
    alert = _open(store, "latency", "fp-alert", opened=1_000, source="alertmanager")
    resolved = store.write_sync(
        db_incidents.resolve_quiet_detector_incidents,
        evaluated_rules=["latency"],
        active=[],
        opened_before=4_000,
        now=5_000,
    )
    assert resolved == [] and _status(store, alert) == "firing"
