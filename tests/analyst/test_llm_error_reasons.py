"""A failed LLM call's fallback reason says what to change: the URL of a 404 (and that llm.base_url
usually ends in /v1), the llm.response_format to set when the server rejects it, the address it could not
connect to, where the text of an empty answer went, what a body that does not decode is, and that a
Retry-After longer than llm.max_retry_after_seconds is why it stopped."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from analyst.llm import LLMAnalyst
from demo.processes import free_port
from tests.analyst.test_llm_analyst import diagnose_once, settings_for
from tests.fakes.llm import (
    FakeLLMServer,
    FixedAnalyst,
    Reply,
    answer,
    answer_dict,
    answer_json,
    error,
    make_evidence,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def chat_completion(message: dict[str, Any]) -> str:
    choice = {"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}
    return json.dumps(
        {"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": [choice]}
    )


def anthropic_message(content: list[dict[str, Any]], stop_reason: str = "end_turn") -> str:
    return json.dumps(
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-sonnet-5-5",
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5},
        }
    )


# --- 404: the URL asked for, and the /v1 that is usually missing ------------------------------------


async def test_a_404_for_a_base_url_without_v1_names_the_url_and_the_v1(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "openai_compatible", base_url=fake.root_url)

    assert result.backend == "builtin" and fake.requests == []
    assert result.fallback_reason == (
        "error after 1 attempt(s): openai_compatible: HTTP 404: Error code: 404 - 404: Not Found "
        f"(POST {fake.root_url}/chat/completions); llm.base_url usually ends in /v1 for OpenAI-compatible "
        "servers"
    )


async def test_a_404_under_v1_names_the_url_without_the_hint(fake: FakeLLMServer) -> None:
    missing_model = error(404, message='model "llama3.1" not found, try pulling it first')
    result = await diagnose_once(fake, "openai_compatible", missing_model)

    assert result.fallback_reason is not None
    assert 'model "llama3.1" not found' in result.fallback_reason
    assert f"(POST {fake.openai_base_url}/chat/completions)" in result.fallback_reason
    assert "/v1 for OpenAI-compatible" not in result.fallback_reason


async def test_an_anthropic_base_url_ending_in_v1_is_named_in_its_404(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", base_url=fake.root_url + "/v1")

    assert result.fallback_reason is not None and "/v1/v1/messages" in result.fallback_reason
    assert "llm.base_url for anthropic must not end in /v1" in result.fallback_reason


# --- 400 for response_format: the setting, and what to set it to ---------------------------------


@pytest.mark.parametrize(
    ("configured", "message", "advice"),
    [
        ("json_schema", "'response_format.type' must be 'json_object' or 'text'", "json_object"),
        ("json_object", "'response_format.type' must be 'json_schema' or 'text'", "json_schema"),  # LM Studio
        ("json_schema", "response_format is not supported by this server", "json_object"),
        ("json_object", "response_format is not supported by this server", "none"),
    ],
)
async def test_a_rejected_response_format_names_the_setting_to_change(
    fake: FakeLLMServer, configured: str, message: str, advice: str
) -> None:
    result = await diagnose_once(
        fake, "openai_compatible", error(400, message=message), response_format=configured
    )

    assert len(fake.requests) == 1 and result.fallback_reason is not None
    assert result.fallback_reason.endswith(
        f"{message}; the server rejects llm.response_format {configured}: set llm.response_format: {advice}"
    )


async def test_response_format_none_sends_none_and_the_answer_is_used(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer(answer_json()), response_format="none")

    assert "response_format" not in fake.requests[0].json
    assert result.backend == "openai_compatible"


# --- connection errors: the address --------------------------------------------------------------


@pytest.mark.parametrize("backend", ["openai_compatible", "anthropic"])
async def test_a_refused_connection_names_the_address(backend: str, fake: FakeLLMServer) -> None:
    port = free_port()
    result = await diagnose_once(fake, backend, base_url=f"http://127.0.0.1:{port}/v1", attempts=1)

    assert result.fallback_reason is not None
    assert f"{backend}: cannot connect to 127.0.0.1:{port} (" in result.fallback_reason
    assert result.fallback_reason.endswith("check llm.base_url and that the server is running")


# --- answers without text: where it went ------------------------------------------------------------


@pytest.mark.parametrize(
    ("backend", "body", "reason"),
    [
        (
            "openai_compatible",
            chat_completion({"content": None}),
            "message.content is null (finish_reason stop)",
        ),
        (
            "openai_compatible",
            chat_completion({"content": None, "reasoning_content": "thinking... " + answer_json()}),
            "message.content is empty and the text went to message.reasoning_content (",
        ),
        (
            "openai_compatible",
            chat_completion(
                {
                    "content": "",
                    "tool_calls": [
                        {"id": "t1", "type": "function", "function": {"name": "report", "arguments": "{}"}}
                    ],
                }
            ),
            "message.content is empty and the answer came as a tool call (report)",
        ),
        (
            "openai_compatible",
            json.dumps({"id": "c", "object": "chat.completion", "created": 1, "model": "m", "choices": []}),
            "the response has no choices (and no error saying why)",
        ),
        ("anthropic", anthropic_message([]), "the message has no content blocks (stop_reason end_turn)"),
        (
            "anthropic",
            anthropic_message([{"type": "thinking", "thinking": "hmm", "signature": "s"}]),
            "the message has no text block, only thinking (stop_reason end_turn)",
        ),
    ],
    ids=["content-null", "reasoning-content", "tool-call", "no-choices", "no-blocks", "only-thinking"],
)
async def test_an_answer_without_text_says_where_the_text_went(
    fake: FakeLLMServer, backend: str, body: str, reason: str
) -> None:
    result = await diagnose_once(fake, backend, Reply(raw_body=body), attempts=1)

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert reason in result.fallback_reason


async def test_an_anthropic_tool_use_block_is_the_answer(fake: FakeLLMServer) -> None:
    body = anthropic_message(
        [{"type": "tool_use", "id": "toolu_1", "name": "report_diagnosis", "input": answer_dict()}],
        stop_reason="tool_use",
    )
    result = await diagnose_once(fake, "anthropic", Reply(raw_body=body))

    assert len(fake.requests) == 1 and result.backend == "anthropic"
    assert result.primary_hypothesis.suspect == "postgres"


@pytest.mark.parametrize(("code", "requests"), [(None, 1), ("model_not_found", 1), (502, 3)])
async def test_a_200_with_an_error_is_retried_only_when_its_code_may_pass(
    fake: FakeLLMServer, code: Any, requests: int
) -> None:
    body = json.dumps({"error": {"message": "model 'llama3.1' not found", "code": code}})
    result = await diagnose_once(fake, "openai_compatible", Reply(raw_body=body))

    assert len(fake.requests) == requests
    assert result.fallback_reason is not None and "answered 200 with an error" in result.fallback_reason


# --- a body that does not decode: an error with a reason, not a crash ---------------------------------


def broken_body_server(body: bytes) -> TestServer:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    app.router.add_post("/v1/messages", handler)
    return TestServer(app, host="127.0.0.1")


NOT_UTF8 = chat_completion({"content": "caf@@"}).encode().replace(b"@@", b"\xff\xfe")


@pytest.mark.parametrize(
    ("backend", "body", "reason"),
    [
        (
            "openai_compatible",
            NOT_UTF8,
            "answered with bytes that are not UTF-8 (invalid start byte at byte ",
        ),
        ("anthropic", NOT_UTF8, "answered with bytes that are not UTF-8"),
        ("openai_compatible", b'{"id": "c", oops', "answered with broken JSON (Expecting property name"),
    ],
)
async def test_a_body_that_does_not_decode_is_an_error_not_a_crash(
    fake: FakeLLMServer, backend: str, body: bytes, reason: str
) -> None:
    server = broken_body_server(body)
    await server.start_server()
    root = str(server.make_url("")).rstrip("/")
    settings = settings_for(fake, backend, base_url=root if backend == "anthropic" else root + "/v1")
    analyst = LLMAnalyst(settings, backend, FixedAnalyst())
    try:
        with capture_logs() as logs:
            result = await analyst.diagnose(make_evidence())
    finally:
        await analyst.aclose()
        await server.close()

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert result.fallback_reason.startswith("error after 1 attempt(s): ")
    assert reason in result.fallback_reason
    assert "UnicodeDecodeError" not in result.fallback_reason
    assert not [entry for entry in logs if entry["event"] == "llm_backend_crashed"]


# --- Retry-After beyond the cap: that is why it stopped -----------------------------------------


async def test_a_retry_after_beyond_the_cap_says_so(fake: FakeLLMServer) -> None:
    result = await diagnose_once(
        fake, "openai_compatible", error(429, {"Retry-After": "3600"}, "rate limited")
    )

    assert len(fake.requests) == 1
    assert result.fallback_reason == (
        "rate_limited after 1 attempt(s): openai_compatible: HTTP 429: Error code: 429 - rate limited; "
        "not retried: Retry-After 3600 s > llm.max_retry_after_seconds (60 s)"
    )
