"""The LLM analyst with memory: precedents in the prompt, and a short confirm-or-reject prompt for a
repeat of a confirmed cause, costing at most 10 % of the first diagnosis' tokens."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from analyst.builtin import BuiltinAnalyst
from analyst.evidence import Evidence, Precedent
from analyst.llm import LLMAnalyst, LLMSettings
from tests.fakes.llm import FakeLLMServer, RecordedRequest, Reply, answer, answer_json, prompt_text

from .test_memory import traffic_surge


def responder(same_cause: bool) -> object:
    def reply(request: RecordedRequest) -> Reply:
        if "Same cause?" in prompt_text(request):
            return answer(json.dumps({"same_cause": same_cause, "confidence": 0.9, "comment": "CPU again"}))
        return answer(answer_json())

    return reply


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(count_tokens=True) as server:
        yield server


def analyst_for(fake: FakeLLMServer) -> LLMAnalyst:
    settings = LLMSettings(base_url=fake.openai_base_url, api_key="test-key-0123456789", timeout_seconds=2.0)
    return LLMAnalyst(settings, "openai", BuiltinAnalyst())


def confirmed(similarity: float) -> Precedent:
    return Precedent(
        incident_id="inc-past",
        similarity=similarity,
        verdict="wrong",
        category="traffic.surge",
        suspect="http_requests_total",
        actual_cause="container_cpu_usage_seconds_total",
        note="noisy neighbour",
    )


def repeat(precedent: Precedent) -> Evidence:
    return dataclasses.replace(traffic_surge(), incident_id="inc-2", precedents=(precedent,))


async def test_a_confirmed_repeat_costs_at_most_a_tenth_of_the_first(fake: FakeLLMServer) -> None:
    fake.responder = responder(same_cause=True)  # type: ignore[assignment]
    analyst = analyst_for(fake)
    first = await analyst.diagnose(traffic_surge())
    second = await analyst.diagnose(repeat(confirmed(0.95)))
    await analyst.aclose()
    assert len(fake.requests) == 2
    assert "Same cause?" in prompt_text(fake.requests[1])
    assert second.primary_hypothesis.suspect == "container_cpu_usage_seconds_total"
    assert second.backend == "openai" and second.confidence_score == 0.9
    assert second.tokens_in + second.tokens_out <= 0.1 * (first.tokens_in + first.tokens_out)


async def test_a_rejected_cause_gets_the_full_analysis_with_the_precedent_in_the_prompt(
    fake: FakeLLMServer,
) -> None:
    fake.responder = responder(same_cause=False)  # type: ignore[assignment]
    analyst = analyst_for(fake)
    result = await analyst.diagnose(repeat(confirmed(0.95)))
    await analyst.aclose()
    assert len(fake.requests) == 2
    full = prompt_text(fake.requests[1])
    assert '"precedents"' in full and "noisy neighbour" in full
    assert result.primary_hypothesis.suspect == "postgres"  # the model's full answer


async def test_a_loose_precedent_goes_into_the_full_prompt_only(fake: FakeLLMServer) -> None:
    fake.responder = responder(same_cause=True)  # type: ignore[assignment]
    analyst = analyst_for(fake)
    await analyst.diagnose(repeat(confirmed(0.65)))
    await analyst.aclose()
    assert len(fake.requests) == 1
    assert "Same cause?" not in prompt_text(fake.requests[0])
    assert '"confirmed":"" ' not in prompt_text(fake.requests[0])
    assert "container_cpu_usage_seconds_total" in prompt_text(fake.requests[0])
