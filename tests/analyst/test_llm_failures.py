"""How the LLM analyst fails: within its overall deadline, without retrying what cannot succeed, with a
clear reason and the built-in result; configurations without a key are refused when they are loaded."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, ValidationError

from analyst.llm import LLMAnalyst, LLMConfigError, LLMSettings, build_analyst, evidence_signature
from analyst.llm.answer import parse_answer
from receiver.config import load_settings
from receiver.errors import ConfigError
from receiver.pipeline.settings import PipelineSettings
from receiver.web.app import build_app
from receiver.web.reload import ConfigSource, build_analyst_for
from tests.analyst.test_llm_analyst import diagnose_once, settings_for
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, Reply, answer, answer_json, error, make_evidence

KEY_ENV_VARS = (
    "OPENAI_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_PROFILE",
    "ANTHROPIC_CONFIG_DIR",
    "ANTHROPIC_IDENTITY_TOKEN",
    "ANTHROPIC_IDENTITY_TOKEN_FILE",
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def make_analyst(
    fake: FakeLLMServer, backend: str, registry: CollectorRegistry | None = None, **overrides: Any
) -> LLMAnalyst:
    return LLMAnalyst(settings_for(fake, backend, **overrides), backend, FixedAnalyst(), registry)


def requests_by_outcome(registry: CollectorRegistry, outcome: str) -> float:
    for metric in registry.collect():
        for sample in metric.samples:
            if sample.name == "alert_analyst_llm_requests_total" and sample.labels["outcome"] == outcome:
                return sample.value
    return 0.0


# --- 1. an overall deadline: a slow or hung LLM costs the LLM answer, never the built-in diagnosis ---


@pytest.mark.parametrize("backend", ["openai_compatible", "anthropic"])
async def test_hung_llm_falls_back_to_the_builtin_result_within_the_total_timeout(
    fake: FakeLLMServer, backend: str
) -> None:
    fake.enqueue(answer(answer_json(), delay_seconds=30))
    # 3 attempts x 0.5 s > 0.8 s (the analyst is built first: the SDK's import is not timed)
    analyst = make_analyst(fake, backend, timeout_seconds=0.5, attempts=3, total_timeout_seconds=0.8)
    started = time.monotonic()
    try:
        result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()
    elapsed = time.monotonic() - started

    assert elapsed < 0.8 + 0.4
    assert result.backend == "builtin"
    assert result.primary_hypothesis.title == "CPU saturation on api"
    assert result.fallback_reason is not None
    assert "the LLM did not answer within 0.8 s" in result.fallback_reason
    assert len(fake.requests) == 2


async def test_waiting_for_an_identical_incident_counts_against_the_total_timeout(
    fake: FakeLLMServer,
) -> None:
    analyst = make_analyst(fake, "openai", total_timeout_seconds=0.3)
    evidence = make_evidence()
    holder_inside, release = asyncio.Event(), asyncio.Event()

    async def identical_incident_in_progress() -> None:
        async with analyst._cache.exclusive(evidence_signature(evidence)):
            holder_inside.set()
            await release.wait()

    holder = asyncio.create_task(identical_incident_in_progress())
    await holder_inside.wait()
    try:
        started = time.monotonic()
        result = await asyncio.wait_for(analyst.diagnose(evidence), 5)  # fail, not hang, if unbounded
        elapsed = time.monotonic() - started
    finally:
        release.set()
        await holder
        await analyst.aclose()

    assert elapsed < 0.3 + 0.3
    assert result.backend == "builtin"
    assert result.fallback_reason == "the LLM did not answer within 0.3 s (llm.total_timeout_seconds)"
    assert fake.requests == []


async def test_a_retry_wait_past_the_deadline_falls_back_at_once(fake: FakeLLMServer) -> None:
    started = time.monotonic()
    result = await diagnose_once(fake, "openai", error(503, {"Retry-After": "5"}), total_timeout_seconds=2.0)

    assert time.monotonic() - started < 1.0
    assert result.backend == "builtin" and len(fake.requests) == 1
    assert result.fallback_reason is not None
    assert "did not answer within 2 s" in result.fallback_reason and "HTTP 503" in result.fallback_reason


def test_total_timeout_is_validated_and_below_the_pipeline_stage_timeout() -> None:
    assert LLMSettings().total_timeout_seconds < PipelineSettings().stage_timeout_seconds
    with pytest.raises(ValidationError, match="total_timeout_seconds"):
        LLMSettings(total_timeout_seconds=0)


# --- 2. answers cut at max_tokens, refused or filtered: not retried, counted, named -----------------

CUT = answer_json()[:300]


@pytest.mark.parametrize(
    ("backend", "stop_reason", "reason"),
    [
        ("openai", "length", "cut at max_tokens (2000, stop reason length): raise llm.max_tokens"),
        ("openai_compatible", "length", "cut at max_tokens (2000, stop reason length)"),
        ("anthropic", "max_tokens", "cut at max_tokens (2000, stop reason max_tokens)"),
        ("anthropic", "model_context_window_exceeded", "exceed the model's context window"),
    ],
)
async def test_answer_cut_short_is_not_retried_and_names_max_tokens(
    fake: FakeLLMServer, backend: str, stop_reason: str, reason: str
) -> None:
    registry = CollectorRegistry()
    result = await diagnose_once(
        fake,
        backend,
        answer(CUT, stop_reason=stop_reason, tokens_in=900, tokens_out=2000),
        registry=registry,
        model="gpt-5.4-mini",
    )

    assert len(fake.requests) == 1
    assert result.backend == "builtin"
    assert result.fallback_reason is not None and reason in result.fallback_reason
    assert result.fallback_reason.startswith("truncated after 1 attempt(s)")
    assert (result.tokens_in, result.tokens_out) == (900, 2000) and result.cost_usd > 0
    assert requests_by_outcome(registry, "truncated") == 1

    # a complete answer is used whatever the stop reason says
    complete = await diagnose_once(fake, backend, answer(answer_json(), stop_reason=stop_reason))
    assert complete.backend == backend


@pytest.mark.parametrize(
    ("backend", "reply", "reason"),
    [
        (
            "anthropic",
            answer("I can't help with that.", stop_reason="refusal"),
            "declined to answer: I can't",
        ),
        ("openai", answer("", refusal="I must decline."), "declined to answer: I must decline."),
        ("openai", answer("", stop_reason="content_filter"), "content filter withheld the answer"),
    ],
)
async def test_refused_or_filtered_answer_is_not_retried_and_its_tokens_count(
    fake: FakeLLMServer, backend: str, reply: Reply, reason: str
) -> None:
    registry = CollectorRegistry()
    result = await diagnose_once(fake, backend, reply, registry=registry)

    assert len(fake.requests) == 1
    assert result.backend == "builtin"
    assert result.fallback_reason is not None and reason in result.fallback_reason
    assert result.fallback_reason.startswith("refused after 1 attempt(s)")
    assert (result.tokens_in, result.tokens_out) == (100, 50)
    assert requests_by_outcome(registry, "refused") == 1


# --- 3. no API key: a configuration error when the analyst is built, at start-up and on reload --------


@pytest.fixture
def no_keys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in KEY_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.config/anthropic profile either


@pytest.mark.usefixtures("no_keys")
@pytest.mark.parametrize(
    ("backend", "variable"), [("openai", "OPENAI_API_KEY"), ("anthropic", "ANTHROPIC_API_KEY")]
)
def test_backend_without_a_key_is_a_config_error(backend: str, variable: str) -> None:
    with pytest.raises(LLMConfigError, match=rf"no API key: set llm\.api_key, .*{variable}"):
        build_analyst(backend, LLMSettings(), FixedAnalyst())


@pytest.mark.usefixtures("no_keys")
def test_anthropic_profile_that_cannot_be_read_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("ANTHROPIC_CONFIG_DIR", str(tmp_path / "empty"))  # the SDK reads its default profile
    with pytest.raises(LLMConfigError, match="'anthropic': no usable credentials: Config file not found"):
        build_analyst("anthropic", LLMSettings(), FixedAnalyst())


@pytest.mark.usefixtures("no_keys")
def test_serve_gets_a_config_error_for_a_backend_without_a_key(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        environ={},
        overrides={"analyst": {"backend": "openai"}, "storage": {"path": str(tmp_path / "a.db")}},
    )
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):  # `serve` prints it and exits 1
        build_analyst_for(settings, CollectorRegistry())


@pytest.mark.usefixtures("no_keys")
async def test_reload_to_a_backend_without_a_key_is_refused_and_the_old_config_kept(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    document: dict[str, Any] = {"storage": {"path": str(tmp_path / "a.db")}, "detection": {"enabled": False}}
    config.write_text(yaml.safe_dump(document))
    source = ConfigSource(str(config))
    app = build_app(load_settings(source.path), config_source=source)
    async with TestClient(TestServer(app)) as client:
        config.write_text(yaml.safe_dump({**document, "analyst": {"backend": "openai"}}))
        response = await client.post("/-/reload")
        body = json.loads(await response.text())
        ready = await client.get("/-/ready")

    assert response.status == 500
    assert body["error"].startswith("failed to reload config: analyst.backend 'openai' has no API key")
    assert ready.status == 200


# --- 4. usage is optional ------------------------------------------------------------------------------


async def test_anthropic_answer_without_usage_is_used(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", answer(answer_json(), include_usage=False))

    assert result.backend == "anthropic" and result.fallback_reason is None
    assert (result.tokens_in, result.tokens_out, result.cost_usd) == (0, 0, 0.0)


# --- 5. the configured key never reaches a fallback reason or a note -------------------------------


async def test_key_echoed_by_an_error_body_is_redacted_from_the_fallback(fake: FakeLLMServer) -> None:
    key = "vllm-prod-key-7731"  # nothing in its shape says it is a secret
    result = await diagnose_once(
        fake, "openai_compatible", error(401, message=f"invalid api key '{key}'"), api_key=key
    )

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert "invalid api key '[REDACTED]'" in result.fallback_reason
    assert not any(key in text for text in (result.fallback_reason, *result.notes))


# --- 6. local-server quirks ------------------------------------------------------------------------------


async def test_prose_before_a_json_fence_is_accepted(fake: FakeLLMServer) -> None:
    text = "Here is the diagnosis:\n```json\n" + answer_json() + "\n```\nHope it helps."
    result = await diagnose_once(fake, "openai_compatible", answer(text))

    assert result.backend == "openai_compatible"
    assert result.primary_hypothesis.suspect == "postgres"


@pytest.mark.parametrize(
    "text",
    [
        'Sure.\n```json\n{"same_cause": true}\n```\nTo check:\n```bash\nkubectl get pods\n```',
        'Sure.\n```\n{"same_cause": true, "note": "ran ```kubectl```"}\n```',
        'Answer: ```JSON {"same_cause": true}```',
    ],
)
def test_json_is_found_in_the_fence_after_prose(text: str) -> None:
    class Answer(BaseModel):
        same_cause: bool

    assert parse_answer(text, Answer).same_cause is True


async def test_http_200_with_an_error_body_names_the_upstream_error(fake: FakeLLMServer) -> None:
    body = json.dumps({"error": {"message": "model 'llama3.1' not found, try pulling it first"}})
    result = await diagnose_once(fake, "openai_compatible", Reply(raw_body=body), attempts=1)

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert "answered 200 with an error: model 'llama3.1' not found" in result.fallback_reason


@pytest.mark.parametrize("backend", ["openai_compatible", "anthropic"])
async def test_stream_only_server_gets_a_clear_reason_without_retries(
    fake: FakeLLMServer, backend: str
) -> None:
    chunk = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": "{}"}}]}
    sse = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n"
    result = await diagnose_once(fake, backend, Reply(raw_body=sse, content_type="text/event-stream"))

    assert len(fake.requests) == 1
    assert result.backend == "builtin" and result.fallback_reason is not None
    assert "answered with an event stream" in result.fallback_reason
    assert "AttributeError" not in result.fallback_reason
