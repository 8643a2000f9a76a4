"""LLMAnalyst against real SDK clients and fake Anthropic/OpenAI servers on loopback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from analyst.diagnosis import Category
from analyst.llm import LLMAnalyst, LLMConfigError, LLMSettings, build_analyst
from tests.fakes.llm import (
    FakeLLMServer,
    FixedAnalyst,
    Reply,
    answer,
    answer_json,
    error,
    make_evidence,
    prompt_text,
)

API_KEY = "test-key-0123456789"


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def settings_for(fake: FakeLLMServer, backend: str, **overrides: Any) -> LLMSettings:
    fields: dict[str, Any] = {
        "base_url": fake.anthropic_base_url if backend == "anthropic" else fake.openai_base_url,
        "api_key": API_KEY,
        "timeout_seconds": 2.0,
        "backoff_seconds": 0.01,
        "backoff_max_seconds": 0.02,
    }
    fields.update(overrides)
    return LLMSettings(**fields)


async def diagnose_once(
    fake: FakeLLMServer,
    backend: str,
    *replies: Reply,
    registry: CollectorRegistry | None = None,
    **settings: Any,
) -> Any:
    fake.enqueue(*replies)
    analyst = LLMAnalyst(settings_for(fake, backend, **settings), backend, FixedAnalyst(), registry)
    try:
        return await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()


@pytest.mark.parametrize("backend", ["anthropic", "openai", "openai_compatible"])
async def test_valid_answer_becomes_the_diagnosis(fake: FakeLLMServer, backend: str) -> None:
    result = await diagnose_once(fake, backend, answer(answer_json()))

    assert result.primary_hypothesis.title == "Postgres connection pool exhausted"
    assert result.primary_hypothesis.category is Category.DEPENDENCY_DATABASE
    assert result.primary_hypothesis.suspect == "postgres"
    assert result.detailed_analysis[0].step == "data_examination"
    assert result.backend == backend
    assert result.fallback_reason is None and result.cached is False
    assert result.incident_id == "inc-1"


async def test_anthropic_thinking_block_before_text_is_skipped(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", answer(answer_json(), thinking_first=True))
    assert result.backend == "anthropic"
    assert result.primary_hypothesis.suspect == "postgres"


async def test_anthropic_request_has_no_temperature_and_uses_bearer(fake: FakeLLMServer) -> None:
    await diagnose_once(fake, "anthropic", answer(answer_json()), temperature=0.2)

    request = fake.requests[0]
    assert request.path == "/v1/messages"
    assert request.headers["Authorization"] == f"Bearer {API_KEY}"
    assert "x-api-key" not in {k.lower() for k in request.headers}
    body = request.json
    assert not {"temperature", "top_p", "top_k"} & set(body)
    assert body["output_config"]["format"]["type"] == "json_schema"
    assert body["max_tokens"] == 2000


async def test_openai_request_uses_strict_json_schema(fake: FakeLLMServer) -> None:
    await diagnose_once(fake, "openai", answer(answer_json()), temperature=0.2)

    body = fake.requests[0].json
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["strict"] is True
    assert body["max_completion_tokens"] == 2000 and "max_tokens" not in body
    assert body["temperature"] == 0.2


async def test_ollama_style_server_gets_json_object_max_tokens_and_dummy_key(fake: FakeLLMServer) -> None:
    fenced = "```json\n" + answer_json() + "\n```"
    result = await diagnose_once(
        fake,
        "openai_compatible",
        answer(fenced, include_usage=False),
        api_key=None,
        model="llama3.1:8b",
        response_format="json_object",
    )

    request = fake.requests[0]
    assert request.headers["Authorization"] == "Bearer not-needed"
    assert request.json["response_format"] == {"type": "json_object"}
    assert request.json["max_tokens"] == 2000 and "max_completion_tokens" not in request.json
    assert request.json["model"] == "llama3.1:8b"
    assert result.backend == "openai_compatible"
    assert (result.tokens_in, result.tokens_out, result.cost_usd) == (0, 0, 0.0)


async def test_malformed_json_is_retried_then_falls_back(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "openai", answer("{not json"))

    assert len(fake.requests) == 3
    assert result.backend == "builtin"
    assert result.fallback_reason is not None and "invalid_output" in result.fallback_reason
    assert result.primary_hypothesis.title == "CPU saturation on api"


async def test_malformed_json_then_valid_answer_recovers(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", answer("Sure! here it is"), answer(answer_json()))
    assert len(fake.requests) == 2
    assert result.backend == "anthropic"


async def test_schema_invalid_answer_falls_back(fake: FakeLLMServer) -> None:
    invalid = answer_json(confidence_score=7, detailed_analysis=[])
    result = await diagnose_once(fake, "anthropic", answer(invalid))

    assert result.backend == "builtin"
    assert result.fallback_reason is not None and "schema" in result.fallback_reason


async def test_timeout_falls_back_in_bounded_time(fake: FakeLLMServer) -> None:
    started = time.perf_counter()
    result = await diagnose_once(
        fake, "openai", answer(answer_json(), delay_seconds=1.0), timeout_seconds=0.2, attempts=2
    )
    elapsed = time.perf_counter() - started

    assert result.backend == "builtin"
    assert result.fallback_reason is not None and result.fallback_reason.startswith("timeout after 2")
    assert elapsed < 1.5


async def test_rate_limit_honours_retry_after_then_succeeds(fake: FakeLLMServer) -> None:
    started = time.perf_counter()
    result = await diagnose_once(
        fake, "anthropic", error(429, headers={"retry-after": "0.3"}), answer(answer_json())
    )

    assert time.perf_counter() - started >= 0.3
    assert len(fake.requests) == 2
    assert result.backend == "anthropic"


async def test_retry_after_beyond_the_cap_falls_back_at_once(fake: FakeLLMServer) -> None:
    result = await diagnose_once(
        fake, "openai", error(429, headers={"retry-after": "120"}), max_retry_after_seconds=5
    )
    assert len(fake.requests) == 1
    assert result.fallback_reason is not None and result.fallback_reason.startswith("rate_limited after 1")


async def test_server_error_is_tried_three_times_then_falls_back(fake: FakeLLMServer) -> None:
    registry = CollectorRegistry()
    result = await diagnose_once(fake, "openai", error(500), registry=registry)

    assert len(fake.requests) == 3
    assert result.backend == "builtin"
    assert result.fallback_reason is not None and result.fallback_reason.startswith(
        "error after 3 attempt(s)"
    )
    labels = {"backend": "openai", "model": "gpt-5.4-mini", "outcome": "error"}
    assert registry.get_sample_value("alert_analyst_llm_requests_total", labels) == 3


async def test_client_error_is_not_retried(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", error(400, message="temperature is not supported"))
    assert len(fake.requests) == 1
    assert result.backend == "builtin"


async def test_llm_output_is_display_text_only(fake: FakeLLMServer) -> None:
    hostile = answer_json(
        executive_summary="ok\x1b[31m\x07" + "x" * 5000, immediate_actions=["rm -rf /"] * 50
    )
    result = await diagnose_once(fake, "openai", answer(hostile))

    assert "\x1b" not in result.executive_summary and "\x07" not in result.executive_summary
    assert len(result.executive_summary) <= 2000
    assert len(result.immediate_actions) == 10


def test_build_analyst_returns_the_fallback_for_builtin() -> None:
    fallback = FixedAnalyst()
    assert build_analyst("builtin", LLMSettings(), fallback, None) is fallback


def test_build_analyst_rejects_unknown_backends() -> None:
    with pytest.raises(LLMConfigError, match="unknown LLM backend"):
        build_analyst("gemini", LLMSettings(), FixedAnalyst(), None)


class ExplodingBackend:
    name = "anthropic"
    model = "claude-sonnet-5-5"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, system: str, user: str, schema: dict[str, Any], schema_name: str) -> Any:
        self.calls += 1
        raise ValueError("Streaming is required for operations that may take longer than 10 minutes")

    async def aclose(self) -> None:
        return None


async def test_unexpected_backend_exception_falls_back_without_retry() -> None:
    backend = ExplodingBackend()
    analyst = LLMAnalyst(LLMSettings(), "anthropic", FixedAnalyst(), llm_backend=backend)
    result = await analyst.diagnose(make_evidence())

    assert backend.calls == 1
    assert result.backend == "builtin"
    assert result.fallback_reason is not None and "ValueError" in result.fallback_reason


async def test_the_prompt_has_the_configured_dependency_graph_too(fake: FakeLLMServer) -> None:
    fake.enqueue(answer(answer_json()))
    graph = {"api": ("cache",), "postgres": ("disk",)}
    analyst = LLMAnalyst(settings_for(fake, "openai"), "openai", FixedAnalyst(), dependency_graph=graph)
    try:
        await analyst.diagnose(make_evidence(topology={"api": ("postgres",)}))
    finally:
        await analyst.aclose()

    prompt = prompt_text(fake.requests[-1])
    assert all(edge in prompt for edge in ("api→cache", "api→postgres", "postgres→disk"))


def test_build_analyst_hands_the_dependency_graph_to_the_llm_analyst() -> None:
    analyst = build_analyst(
        "openai", LLMSettings(api_key=API_KEY), FixedAnalyst(), dependency_graph={"api": ("cache",)}
    )

    assert isinstance(analyst, LLMAnalyst) and analyst._dependency_graph == {"api": ("cache",)}
