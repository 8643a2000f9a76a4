"""On-demand diagnosis is bounded: each run may cost an LLM call, so a flood of requests (API or workbench
form) is refused with 429 past `pipeline.max_concurrent_analyses` runs at once instead of all reaching the
analyst together."""

from __future__ import annotations

import asyncio
from typing import Any

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence
from receiver.web.keys import ANALYST
from receiver.web.resources import pipeline_parts
from tests.fakes.llm import FixedAnalyst
from tests.support.polling import eventually

from .conftest import ClientFactory

LIMIT = 2
ALERT = {"alert": {"alertname": "Flood", "start": "-10m"}}


class GatedAnalyst(FixedAnalyst):
    """Holds every diagnosis until `gate` opens, counting how many wait at once."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.waiting = 0
        self.most_at_once = 0

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        self.waiting += 1
        self.most_at_once = max(self.most_at_once, self.waiting)
        try:
            await self.gate.wait()
        finally:
            self.waiting -= 1
        return await super().diagnose(evidence)


async def _gated_client(make_client: ClientFactory) -> tuple[Any, GatedAnalyst]:
    client = await make_client(
        pipeline_parts,
        prometheus={"url": "http://127.0.0.1:9", "retries": 0},
        pipeline={"max_concurrent_analyses": LIMIT},
    )
    analyst = GatedAnalyst()
    client.app[ANALYST].switch_to(analyst)
    return client, analyst


async def test_api_diagnoses_past_the_bound_are_refused_while_others_run(make_client: ClientFactory) -> None:
    client, analyst = await _gated_client(make_client)
    running = [asyncio.create_task(client.post("/api/v1/diagnoses", json=ALERT)) for _ in range(LIMIT)]
    await eventually(lambda: analyst.waiting == LIMIT)

    extra = asyncio.create_task(client.post("/api/v1/diagnoses", json=ALERT))
    await eventually(lambda: extra.done() or analyst.waiting > LIMIT)
    analyst.gate.set()

    refused = await extra
    assert refused.status == 429
    assert "max_concurrent_analyses" in (await refused.json())["error"]
    assert [r.status for r in await asyncio.gather(*running)] == [200] * LIMIT
    assert analyst.most_at_once == LIMIT
    again = await client.post("/api/v1/diagnoses", json=ALERT)  # a slot is free again once a run ends
    assert again.status == 200


async def test_the_workbench_form_is_bounded_by_the_same_slots(make_client: ClientFactory) -> None:
    client, analyst = await _gated_client(make_client)
    running = [asyncio.create_task(client.post("/api/v1/diagnoses", json=ALERT)) for _ in range(LIMIT)]
    await eventually(lambda: analyst.waiting == LIMIT)

    form = {"start": "-10m", "end": "now", "expr": "up", "incident_id": ""}
    extra = asyncio.create_task(client.post("/ui/diagnose", data=form, allow_redirects=False))
    await eventually(lambda: extra.done() or analyst.waiting > LIMIT)
    analyst.gate.set()

    refused = await extra
    assert refused.status == 429
    assert "max_concurrent_analyses" in await refused.text()
    await asyncio.gather(*running)
    assert analyst.most_at_once == LIMIT
