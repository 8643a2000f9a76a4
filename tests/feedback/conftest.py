"""Feedback fixtures: incidents with a stored diagnosis, written straight into the app's store."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import Evidence, evidence_to_dict
from analyst.schema import diagnosis_to_dict
from receiver.evidence.settings import ContextSettings
from receiver.models import Incident, new_incident
from receiver.pipeline.stages import StagePlugins, build_stages
from receiver.pipeline.workers import StageContext
from receiver.storage import incidents as db_incidents
from receiver.web.keys import STORE
from tests.delivery.builders import make_diagnosis
from tests.fakes.slack import FakeSlack
from tests.receiver.conftest import ClientFactory, make_client  # noqa: F401  (fixture)

SlackServer = tuple[FakeSlack, TestServer]


@pytest.fixture
async def slack() -> AsyncIterator[SlackServer]:
    """A fake Slack Web API on loopback."""
    fake = FakeSlack()
    server = TestServer(fake.app(), host="127.0.0.1")
    await server.start_server()
    yield fake, server
    await server.close()


async def slack_client(make: ClientFactory, slack: SlackServer) -> Any:
    """A client that takes button clicks signed by the fake Slack, and answers them there."""
    fake, server = slack
    return await make(slack={"api_url": str(server.make_url("/api/")), "signing_secret": fake.signing_secret})


def posted(fake: FakeSlack, blocks: list[dict[str, Any]], ts: str) -> dict[str, Any]:
    """A diagnosis reply as Slack holds it, so its buttons can be clicked."""
    message = {"channel": "C0ALERTS", "ts": ts, "text": "Diagnosis", "blocks": blocks}
    fake.messages.append(message)
    return message


async def click_button(
    client: Any, slack: SlackServer, message: dict[str, Any], verdict: str, user: str = "ana"
) -> int:
    """`user` clicks the `verdict` button of `message`; the status the app answers Slack."""
    fake, server = slack
    body, headers = fake.signed_click(message, verdict, str(server.make_url("")), user=user)
    return (await client.post("/slack/interactions", data=body, headers=headers)).status


def firing(
    fingerprint: str, starts_at: float, labels: Mapping[str, str], annotations: Mapping[str, str], stage: str
) -> Incident:
    return new_incident(
        fingerprint=fingerprint,
        starts_at=starts_at,
        ends_at=None,
        labels=dict(labels),
        annotations=dict(annotations),
        generator_url="",
        group_key="{}:{}",
        source="alertmanager",
        now=starts_at,
        stage=stage,
    )


async def stored_incident(
    client: Any,
    fingerprint: str = "fp-1",
    *,
    alertname: str = "LatencyHigh",
    category: str = "resource.cpu",
    confidence: float = 0.7,
    backend: str = "builtin",
    starts_at: float = 1_790_000_000.0,
) -> str:
    """An incident and a minimal diagnosis of it; returns the incident id."""
    labels = {"alertname": alertname, "service": "checkout"}
    incident = firing(fingerprint, starts_at, labels, {"summary": f"{alertname} on checkout"}, "done")
    store = client.app[STORE]
    await store.write(db_incidents.create_incident, incident)
    body = {"primary_hypothesis": {"category": category, "suspect": "cart-db", "confidence": confidence}}
    await store.write(
        db_incidents.save_diagnosis,
        incident.id,
        body,
        backend=backend,
        category=category,
        confidence=confidence,
    )
    return incident.id


async def rediagnose(client: Any, incident_id: str) -> int:
    """A second, full diagnosis of the incident (the page can render it); returns its id."""
    diagnosis = make_diagnosis(incident_id=incident_id)
    return int(
        await client.app[STORE].write(
            db_incidents.save_diagnosis,
            incident_id,
            diagnosis_to_dict(diagnosis),
            backend="builtin",
            category=diagnosis.primary_hypothesis.category.value,
            confidence=diagnosis.primary_hypothesis.confidence,
        )
    )


async def diagnose_with_memory(
    client: Any, evidence: Evidence, fingerprint: str, starts_at: float, *, reuse: bool = True
) -> str:
    """Store an incident with `evidence` and run the real diagnose stage over the app's store."""
    incident = firing(fingerprint, starts_at, evidence.alert.labels, evidence.alert.annotations, "diagnose")
    store = client.app[STORE]
    await store.write(db_incidents.create_incident, incident)
    evidence = dataclasses.replace(evidence, incident_id=incident.id)
    await store.write(db_incidents.save_evidence, incident.id, evidence_to_dict(evidence))
    plugins = StagePlugins(None, ContextSettings(), BuiltinAnalyst(), None, reuse_confirmed=reuse)
    outcome = await build_stages(plugins)["diagnose"](StageContext(incident, store))
    assert outcome.outcome == "ok"
    return incident.id
