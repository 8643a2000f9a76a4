"""Retention: incidents resolved before the cut go with every row keyed by them; what is still referenced,
judged or firing stays; the prune runs in bounded batches inside the running receiver."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

from analyst.memory import EvidenceSignature
from analyst.schema import diagnosis_to_dict
from receiver.metrics import create_metrics
from receiver.payload import parse_webhook
from receiver.pipeline import retention as pipeline_retention
from receiver.pipeline.retention import DAY_SECONDS, RetentionPruner
from receiver.storage import incidents as db_incidents
from receiver.storage import outbox
from receiver.storage.database import Store, fetch_all
from receiver.storage.feedback import Feedback, record_feedback
from receiver.storage.memory import index_text, save_signature
from receiver.storage.retention import (
    EXPIRED_INCIDENTS_SQL,
    prune_before,
    prune_incident_batch,
    prune_notification_batch,
)
from receiver.storage.reuse import note_analysis
from receiver.storage.workbench import IncidentFilter, filtered_incidents
from receiver.testing import complete_stages, drain
from receiver.web.keys import MATERIALIZER, RETENTION, STORE
from tests.delivery.builders import make_diagnosis

from .conftest import ClientFactory

NOW = float(int(time.time()))  # whole seconds: webhook times keep milliseconds
OLD = NOW - 120 * DAY_SECONDS  # beyond the default 90 days
RECENT = NOW - 10 * DAY_SECONDS


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f".{int(at % 1 * 1000):03d}Z"


def webhook(name: str, starts: float, ends: float | None = None, instance: str = "web-1") -> bytes:
    """An Alertmanager notification with one alert, resolved at `ends` if given."""
    status = "firing" if ends is None else "resolved"
    labels = {"alertname": name, "instance": instance, "severity": "warning"}
    alert = {
        "status": status,
        "labels": labels,
        "annotations": {"summary": f"{name} summary words"},
        "startsAt": iso(starts),
        "endsAt": iso(ends) if ends is not None else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.local/graph",
        "fingerprint": f"{name}-{instance}",
    }
    return json.dumps(
        {
            "version": "4",
            "groupKey": f'{{}}:{{alertname="{name}"}}',
            "truncatedAlerts": 0,
            "status": status,
            "receiver": "alert-analyst",
            "groupLabels": {"alertname": name},
            "commonLabels": labels,
            "commonAnnotations": {},
            "externalURL": "http://alertmanager.local",
            "alerts": [alert],
        }
    ).encode()


def ingest(store: Store, body: bytes, at: float) -> db_incidents.IngestResult:
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(body), body, at)


def finished_incident(
    store: Store, name: str, ended: float, instance: str = "web-1", opens_thread: bool = True
) -> str:
    """An incident that fired, was analysed and delivered, and resolved at `ended`: a row in every table
    keyed by incident id, written through the storage functions the pipeline and delivery use."""
    starts = ended - 600
    (incident_id,) = ingest(store, webhook(name, starts, instance=instance), starts).created
    ingest(store, webhook(name, starts, ended, instance), ended)
    incident = store.run_sync(db_incidents.get_incident, incident_id)
    assert incident is not None

    def analysed(db: Any) -> None:
        complete_stages(db, incident_id, starts)
        db_incidents.save_evidence(db, incident_id, {"series": [], "note": f"evidence of {name}"})
        diagnosis_id = db_incidents.save_diagnosis(
            db,
            incident_id,
            {"executive_summary": f"{name} diagnosis"},
            backend="builtin",
            category="saturation",
            confidence=0.7,
        )
        save_signature(
            db,
            incident_id,
            EvidenceSignature(name, f"{name}{{}}", ("db|level|up",)),
            diagnosis_id=diagnosis_id,
            category="saturation",
            suspect="db",
            now=ended,
        )
        index_text(db, incident_id, f"{name} alert text", "saturation diagnosis")
        note_analysis(db, f"labels-{incident_id}", incident_id, starts)
        row = outbox.NewDelivery(
            incident_id, incident.group_key, "slack", "slack", "announce", {}, status="sent"
        )
        parent = outbox.insert_delivery(db, row, starts)
        outbox.join_group(db, incident_id, incident.group_key, starts, None)
        outbox.resolve_member(db, incident_id, ended)
        outbox.record_decision(db, incident_id, name, starts, None)
        outbox.record_annotation(db, incident_id, parent, 7, starts)
        if opens_thread:
            outbox.save_thread(
                db,
                {
                    "group_key": incident.group_key,
                    "incident_id": incident_id,
                    "channel": "C1",
                    "parent_delivery_id": parent,
                    "alertname": name,
                    "severity": "warning",
                    "summary": "",
                    "opened_at": starts,
                },
            )
            outbox.close_thread(db, incident.group_key, ended)

    store.write_sync(analysed)
    return incident_id


def rows_of(store: Store, incident_id: str) -> dict[str, int]:
    """How many rows each incident-keyed table holds for `incident_id`."""

    def count(db: Any) -> dict[str, int]:
        tables = [
            "incidents",
            "stage_results",
            "diagnoses",
            "incident_signatures",
            "delivery_outbox",
            "delivery_group_members",
            "delivery_decisions",
            "grafana_annotations",
            "recent_analyses",
            "slack_threads",
        ]
        counts = {
            t: db.conn.execute(
                f"SELECT count(*) FROM {t} WHERE {'id' if t == 'incidents' else 'incident_id'} = ?",
                (incident_id,),
            ).fetchone()[0]
            for t in tables
        }
        counts["incident_text"] = db.conn.execute(
            "SELECT count(*) FROM incident_text WHERE incident_id = ?", (incident_id,)
        ).fetchone()[0]
        return counts

    return store.run_sync(count)


def prune(store: Store, now: float = NOW, days: float = 90.0) -> dict[str, int]:
    async def run() -> dict[str, int]:
        return await RetentionPruner(store, days, create_metrics()).prune_once(now)

    return asyncio.run(run())


def search_ids(store: Store, text: str) -> list[str]:
    return [r["id"] for r in store.run_sync(filtered_incidents, IncidentFilter(text=text))]


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "retention.db")


def test_an_old_resolved_incident_goes_with_every_row_keyed_by_it(store: Store) -> None:
    old = finished_incident(store, "DiskFull", OLD)
    recent = finished_incident(store, "CpuHigh", RECENT)
    assert all(rows_of(store, old).values()) and all(rows_of(store, recent).values())

    deleted = prune(store)

    assert rows_of(store, old) == dict.fromkeys(rows_of(store, old), 0)
    assert all(rows_of(store, recent).values())
    assert deleted["incidents"] == 1 and deleted["notifications"] == 2  # its firing and resolved webhooks
    bodies = store.run_sync(fetch_all, "SELECT received_at FROM notifications")
    assert [b["received_at"] for b in bodies] == [RECENT - 600, RECENT]


def test_firing_incidents_are_kept_however_old(store: Store) -> None:
    (firing,) = ingest(store, webhook("StillBurning", OLD - 600), OLD - 600).created

    assert prune(store).get("incidents", 0) == 0
    assert rows_of(store, firing)["incidents"] == 1
    assert store.run_sync(fetch_all, "SELECT id FROM notifications") != []  # it was created by that body


def test_an_alert_that_ended_long_ago_but_arrived_recently_is_kept(store: Store) -> None:
    # a replayed (or long-delayed) notification: the alert ended 120 days ago, the receiver heard of it
    # 10 days ago; retention counts from when it was last heard of, not only from its end
    (replayed,) = ingest(store, webhook("Replayed", OLD - 600), RECENT - 600).created
    ingest(store, webhook("Replayed", OLD - 600, OLD), RECENT)

    def analysed(db: Any) -> None:
        complete_stages(db, replayed, RECENT)

    store.write_sync(analysed)
    assert prune(store).get("incidents", 0) == 0
    assert rows_of(store, replayed)["incidents"] == 1


def test_a_judged_incident_keeps_its_diagnosis_and_evidence(store: Store) -> None:
    judged = finished_incident(store, "DiskFull", OLD)
    store.write_sync(record_feedback, judged, Feedback(who="ana", verdict="correct"), NOW)

    prune(store)

    kept = rows_of(store, judged)
    assert kept["incidents"] == kept["diagnoses"] == kept["incident_signatures"] == 1
    assert store.run_sync(db_incidents.load_evidence, judged) is not None


def test_an_evidence_source_stays_while_a_kept_incident_refers_to_it(store: Store) -> None:
    source = finished_incident(store, "DiskFull", OLD, instance="a")
    reuser = finished_incident(store, "DiskFull", RECENT, instance="b")
    store.write_sync(db_incidents.link_evidence, reuser, source)

    prune(store)
    assert rows_of(store, source)["incidents"] == 1
    evidence = store.run_sync(db_incidents.load_evidence, reuser)
    assert evidence is not None and evidence["note"] == "evidence of DiskFull"

    later = RECENT + 91 * DAY_SECONDS  # both expired: the referrer goes first, its source at the next prune
    prune(store, now=later)
    assert rows_of(store, reuser)["incidents"] == 0 and rows_of(store, source)["incidents"] == 1
    prune(store, now=later)
    assert rows_of(store, source)["incidents"] == 0


def test_a_stored_body_stays_while_a_kept_resend_refers_to_it(store: Store) -> None:
    body = webhook("DiskFull", OLD - 1200, OLD - 900)
    original = store.write_sync(
        db_incidents.accept_notification, parse_webhook(body), body, OLD - 900, pending=False
    )
    head = db_incidents.NotificationHead.of(parse_webhook(body))
    resend = store.write_sync(
        db_incidents.accept_resend, original, head, db_incidents.body_digest(body), RECENT
    )
    store.write_sync(lambda db: db.conn.execute("UPDATE notifications SET pending = 0"))

    prune(store)
    assert [r["id"] for r in store.run_sync(fetch_all, "SELECT id FROM notifications")] == [original, resend]

    prune(store, now=RECENT + 91 * DAY_SECONDS)
    assert store.run_sync(fetch_all, "SELECT id FROM notifications") == []


def test_the_body_walk_stops_at_the_first_body_received_after_the_cut(store: Store) -> None:
    def body(at: float) -> int:
        data = webhook("DiskFull", at - 60, at)
        return store.write_sync(
            db_incidents.accept_notification, parse_webhook(data), data, at, pending=False
        )

    first, second = body(OLD), body(OLD + 1)
    body(RECENT)
    late_old = body(OLD + 2)  # stored after a recent one (a replay): left for a later prune
    cut = NOW - 90 * DAY_SECONDS

    batch = store.write_sync(prune_notification_batch, cut, 0, 1)
    assert batch.deleted == {"notifications": 1} and batch.resume_after == first
    batch = store.write_sync(prune_notification_batch, cut, first, 10)
    assert batch.deleted == {"notifications": 1} and batch.resume_after is None
    left = [r["id"] for r in store.run_sync(fetch_all, "SELECT id FROM notifications")]
    assert second not in left and late_old in left


def test_batches_are_bounded(store: Store) -> None:
    ids = {finished_incident(store, f"Alert{n}", OLD + n) for n in range(7)}

    async def batches() -> list[dict[str, int]]:
        return [dict(d) async for d in prune_before(store, NOW - 90 * DAY_SECONDS, incident_batch=3)]

    incident_counts = [b["incidents"] for b in asyncio.run(batches()) if "incidents" in b]
    assert incident_counts == [3, 3, 1]
    assert all(rows_of(store, i)["incidents"] == 0 for i in ids)


def test_a_batch_resumes_after_the_last_incident_it_deleted(store: Store) -> None:
    first, second = finished_incident(store, "A", OLD), finished_incident(store, "B", OLD + 5)
    cut = NOW - 90 * DAY_SECONDS

    batch = store.write_sync(prune_incident_batch, cut, (float("-inf"), ""), 1)
    assert batch.deleted["incidents"] == 1 and batch.resume_after == (OLD, first)
    assert rows_of(store, second)["incidents"] == 1
    assert store.write_sync(prune_incident_batch, cut, batch.resume_after, 1).resume_after == (
        OLD + 5,
        second,
    )


def test_a_slack_thread_stays_while_its_group_has_incidents(store: Store) -> None:
    opener = finished_incident(store, "DiskFull", OLD, instance="a")
    finished_incident(store, "DiskFull", RECENT, instance="b", opens_thread=False)  # same alert group
    threads = "SELECT incident_id FROM slack_threads"

    prune(store)
    assert rows_of(store, opener)["incidents"] == 0
    assert store.run_sync(fetch_all, threads) == [{"incident_id": opener}]

    prune(store, now=RECENT + 91 * DAY_SECONDS)
    assert store.run_sync(fetch_all, threads) == []


def test_retention_zero_prunes_nothing(store: Store) -> None:
    old = finished_incident(store, "DiskFull", OLD - 3650 * DAY_SECONDS)

    assert prune(store, days=0) == {}
    assert all(rows_of(store, old).values())


def test_an_unfinished_delivery_keeps_its_incident(store: Store) -> None:
    waiting = finished_incident(store, "DiskFull", OLD)
    row = outbox.NewDelivery(waiting, "", "pagerduty", "pagerduty", "resolve", {})
    store.write_sync(outbox.insert_delivery, row, NOW)

    prune(store)
    assert rows_of(store, waiting)["incidents"] == 1


def test_search_no_longer_finds_a_pruned_incident(store: Store) -> None:
    finished_incident(store, "CpuHigh", RECENT)
    pruned = finished_incident(store, "Zanzibar", OLD)  # the newest rowid: the next incident reuses it
    assert search_ids(store, "Zanzibar") == [pruned]

    prune(store)
    newcomer = finished_incident(store, "Other", RECENT + 1)

    assert search_ids(store, "Zanzibar") == []
    assert search_ids(store, "Other") == [newcomer]
    texts = store.run_sync(fetch_all, "SELECT incident_id FROM incident_text ORDER BY rowid")
    assert pruned not in {t["incident_id"] for t in texts}


async def test_the_receiver_prunes_after_start_and_exposes_its_metrics(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path / "aa.db")
    old, recent = finished_incident(store, "DiskFull", OLD), finished_incident(store, "CpuHigh", RECENT)
    store.close()
    monkeypatch.setattr(pipeline_retention, "START_DELAY_SECONDS", 0.0)

    client = await make_client(storage={"path": str(tmp_path / "aa.db"), "retention_days": 90})
    running = client.app[STORE]

    async def gone() -> bool:
        return not await running.read(fetch_all, "SELECT id FROM incidents WHERE id = ?", [old])

    deadline = time.monotonic() + 10
    while not await gone():
        assert time.monotonic() < deadline, "the old incident was not pruned after start"
        await asyncio.sleep(0.05)
    assert await running.read(db_incidents.get_incident, recent) is not None
    metrics = await (await client.get("/metrics")).text()
    assert 'alert_analyst_retention_deleted_total{table="incidents"} 1.0' in metrics
    last = next(
        line
        for line in metrics.splitlines()
        if line.startswith("alert_analyst_retention_last_prune_timestamp")
    )
    assert float(last.split()[-1]) > NOW - 60


async def test_a_kept_incident_whose_successor_was_pruned_still_renders(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    store = Store(tmp_path / "aa.db")
    (older,) = ingest(store, webhook("DiskFull", OLD - 7200), OLD - 7200).created
    diagnosis = make_diagnosis(incident_id=older)  # only a diagnosed incident can be judged
    store.write_sync(
        db_incidents.save_diagnosis,
        older,
        diagnosis_to_dict(diagnosis),
        backend="builtin",
        category=diagnosis.primary_hypothesis.category.value,
        confidence=diagnosis.primary_hypothesis.confidence,
    )
    store.write_sync(record_feedback, older, Feedback(who="ana", verdict="wrong", note="disk"), OLD)
    successor = finished_incident(store, "DiskFull", OLD)  # a newer start of the same alert supersedes it
    incident = store.run_sync(db_incidents.get_incident, older)
    assert incident is not None and incident.status == "resolved"
    await RetentionPruner(store, 90, create_metrics()).prune_once(NOW)
    store.close()

    client = await make_client(storage={"path": str(tmp_path / "aa.db")})

    api = await client.get(f"/api/v1/incidents/{older}")
    assert api.status == 200
    assert (await api.json())["incident"]["superseded_by"] == successor
    page = await client.get(f"/ui/incidents/{older}")
    html = await page.text()
    assert page.status == 200 and older in html
    assert f"<code>{successor}</code> (deleted by retention)" in html
    assert f'href="/ui/incidents/{successor}"' not in html
    assert (await client.get(f"/api/v1/incidents/{successor}")).status == 404


def test_expired_incidents_are_found_through_an_index_range(store: Store) -> None:
    plan = " ".join(
        str(row)
        for row in store.run_sync(
            lambda db: db.conn.execute(
                "EXPLAIN QUERY PLAN " + EXPIRED_INCIDENTS_SQL, (NOW, 0.0, 0.0, "", 10)
            ).fetchall()
        )
    )
    assert "idx_incidents_resolved_end (<expr>>? AND <expr><?)" in plan


async def test_a_resend_after_a_prune_is_stored_again_not_answered_from_a_deleted_row(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """The webhook's cache of recent bodies outlived the prune: a byte-identical re-send was answered from
    it, stored as a copy (`same_as`) of a notification retention had deleted, and then dropped as
    unparseable: 200, and no incident."""
    client = await make_client(storage={"path": str(tmp_path / "aa.db"), "retention_days": 90})
    store = client.app[STORE]
    body = webhook("DiskFull", NOW - 600)
    headers = {"Content-Type": "application/json"}
    first = await client.post("/webhook/alertmanager", data=body, headers=headers)
    assert first.status == 200
    await drain(client.app[MATERIALIZER], 10)
    resolved = webhook("DiskFull", NOW - 600, NOW - 300)
    assert (await client.post("/webhook/alertmanager", data=resolved, headers=headers)).status == 200
    await drain(client.app[MATERIALIZER], 10)
    for row in await store.read(fetch_all, "SELECT id FROM incidents", []):
        await store.write(complete_stages, row["id"], NOW)

    deleted = await client.app[RETENTION].prune_once(NOW + 100 * DAY_SECONDS)
    assert deleted.get("notifications") and deleted.get("incidents")
    again = await client.post("/webhook/alertmanager", data=body, headers=headers)
    assert again.status == 200
    await drain(client.app[MATERIALIZER], 10)
    rows = await store.read(fetch_all, "SELECT id, status FROM incidents", [])
    assert [r["status"] for r in rows] == ["firing"], rows
    assert not await store.read(fetch_all, "SELECT id FROM notifications WHERE pending = 1", [])
