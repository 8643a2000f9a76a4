"""Feedback fixtures: incidents with a stored diagnosis, written straight into the app's store."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import Evidence, evidence_to_dict
from receiver.evidence.settings import ContextSettings
from receiver.models import Incident, new_incident
from receiver.pipeline.stages import StagePlugins, build_stages
from receiver.pipeline.workers import StageContext
from receiver.storage import incidents as db_incidents
from receiver.web.keys import STORE
from tests.receiver.conftest import make_client  # noqa: F401  (fixture)


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
