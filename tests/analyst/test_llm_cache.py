"""Evidence signatures and the diagnosis cache: a repeated incident costs no second call."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from analyst.llm import LLMAnalyst, LLMSettings, evidence_signature
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence, make_series


def test_signature_ignores_incident_id_and_series_order() -> None:
    a = make_evidence(series=(make_series(0), make_series(2)), incident_id="a")
    b = make_evidence(series=(make_series(2), make_series(0)), incident_id="b")
    assert evidence_signature(a) == evidence_signature(b)


def test_signature_uses_coarse_magnitudes() -> None:
    base = evidence_signature(make_evidence(series=(make_series(0, magnitude=2.1),)))
    assert evidence_signature(make_evidence(series=(make_series(0, magnitude=2.4),))) == base
    assert evidence_signature(make_evidence(series=(make_series(0, magnitude=8.0),))) != base


def test_signature_changes_with_direction_alertname_and_series() -> None:
    base = evidence_signature(make_evidence(series=(make_series(0),)))
    assert evidence_signature(make_evidence(series=(make_series(0, direction="down"),))) != base
    assert evidence_signature(make_evidence(series=(make_series(0),), alertname="Other")) != base
    assert evidence_signature(make_evidence(series=(make_series(0), make_series(2)))) != base


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_cache_hit_makes_no_second_call(fake: FakeLLMServer) -> None:
    settings = LLMSettings(base_url=fake.anthropic_base_url, api_key="k-0123456789", cache_ttl_seconds=600)
    fake.enqueue(answer(answer_json()))
    analyst = LLMAnalyst(settings, "anthropic", FixedAnalyst())
    try:
        first = await analyst.diagnose(make_evidence(incident_id="first"))
        second = await analyst.diagnose(make_evidence(incident_id="second"))
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 1
    assert first.cached is False and second.cached is True
    assert second.incident_id == "second"
    assert second.primary_hypothesis == first.primary_hypothesis
    assert (second.tokens_in, second.cost_usd) == (0, 0.0)


async def test_cache_entry_expires_after_ttl(fake: FakeLLMServer) -> None:
    clock = FakeClock()
    settings = LLMSettings(base_url=fake.openai_base_url, api_key="k-0123456789", cache_ttl_seconds=60)
    fake.enqueue(answer(answer_json()))
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst(), clock=clock)
    try:
        await analyst.diagnose(make_evidence())
        clock.now += 61
        result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 2
    assert result.cached is False


async def test_fallback_results_are_not_cached(fake: FakeLLMServer) -> None:
    settings = LLMSettings(
        base_url=fake.openai_base_url, api_key="k-0123456789", attempts=1, backoff_seconds=0.01
    )
    fake.enqueue(answer("nope"), answer(answer_json()))
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst())
    try:
        first = await analyst.diagnose(make_evidence())
        second = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()

    assert first.backend == "builtin" and second.backend == "openai"
    assert second.cached is False


async def test_concurrent_identical_incidents_share_one_call(fake: FakeLLMServer) -> None:
    settings = LLMSettings(base_url=fake.openai_base_url, api_key="k-0123456789")
    fake.enqueue(answer(answer_json(), delay_seconds=0.2))
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst())
    try:
        results = await asyncio.gather(
            *(analyst.diagnose(make_evidence(incident_id=f"inc-{i}")) for i in range(3))
        )
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 1
    assert sorted(r.cached for r in results) == [False, True, True]
    assert [r.incident_id for r in results] == ["inc-0", "inc-1", "inc-2"]
