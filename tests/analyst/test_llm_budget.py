"""llm.max_calls_per_hour: an alert storm of distinct incidents costs at most that many LLM diagnoses an hour;
past it the built-in analyst answers, with one warning when the bound is reached and one when calls resume."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import ValidationError
from structlog.testing import capture_logs

from analyst.diagnosis import DiagnosisResult
from analyst.evidence import Evidence, Precedent
from analyst.llm import LLMAnalyst, LLMSettings
from analyst.llm.budget import CallBudget
from receiver.config import load_settings
from receiver.errors import ConfigError
from receiver.web.app import build_app
from receiver.web.keys import ANALYST
from receiver.web.reload import ConfigSource
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, error, make_evidence

API_KEY = "k-0123456789"
# The FixedAnalyst's primary cause, confirmed before: the analyst asks a short confirmation first.
CONFIRMED_API_CPU = Precedent("inc-0", 0.95, "correct", "resource.cpu", "api")


def spent_reason(limit: int) -> str:
    return (
        f"LLM budget spent: {limit} diagnoses in the last hour (llm.max_calls_per_hour={limit});"
        " the built-in analyst answered"
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer(lambda request: answer(answer_json())) as server:  # after scripted replies
        yield server


def make_analyst(
    fake: FakeLLMServer,
    limit: int,
    registry: CollectorRegistry | None = None,
    clock: FakeClock | None = None,
    **settings: Any,
) -> LLMAnalyst:
    config = LLMSettings(
        base_url=fake.openai_base_url,
        api_key=API_KEY,
        max_calls_per_hour=limit,
        timeout_seconds=2.0,
        backoff_seconds=0.01,
        backoff_max_seconds=0.02,
        **settings,
    )
    return LLMAnalyst(config, "openai", FixedAnalyst(), registry, clock=clock or FakeClock())


def incident(index: int) -> Evidence:
    """Distinct incidents (a storm of one alert over many pods): each has its own evidence signature."""
    return make_evidence(incident_id=f"inc-{index}", alertname=f"PodCrashLooping-{index}")


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry["event"] == name]


async def diagnose_all(analyst: LLMAnalyst, evidences: list[Evidence]) -> list[DiagnosisResult]:
    try:
        return [await analyst.diagnose(evidence) for evidence in evidences]
    finally:
        await analyst.aclose()


async def test_a_storm_past_the_bound_is_answered_by_the_builtin_analyst(fake: FakeLLMServer) -> None:
    registry = CollectorRegistry()
    analyst = make_analyst(fake, 3, registry)
    with capture_logs() as logs:
        results = await diagnose_all(analyst, [incident(i) for i in range(7)])

    assert len(fake.requests) == 3
    assert [r.backend for r in results] == ["openai"] * 3 + ["builtin"] * 4
    assert {r.fallback_reason for r in results[3:]} == {spent_reason(3)}
    assert all(spent_reason(3) in r.notes[-1] for r in results[3:])
    assert len(events(logs, "llm_budget_spent")) == 1
    assert events(logs, "llm_fallback") == []  # not one warning per incident
    assert [e["log_level"] for e in logs] == ["warning"]
    sample = registry.get_sample_value
    labels = {"backend": "openai", "model": "gpt-5.4-mini"}
    assert sample("alert_analyst_llm_diagnoses_total", {**labels, "source": "fallback"}) == 4
    assert sample("alert_analyst_llm_diagnoses_total", {**labels, "source": "llm"}) == 3


async def test_concurrent_incidents_never_pass_the_bound(fake: FakeLLMServer) -> None:
    fake.enqueue(answer(answer_json(), delay_seconds=0.1))
    analyst = make_analyst(fake, 2)
    try:
        results = await asyncio.gather(*(analyst.diagnose(incident(i)) for i in range(6)))
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 2
    assert sorted(r.backend for r in results) == ["builtin"] * 4 + ["openai"] * 2


async def test_a_diagnosis_counts_once_however_many_calls_it_makes(fake: FakeLLMServer) -> None:
    confirm_no = json.dumps({"same_cause": False, "confidence": 0.9, "comment": "different cause"})
    fake.enqueue(answer(confirm_no), error(503), answer(answer_json()))  # confirm, failed attempt, answer
    first = dataclasses.replace(incident(0), precedents=(CONFIRMED_API_CPU,))
    analyst = make_analyst(fake, 2, attempts=2)
    results = await diagnose_all(analyst, [first, incident(1), incident(2)])

    assert len(fake.requests) == 4  # three for the first diagnosis, one for the second
    assert [r.backend for r in results] == ["openai", "openai", "builtin"]
    assert results[2].fallback_reason == spent_reason(2)


async def test_a_confirmed_precedent_is_one_diagnosis(fake: FakeLLMServer) -> None:
    confirm_yes = json.dumps({"same_cause": True, "confidence": 0.9, "comment": "same as before"})
    fake.enqueue(answer(confirm_yes))
    evidences = [dataclasses.replace(incident(i), precedents=(CONFIRMED_API_CPU,)) for i in range(2)]
    results = await diagnose_all(make_analyst(fake, 1), evidences)

    assert len(fake.requests) == 1
    assert results[0].fallback_reason is None and results[0].backend == "openai"
    assert results[1].fallback_reason == spent_reason(1)


async def test_calls_resume_when_the_oldest_diagnosis_leaves_the_hour(fake: FakeLLMServer) -> None:
    clock = FakeClock()
    analyst = make_analyst(fake, 2, clock=clock)
    backends: list[str] = []
    with capture_logs() as logs:
        try:
            for step, index in ((0, 0), (1800, 1), (0, 2), (1799, 3), (1, 4), (0, 5)):
                clock.now += step
                backends.append((await analyst.diagnose(incident(index))).backend)
        finally:
            await analyst.aclose()

    # t=1000 and t=2800 call; t=4599 is within the hour of both; at t=4600 the first has left it.
    assert backends == ["openai", "openai", "builtin", "builtin", "openai", "builtin"]
    assert len(fake.requests) == 3
    assert [(e["event"], e.get("refused")) for e in logs] == [
        ("llm_budget_spent", None),
        ("llm_budget_resumed", 2),
        ("llm_budget_spent", None),
    ]


async def test_cache_hits_do_not_count_and_are_served_past_the_bound(fake: FakeLLMServer) -> None:
    analyst = make_analyst(fake, 1, cache_ttl_seconds=600)
    twins = [dataclasses.replace(incident(0), incident_id=f"twin-{i}") for i in range(3)]
    try:
        together = await asyncio.gather(*(analyst.diagnose(twin) for twin in twins))
        other = await analyst.diagnose(incident(1))
        again = await analyst.diagnose(dataclasses.replace(incident(0), incident_id="later"))
    finally:
        await analyst.aclose()

    assert len(fake.requests) == 1
    assert sorted(r.cached for r in together) == [False, True, True]
    assert {r.backend for r in together} == {"openai"}
    assert other.fallback_reason == spent_reason(1)
    assert again.cached is True and again.fallback_reason is None


async def test_zero_means_no_bound(fake: FakeLLMServer) -> None:
    results = await diagnose_all(make_analyst(fake, 0), [incident(i) for i in range(5)])

    assert len(fake.requests) == 5
    assert {r.backend for r in results} == {"openai"}


async def test_a_shared_budget_keeps_its_window_and_takes_the_new_limit(fake: FakeLLMServer) -> None:
    clock = FakeClock()
    budget = CallBudget(0, clock)
    settings = LLMSettings(base_url=fake.openai_base_url, api_key=API_KEY, max_calls_per_hour=2)
    first = LLMAnalyst(settings, "openai", FixedAnalyst(), clock=clock, budget=budget)
    await diagnose_all(first, [incident(0), incident(1)])
    lowered = settings.model_copy(update={"max_calls_per_hour": 3})
    second = LLMAnalyst(lowered, "openai", FixedAnalyst(), clock=clock, budget=budget)
    results = await diagnose_all(second, [incident(2), incident(3)])

    assert len(fake.requests) == 3
    assert [r.backend for r in results] == ["openai", "builtin"]
    assert results[1].fallback_reason == spent_reason(3)


def test_the_default_bounds_a_storm_and_negative_is_refused() -> None:
    assert LLMSettings().max_calls_per_hour == 120
    with pytest.raises(ValidationError, match="max_calls_per_hour"):
        LLMSettings(max_calls_per_hour=-1)


def test_the_config_file_sets_the_bound_and_refuses_a_negative_one(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump({"llm": {"max_calls_per_hour": 60}}))
    assert load_settings(config, environ={}).llm.max_calls_per_hour == 60
    config.write_text(yaml.safe_dump({"llm": {"max_calls_per_hour": -5}}))
    with pytest.raises(ConfigError, match="max_calls_per_hour"):
        load_settings(config, environ={})


async def diagnose_around_a_reload(
    fake: FakeLLMServer, tmp_path: Path, limit: int, change: Callable[[dict[str, Any]], None]
) -> tuple[int, list[DiagnosisResult], DiagnosisResult]:
    """Through a real app at `max_calls_per_hour: limit`: two diagnoses, a configuration reload after
    `change` of its document, one more diagnosis. The reload's status and the diagnoses."""
    config = tmp_path / "config.yaml"
    document: dict[str, Any] = {
        "storage": {"path": str(tmp_path / "a.db")},
        "detection": {"enabled": False},
        "analyst": {"backend": "openai"},
        "llm": {"base_url": fake.openai_base_url, "api_key": API_KEY, "max_calls_per_hour": limit},
    }
    config.write_text(yaml.safe_dump(document))
    source = ConfigSource(str(config))
    app = build_app(load_settings(source.path), config_source=source)
    async with TestClient(TestServer(app)) as client:
        analyst = app[ANALYST]
        before = [await analyst.diagnose(incident(i)) for i in range(2)]
        change(document)
        config.write_text(yaml.safe_dump(document))
        response = await client.post("/-/reload")
        after = await analyst.diagnose(incident(2))
    return response.status, before, after


async def test_a_reload_applies_a_new_bound(fake: FakeLLMServer, tmp_path: Path) -> None:
    def raise_bound(document: dict[str, Any]) -> None:
        document["llm"]["max_calls_per_hour"] = 3

    status, before, after = await diagnose_around_a_reload(fake, tmp_path, 1, raise_bound)

    assert status == 200
    assert [r.backend for r in before] == ["openai", "builtin"]
    assert before[1].fallback_reason == spent_reason(1)
    assert after.backend == "openai"


async def test_the_window_outlives_a_reload(fake: FakeLLMServer, tmp_path: Path) -> None:
    """A reload rebuilds the analyst (here for a change of `log` only); before, its window started empty,
    so every reload during a storm let another max_calls_per_hour diagnoses through."""

    def change_log(document: dict[str, Any]) -> None:
        document["log"] = {"level": "debug"}

    status, before, after = await diagnose_around_a_reload(fake, tmp_path, 2, change_log)

    assert status == 200
    assert [r.backend for r in before] == ["openai", "openai"]
    assert after.backend == "builtin" and after.fallback_reason == spent_reason(2)
