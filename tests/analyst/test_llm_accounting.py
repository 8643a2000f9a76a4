"""Token and cost accounting per diagnosis and as Prometheus counters."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from analyst.llm import LLMAnalyst, LLMSettings, ModelPrice, cost_usd, default_prices
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence


def test_cost_is_tokens_times_price_per_million() -> None:
    prices = {"m": ModelPrice(input=2.0, output=10.0)}
    assert cost_usd(prices, "m", 1_000, 500) == pytest.approx(0.007)
    assert cost_usd(prices, "unknown", 1_000, 500) is None


def test_default_prices_come_from_settings() -> None:
    assert LLMSettings().prices == default_prices()
    assert default_prices()["claude-sonnet-5-5"] == ModelPrice(input=2.0, output=10.0)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def test_usage_and_price_table_drive_result_and_metrics(fake: FakeLLMServer) -> None:
    registry = CollectorRegistry()
    settings = LLMSettings(
        base_url=fake.anthropic_base_url,
        api_key="k-0123456789",
        model="claude-test",
        prices={"claude-test": ModelPrice(input=3.0, output=15.0)},
    )
    fake.enqueue(answer(answer_json(), tokens_in=1_000, tokens_out=500))
    analyst = LLMAnalyst(settings, "anthropic", FixedAnalyst(), registry)
    try:
        first = await analyst.diagnose(make_evidence(incident_id="a"))
        await analyst.diagnose(make_evidence(incident_id="b", alertname="Other"))
    finally:
        await analyst.aclose()

    expected = (1_000 * 3.0 + 500 * 15.0) / 1_000_000
    assert (first.tokens_in, first.tokens_out) == (1_000, 500)
    assert first.cost_usd == pytest.approx(expected)
    labels = {"backend": "anthropic", "model": "claude-test"}
    sample = registry.get_sample_value
    assert sample("alert_analyst_llm_tokens_total", {**labels, "direction": "input"}) == 2_000
    assert sample("alert_analyst_llm_tokens_total", {**labels, "direction": "output"}) == 1_000
    assert sample("alert_analyst_llm_cost_usd_total", labels) == pytest.approx(2 * expected)
    assert sample("alert_analyst_llm_requests_total", {**labels, "outcome": "ok"}) == 2
    assert b"alert_analyst_llm_cost_usd_total" in generate_latest(registry)


async def test_tokens_of_failed_attempts_are_still_counted(fake: FakeLLMServer) -> None:
    registry = CollectorRegistry()
    settings = LLMSettings(base_url=fake.openai_base_url, api_key="k-0123456789", backoff_seconds=0.01)
    fake.enqueue(answer("garbage", tokens_in=10, tokens_out=5))
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst(), registry)
    try:
        result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()

    assert result.backend == "builtin"
    assert (result.tokens_in, result.tokens_out) == (30, 15)
    labels = {"backend": "openai", "model": "gpt-5.4-mini", "outcome": "invalid_output"}
    assert registry.get_sample_value("alert_analyst_llm_requests_total", labels) == 3
