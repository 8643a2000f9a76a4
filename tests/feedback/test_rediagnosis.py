"""A judgement is about the diagnosis it was given on: after the incident is re-diagnosed, memory still
vouches for the judged diagnosis, and judging again moves the judgement to the new one."""

from __future__ import annotations

from typing import Any

from analyst.memory import EvidenceSignature
from receiver.storage import incidents as db_incidents
from receiver.storage import memory as db_memory
from receiver.web.keys import STORE
from tests.receiver.conftest import ClientFactory

from .conftest import firing

T0 = 1_793_577_600.0
SIGNATURE = EvidenceSignature("OrdersSlow", "OrdersSlow{service=orders}", ("orders-db|db_pool|up",))


async def diagnosed(
    client: Any, fingerprint: str, suspect: str, at: float, incident_id: str | None = None
) -> str:
    """A (new, or with `incident_id` the same) incident diagnosed with `suspect`, remembered as the
    diagnose stage remembers it."""
    store = client.app[STORE]
    if incident_id is None:
        incident = firing(fingerprint, at, {"alertname": "OrdersSlow", "service": "orders"}, {}, "done")
        await store.write(db_incidents.create_incident, incident)
        incident_id = incident.id
    category = "dependency.database"
    body = {"primary_hypothesis": {"category": category, "suspect": suspect, "confidence": 0.7}}
    diagnosis_id = await store.write(
        db_incidents.save_diagnosis, incident_id, body, backend="builtin", category=category, confidence=0.7
    )
    await store.write(
        db_memory.save_signature,
        incident_id,
        SIGNATURE,
        diagnosis_id=diagnosis_id,
        category=category,
        suspect=suspect,
        now=at,
    )
    return incident_id


async def test_memory_vouches_for_the_judged_diagnosis_after_a_rediagnosis(
    make_client: ClientFactory,
) -> None:
    """The "correct" given to the first diagnosis (orders-db) was reported as confirming the suspect of a
    later re-diagnosis (cart-api) that nobody judged, and a repeat would have reused that one."""
    client = await make_client()
    first = await diagnosed(client, "fp-a", "orders-db", T0)
    judged = await client.post(
        f"/api/v1/incidents/{first}/feedback", json={"verdict": "correct", "who": "ana"}
    )
    assert judged.status == 201
    await diagnosed(client, "fp-a", "cart-api", T0 + 60, incident_id=first)  # re-diagnosed
    repeat = await diagnosed(client, "fp-b", "cart-api", T0 + 86_400)

    similar = (await (await client.get(f"/api/v1/incidents/{repeat}/similar")).json())["similar"]
    assert [(s["incident_id"], s["verdict"], s["confirmed_cause"]) for s in similar] == [
        (first, "correct", "orders-db")
    ]
    assert similar[0]["diagnosis_id"] == (await judged.json())["feedback"]["diagnosis_id"]
    problems = (await (await client.get("/api/v1/problems")).json())["problems"]
    assert problems[0]["confirmed_cause"] == "orders-db"


async def test_judging_again_after_a_rediagnosis_judges_the_new_diagnosis(make_client: ClientFactory) -> None:
    """The same verdict sent again was "no change" and stayed on the old diagnosis: the new one was never
    counted as judged."""
    client = await make_client()
    first = await diagnosed(client, "fp-a", "orders-db", T0)
    url = f"/api/v1/incidents/{first}/feedback"
    old = (await (await client.post(url, json={"verdict": "correct", "who": "ana"})).json())["feedback"]
    await diagnosed(client, "fp-a", "orders-db", T0 + 60, incident_id=first)

    again = await client.post(url, json={"verdict": "correct", "who": "ana"})
    assert again.status == 200
    answer = await again.json()
    assert answer["changes"] == {"diagnosis_id": [old["diagnosis_id"], old["diagnosis_id"] + 1]}
    assert answer["feedback"]["diagnosis_id"] == old["diagnosis_id"] + 1
    repeat = await client.post(url, json={"verdict": "correct", "who": "ana"})
    assert (await repeat.json())["changes"] == {}
    history = (await (await client.get(url)).json())["history"]
    assert len(history) == 2
    accuracy = await (await client.get("/api/v1/accuracy")).json()
    assert (accuracy["judged"], accuracy["diagnosed"]) == (1, 1)
