"""Incidents are alert occurrences: re-sends never duplicate them or re-trigger work; resolve closes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from receiver.payload import parse_webhook
from receiver.pipeline.workers import StageContext, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import fetch_all
from receiver.testing import drain, wait_idle
from receiver.web import webhook
from receiver.web.keys import MATERIALIZER, PIPELINE, STORE
from receiver.web.resends import RecentBodies, accepted
from receiver.web.resources import PipelineParts as Components

from .conftest import ClientFactory

FIRING = "captured-am025-prom242-firing.json"
RESOLVED = "captured-am025-prom242-resolved.json"


def counting_components(calls: list[tuple[str, str]], resolved: list[str]) -> Any:
    async def factory(app: Any, settings: Any, store: Any) -> Components:
        def stage(name: str) -> Any:
            async def run(ctx: StageContext) -> StageOutcome:
                calls.append((ctx.incident.id, name))
                return StageOutcome("ok")

            return run

        async def on_resolved(incident: Any) -> None:
            resolved.append(incident.id)

        names = ("announce", "collect_evidence", "detect", "diagnose", "deliver")
        return Components(stages={n: stage(n) for n in names}, on_resolved=on_resolved)

    return factory


async def post(client: Any, data: bytes) -> Any:
    return await client.post("/webhook/alertmanager", data=data, headers={"Content-Type": "application/json"})


async def test_same_payload_five_times_gives_one_incident_per_alert(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    calls: list[tuple[str, str]] = []
    client = await make_client(counting_components(calls, []))
    data = (webhook_corpus / FIRING).read_bytes()
    answers = [await (await post(client, data)).json() for _ in range(5)]
    assert len(answers[0]["incidents"]) == 2
    assert all(sorted(a["incidents"]) == sorted(answers[0]["incidents"]) for a in answers)
    await wait_idle(client.app[PIPELINE])
    listing = await (await client.get("/api/v1/incidents")).json()
    assert sorted(i["id"] for i in listing["incidents"]) == sorted(answers[0]["incidents"])
    metrics = await (await client.get("/metrics")).text()
    assert 'alert_analyst_incidents_created_total{source="alertmanager"} 2.0' in metrics
    # Each stage ran exactly once per incident despite five deliveries.
    assert len(calls) == 2 * 5
    assert len(set(calls)) == len(calls)


async def test_resend_updates_last_seen(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    data = (webhook_corpus / FIRING).read_bytes()
    first = await (await post(client, data)).json()
    await drain(client.app[MATERIALIZER], 10)
    await post(client, data)
    await drain(client.app[MATERIALIZER], 10)
    detail = await (await client.get(f"/api/v1/incidents/{first['incidents'][0]}")).json()
    assert detail["incident"]["last_seen"] > detail["incident"]["first_seen"]


async def test_resolved_alert_closes_its_incident_once(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    resolved: list[str] = []
    client = await make_client(counting_components([], resolved))
    first = await (await post(client, (webhook_corpus / FIRING).read_bytes())).json()
    for _ in range(3):
        await post(client, (webhook_corpus / RESOLVED).read_bytes())
    await wait_idle(client.app[PIPELINE])
    assert sorted(resolved) == sorted(first["incidents"])
    detail = await (await client.get(f"/api/v1/incidents/{first['incidents'][0]}")).json()
    assert detail["incident"]["status"] == "resolved"
    assert detail["incident"]["ends_at"] == 1795550422.42
    assert [e["status"] for e in detail["events"]] == ["firing", "resolved"]


async def test_refire_with_new_starts_at_is_a_new_incident(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    data = json.loads((webhook_corpus / FIRING).read_bytes())
    first = await (await post(client, json.dumps(data).encode())).json()
    for alert in data["alerts"]:
        alert["startsAt"] = "2026-11-24T21:00:00Z"
    second = await (await post(client, json.dumps(data).encode())).json()
    assert set(second["incidents"]).isdisjoint(first["incidents"])
    await drain(client.app[MATERIALIZER], 10)
    listing = await (await client.get("/api/v1/incidents")).json()
    assert {i["id"] for i in listing["incidents"]} == {*first["incidents"], *second["incidents"]}


async def test_raw_notification_and_group_key_are_retained(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    data = (webhook_corpus / FIRING).read_bytes()
    answer = await (await post(client, data)).json()
    await drain(client.app[MATERIALIZER], 10)
    detail = await (await client.get(f"/api/v1/incidents/{answer['incidents'][0]}")).json()
    assert detail["incident"]["group_key"] == '{}:{alertname="PnLDrawdownHigh"}'
    import sqlite3

    from receiver.web.keys import SETTINGS

    with sqlite3.connect(client.app[SETTINGS].storage.path) as conn:
        stored = conn.execute(
            "SELECT body FROM notifications WHERE id=?", (answer["notification_id"],)
        ).fetchone()
    assert stored[0].encode() == data


async def test_an_identical_resend_is_answered_without_parsing_and_stored_as_a_reference(
    make_client: ClientFactory, webhook_corpus: Path, monkeypatch: Any
) -> None:
    parsed: list[int] = []
    real_parse = webhook.parse_webhook

    def counting_parse(body: bytes) -> Any:
        parsed.append(len(body))
        return real_parse(body)

    monkeypatch.setattr(webhook, "parse_webhook", counting_parse)
    client = await make_client()
    data = (webhook_corpus / FIRING).read_bytes()
    answers = [await (await post(client, data)).json() for _ in range(3)]
    changed = data.replace(b'"firing"', b'"firing" ', 1)  # other bytes, same meaning: parsed and stored
    assert (await post(client, changed)).status == 200

    assert len(parsed) == 2  # the first body and the changed one; the re-sends were not parsed again
    assert [a["incidents"] for a in answers[1:]] == [answers[0]["incidents"]] * 2
    await drain(client.app[MATERIALIZER], 10)
    store = client.app[STORE]
    rows = await store.run(fetch_all, "SELECT id, same_as, length(body) AS size, pending FROM notifications")
    first = answers[0]["notification_id"]
    assert [(r["same_as"], r["size"] > 0) for r in rows] == [
        (None, True),
        (first, False),
        (first, False),
        (None, True),
    ]
    assert all(r["pending"] == 0 for r in rows)  # materialised: the reference's body was used
    incident = await store.run(db_incidents.get_incident, answers[0]["incidents"][0])
    assert incident is not None and incident.last_seen > incident.first_seen  # re-sends still count as seen


def test_recent_bodies_forget_the_least_recently_seen_first(webhook_corpus: Path) -> None:
    payload = parse_webhook((webhook_corpus / FIRING).read_bytes())
    bodies = RecentBodies(size=2)
    for n, digest in enumerate(("a", "b")):
        bodies.put(digest, accepted(n, payload))
    assert bodies.get("a") is not None  # "a" seen again: "b" is now the oldest
    bodies.put("c", accepted(2, payload))
    assert bodies.get("b") is None and len(bodies) == 2
    seen = bodies.get("a")
    assert seen is not None and seen.notification_id == 0 and seen.statuses == {"firing": 2}
    assert seen.head.alert_count == 2 and seen.head.status == "firing"


def test_materialising_reads_pending_notifications_through_their_index(tmp_path: Path) -> None:
    from receiver.storage.database import open_database

    db = open_database(tmp_path / "db.sqlite")
    sql = "EXPLAIN QUERY PLAN " + db_incidents.PENDING_SQL
    plan = " ".join(str(row) for row in db.conn.execute(sql, (16,)))
    assert "idx_notifications_pending" in plan
