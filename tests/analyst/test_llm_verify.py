"""The optional verification pass may lower confidence or reorder hypotheses, never raise or add."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from analyst.diagnosis import DiagnosisResult
from analyst.llm import LLMAnalyst, LLMSettings
from analyst.llm.verify import RankedHypothesis, VerificationAnswer, apply_verification
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence


def verdict(*ranking: tuple[int, float], score: float = 1.0) -> VerificationAnswer:
    return VerificationAnswer(
        ranking=[RankedHypothesis(index=i, confidence=c, reason="r") for i, c in ranking],
        confidence_score=score,
        comment="checked",
    )


async def builtin_result() -> DiagnosisResult:
    return await FixedAnalyst().diagnose(make_evidence())


async def test_verification_cannot_raise_confidence() -> None:
    result = await builtin_result()
    verified = apply_verification(result, verdict((0, 0.99), (1, 0.95), score=0.99))

    assert verified.primary_hypothesis.confidence == 0.6
    assert verified.alternative_hypotheses[0].confidence == 0.3
    assert verified.confidence_score == 0.6


async def test_verification_can_lower_and_reorder() -> None:
    result = await builtin_result()
    verified = apply_verification(result, verdict((1, 0.25), (0, 0.1), score=0.2))

    assert verified.primary_hypothesis.title == "Traffic surge"
    assert verified.primary_hypothesis.confidence == 0.25
    assert verified.alternative_hypotheses[0].confidence == 0.1
    assert verified.confidence_score == 0.2


async def test_verification_cannot_add_or_drop_hypotheses() -> None:
    result = await builtin_result()
    verified = apply_verification(result, verdict((7, 0.9), (1, 0.2), (1, 0.0)))

    titles = [verified.primary_hypothesis.title, *(h.title for h in verified.alternative_hypotheses)]
    assert titles == ["Traffic surge", "CPU saturation on api"]
    assert verified.primary_hypothesis.confidence == 0.2


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def test_verify_setting_sends_a_second_request_that_cannot_raise(fake: FakeLLMServer) -> None:
    raise_everything = {
        "ranking": [
            {"index": 1, "confidence": 1.0, "reason": "x"},
            {"index": 0, "confidence": 1.0, "reason": "y"},
        ],
        "confidence_score": 1.0,
        "comment": "I am very sure",
    }
    fake.enqueue(answer(answer_json()), answer(json.dumps(raise_everything)))
    settings = LLMSettings(base_url=fake.anthropic_base_url, api_key="k-0123456789", verify=True)
    analyst = LLMAnalyst(settings, "anthropic", FixedAnalyst())
    try:
        result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 2
    assert result.primary_hypothesis.title == "CPU saturation on api"
    assert result.primary_hypothesis.confidence == 0.2
    assert result.confidence_score == 0.7
    assert result.tokens_in == 200


async def test_failed_verification_keeps_the_unverified_answer(fake: FakeLLMServer) -> None:
    fake.enqueue(answer(answer_json()), answer("not json"))
    settings = LLMSettings(
        base_url=fake.openai_base_url, api_key="k-0123456789", verify=True, attempts=1, backoff_seconds=0.01
    )
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst())
    try:
        result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()

    assert result.backend == "openai"
    assert result.primary_hypothesis.suspect == "postgres"
    assert any(note.startswith("verification skipped") for note in result.notes)
