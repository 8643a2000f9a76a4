"""Fake LLM APIs on 127.0.0.1: OpenAI `POST /v1/chat/completions` and Anthropic `POST /v1/messages`.

Replies are scripted per request (FIFO, the last one repeats), or computed by a `responder`; every
request's raw body and headers are recorded so tests can assert on exactly what left the process.
With `count_tokens`, usage reports tokens counted from the request and reply text (one per 4 bytes,
a common tokenizer average) instead of the scripted numbers.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from analyst.diagnosis import ANALYSIS_STEPS, AnalysisStep, Category, DiagnosisResult, Hypothesis
from analyst.evidence import AlertInfo, Evidence, SeriesEvidence


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a model text (with optional thinking block), or an HTTP error."""

    text: str | None = None
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    error_body: dict[str, Any] | None = None
    delay_seconds: float = 0.0
    thinking_first: bool = False
    tokens_in: int = 100
    tokens_out: int = 50
    include_usage: bool = True  # False: no `usage` in the answer (local servers, some gateways)
    stop_reason: str | None = None  # OpenAI finish_reason / Anthropic stop_reason; None: stop / end_turn
    refusal: str | None = None  # OpenAI `message.refusal`
    raw_body: str | None = None  # sent as is with `content_type` and status 200 (odd servers)
    content_type: str = "application/json"


def answer(text: str, **kwargs: Any) -> Reply:
    return Reply(text=text, **kwargs)


def error(status: int, headers: dict[str, str] | None = None, message: str = "scripted failure") -> Reply:
    return Reply(status=status, headers=headers or {}, error_body={"message": message})


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


class FakeLLMServer:
    """`async with FakeLLMServer() as fake:`, then point an SDK at its openai or anthropic base URL."""

    def __init__(
        self, responder: Callable[[RecordedRequest], Reply] | None = None, *, count_tokens: bool = False
    ) -> None:
        self.responder = responder
        self.count_tokens = count_tokens
        self.tokens: list[tuple[int, int]] = []  # (in, out) of every answered request
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._last = Reply(text="{}")
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_post("/v1/messages", self._messages)
        self._server = TestServer(app, host="127.0.0.1")

    async def __aenter__(self) -> FakeLLMServer:
        await self._server.start_server()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._server.close()

    @property
    def root_url(self) -> str:
        return str(self._server.make_url("")).rstrip("/")

    @property
    def openai_base_url(self) -> str:
        return self.root_url + "/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.root_url

    def enqueue(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def all_bodies(self) -> bytes:
        return b"\n".join(r.body for r in self.requests)

    async def _next_reply(self, request: web.Request) -> tuple[Reply | None, web.Response | None]:
        body = await request.read()
        self.requests.append(RecordedRequest(request.path, dict(request.headers), body))
        authorization = request.headers.get("Authorization", "")
        if not (request.headers.get("x-api-key") or authorization.startswith("Bearer ")):
            return None, web.json_response({"error": {"message": "missing credentials"}}, status=401)
        if self._script:
            self._last = self._script.popleft()
        elif self.responder is not None:
            self._last = self.responder(self.requests[-1])
        reply = self._last
        if self.count_tokens and reply.text is not None:
            reply = replace(
                reply, tokens_in=count_tokens(body), tokens_out=math.ceil(len(reply.text.encode()) / 4)
            )
        if reply.status == 200:
            self.tokens.append((reply.tokens_in, reply.tokens_out))
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        return reply, None

    async def _chat_completions(self, request: web.Request) -> web.Response:
        reply, refused = await self._next_reply(request)
        if refused is not None or reply is None:
            return refused or web.Response(status=500)
        if reply.status != 200:
            body = {"error": {"type": "scripted", "param": None, "code": None, **(reply.error_body or {})}}
            return web.json_response(body, status=reply.status, headers=reply.headers)
        if reply.raw_body is not None:
            return web.Response(text=reply.raw_body, content_type=reply.content_type, headers=reply.headers)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text}
        if reply.refusal is not None:
            message["refusal"] = reply.refusal
        payload: dict[str, Any] = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": request_model(self.requests[-1]),
            "choices": [{"index": 0, "message": message, "finish_reason": reply.stop_reason or "stop"}],
        }
        if reply.include_usage:
            payload["usage"] = {
                "prompt_tokens": reply.tokens_in,
                "completion_tokens": reply.tokens_out,
                "total_tokens": reply.tokens_in + reply.tokens_out,
            }
        return web.json_response(payload, headers=reply.headers)

    async def _messages(self, request: web.Request) -> web.Response:
        reply, refused = await self._next_reply(request)
        if refused is not None or reply is None:
            return refused or web.Response(status=500)
        if reply.status != 200:
            body = {"type": "error", "error": {"type": "api_error", **(reply.error_body or {})}}
            return web.json_response(body, status=reply.status, headers=reply.headers)
        if reply.raw_body is not None:
            return web.Response(text=reply.raw_body, content_type=reply.content_type, headers=reply.headers)
        content: list[dict[str, Any]] = []
        if reply.thinking_first:
            content.append({"type": "thinking", "thinking": "", "signature": "sig-1"})
        content.append({"type": "text", "text": reply.text})
        payload: dict[str, Any] = {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": request_model(self.requests[-1]),
            "content": content,
            "stop_reason": reply.stop_reason or "end_turn",
            "stop_sequence": None,
        }
        if reply.include_usage:
            payload["usage"] = {"input_tokens": reply.tokens_in, "output_tokens": reply.tokens_out}
        return web.json_response(payload, headers=reply.headers)


def count_tokens(data: bytes) -> int:
    """Tokens of a request or answer, one per 4 bytes of its message text (or of the raw body)."""
    try:
        body = json.loads(data)
    except ValueError:
        return math.ceil(len(data) / 4)
    if not isinstance(body, dict):
        return math.ceil(len(data) / 4)
    texts = [str(body.get("system") or "")]
    for message in body.get("messages") or ():
        content = message.get("content")
        texts.append(content if isinstance(content, str) else json.dumps(content))
    return math.ceil(len("".join(texts).encode()) / 4)


def prompt_text(request: RecordedRequest) -> str:
    """System and user text of an OpenAI or Anthropic request."""
    body = request.json
    parts = [str(body.get("system") or "")]
    parts += [str(m.get("content")) for m in body.get("messages") or ()]
    return "\n".join(parts)


def request_model(request: RecordedRequest) -> str:
    return str(request.json.get("model", "unknown"))


# --- Test data: evidence, a deterministic stand-in for the built-in analyst, model answers ---------


class FixedAnalyst:
    """Deterministic Analyst standing in for the built-in one (so these tests don't depend on it)."""

    name = "builtin"

    def __init__(self, supporting: tuple[str, ...] = ("p99 latency up 4x",)) -> None:
        self.calls = 0
        self._supporting = supporting

    async def diagnose(self, evidence: Evidence) -> DiagnosisResult:
        self.calls += 1
        return DiagnosisResult(
            incident_id=evidence.incident_id,
            timestamp=1_700_000_000.0,
            primary_hypothesis=Hypothesis(
                "CPU saturation on api", Category.RESOURCE_CPU, "api", 0.6, self._supporting
            ),
            alternative_hypotheses=(Hypothesis("Traffic surge", Category.TRAFFIC_SURGE, "frontend", 0.3),),
            executive_summary="api ran out of CPU.",
            detailed_analysis=tuple(AnalysisStep(step, "builtin") for step in ANALYSIS_STEPS),
            immediate_actions=("scale api",),
            preventive_measures=(),
            monitoring_recommendations=(),
            analysis_duration=0.01,
            llm_model_used=None,
            confidence_score=0.6,
        )


def make_series(index: int, **overrides: Any) -> SeriesEvidence:
    fields: dict[str, Any] = {
        "series_id": f'http_request_duration_seconds{{service="svc-{index}",pod="svc-{index}-7d9f"}}',
        "metric": "http_request_duration_seconds",
        "labels": {"service": f"svc-{index}", "pod": f"svc-{index}-7d9f"},
        "role": "related",
        "anomalous": index % 2 == 0,
        "anomaly_type": "LATENCY_SPIKE" if index % 2 == 0 else None,
        "onset": 1_700_000_000.0 - 60 + index,
        "direction": "up",
        "magnitude": 2.5 + index / 100,
        "baseline": 0.12,
        "current": 0.48,
        "z_score": 6.1,
        "p_value": 0.0004,
        "score": 1.0 - index / 1000,
        "correlation": 0.8,
        "lag_seconds": 30.0,
        "component": f"svc-{index}",
        "points": 120,
    }
    fields.update(overrides)
    return SeriesEvidence(**fields)


def make_evidence(
    n_series: int = 4,
    *,
    incident_id: str = "inc-1",
    alertname: str = "HighLatency",
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    series: tuple[SeriesEvidence, ...] | None = None,
    topology: dict[str, tuple[str, ...]] | None = None,
    notes: tuple[str, ...] = (),
) -> Evidence:
    alert = AlertInfo(
        alertname=alertname,
        status="firing",
        labels={"alertname": alertname, "service": "api", "severity": "page", **(labels or {})},
        annotations={"summary": "p99 latency above 1s", **(annotations or {})},
        starts_at=1_700_000_000.0,
        severity="page",
        expr="histogram_quantile(0.99, rate(http_request_duration_seconds_bucket[5m])) > 1",
    )
    return Evidence(
        incident_id=incident_id,
        alert=alert,
        series=series if series is not None else tuple(make_series(i) for i in range(n_series)),
        window_start=1_700_000_000.0 - 3600,
        window_end=1_700_000_000.0 + 300,
        topology=topology or {"api": ("postgres",)},
        notes=notes,
    )


def answer_dict(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "primary_hypothesis": {
            "title": "Postgres connection pool exhausted",
            "category": "dependency.database",
            "suspect": "postgres",
            "confidence": 0.7,
            "supporting_evidence": ["pool wait time rose 30 s before latency"],
            "contradicting_evidence": [],
        },
        "alternative_hypotheses": [
            {
                "title": "CPU saturation on api",
                "category": "resource.cpu",
                "suspect": "api",
                "confidence": 0.2,
                "supporting_evidence": [],
                "contradicting_evidence": ["CPU rose after latency"],
            }
        ],
        "executive_summary": "The database pool ran out, so requests queued.",
        "detailed_analysis": [{"step": step, "findings": f"{step} findings"} for step in ANALYSIS_STEPS],
        "immediate_actions": ["Raise the pool size"],
        "preventive_measures": ["Alert on pool saturation"],
        "monitoring_recommendations": ["Graph pool wait time"],
        "confidence_score": 0.7,
    }
    data.update(overrides)
    return data


def answer_json(**overrides: Any) -> str:
    return json.dumps(answer_dict(**overrides))
