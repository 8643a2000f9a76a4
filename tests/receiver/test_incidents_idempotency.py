"""Incidents are alert occurrences: re-sends never duplicate them or re-trigger work; resolve closes them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from receiver.pipeline.workers import StageContext, StageOutcome
from receiver.testing import drain, wait_idle
from receiver.web.keys import MATERIALIZER, PIPELINE
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
