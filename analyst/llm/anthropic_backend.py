"""Anthropic Messages API through `anthropic.AsyncAnthropic` (2.x: Bearer auth, no sampling params)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
from anthropic.types import Message, Usage

from analyst.llm.backend import Completion
from analyst.llm.errors import (
    LLMCallError,
    LLMConfigError,
    connection_error,
    not_json_error,
    status_error,
    undecodable_error,
)
from analyst.llm.settings import LLMSettings


class AnthropicBackend:
    """JSON outputs via `output_config`; thinking blocks are skipped, text blocks joined (a tool_use
    block's input is the answer when there is no text, as a gateway may turn it into one)."""

    name = "anthropic"

    def __init__(self, settings: LLMSettings) -> None:
        self.model = settings.model_for("anthropic")
        self._max_tokens = settings.max_tokens
        try:
            self._client = anthropic.AsyncAnthropic(
                api_key=settings.resolve_api_key("anthropic"),
                base_url=settings.base_url_for("anthropic"),
                timeout=settings.timeout_seconds,
                max_retries=0,
            )
        except anthropic.AnthropicError as exc:  # e.g. a broken profile under ANTHROPIC_CONFIG_DIR
            raise LLMConfigError(f"analyst.backend 'anthropic': no usable credentials: {exc}") from exc
        if not has_credentials(self._client):
            raise LLMConfigError(
                "analyst.backend 'anthropic' has no API key: set llm.api_key, llm.api_key_file, "
                "ANTHROPIC_API_KEY or ANTHROPIC_AUTH_TOKEN"
            )

    async def complete(self, system: str, user: str, schema: dict[str, Any], schema_name: str) -> Completion:
        try:
            message = await self._client.messages.create(
                model=self.model,
                max_tokens=self._max_tokens,
                system=system,
                messages=[{"role": "user", "content": user}],
                output_config={"format": {"type": "json_schema", "schema": schema}},
            )
        except anthropic.APIError as exc:
            raise _call_error(exc) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # the SDK decoding a broken 200 body
            raise undecodable_error(self.name, exc) from exc
        if not isinstance(message, Message):  # a stream or plain text the SDK hands back as str
            raise not_json_error("anthropic", str(message))
        tokens_in, tokens_out = usage_tokens(message.usage)
        text = answer_text(message)
        return Completion(
            text=text,
            model=message.model or self.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            stop_reason=message.stop_reason,
            empty_because="" if text.strip() else _where_the_text_went(message),
        )

    async def aclose(self) -> None:
        await self._client.close()


def has_credentials(client: anthropic.AsyncAnthropic) -> bool:
    """Whether the SDK resolved any credential (key, token, profile); without one every call fails."""
    return any(getattr(client, name, None) is not None for name in ("api_key", "auth_token", "credentials"))


def usage_tokens(usage: Usage | None) -> tuple[int, int]:
    """(input incl. cache reads and writes, output); gateways and local servers may omit any field."""
    if usage is None:
        return 0, 0
    tokens_in = (
        (usage.input_tokens or 0)
        + (usage.cache_read_input_tokens or 0)
        + (usage.cache_creation_input_tokens or 0)
    )
    return tokens_in, usage.output_tokens or 0


def answer_text(message: Message) -> str:
    """The text blocks joined; without any, the input of a tool_use block as JSON."""
    blocks = message.content or ()
    text = "".join(block.text for block in blocks if block.type == "text")
    if text.strip():
        return text
    tool_inputs = [block.input for block in blocks if block.type == "tool_use"]
    return json.dumps(tool_inputs[0]) if tool_inputs else text


def _where_the_text_went(message: Message) -> str:
    kinds = sorted({block.type for block in message.content or ()})
    if not kinds:
        return f"the message has no content blocks (stop_reason {message.stop_reason})"
    return f"the message has no text block, only {', '.join(kinds)} (stop_reason {message.stop_reason})"


def _call_error(exc: anthropic.APIError) -> LLMCallError:
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMCallError(f"anthropic: timed out: {exc}", outcome="timeout")
    if isinstance(exc, anthropic.APIConnectionError):
        return connection_error("anthropic", exc.request.url, exc)
    if isinstance(exc, anthropic.APIStatusError):
        detail = str(exc)
        if exc.status_code == 404 and "/v1/v1/" in exc.request.url.path:
            detail += "; llm.base_url for anthropic must not end in /v1 (the SDK adds /v1/messages)"
        return status_error("anthropic", exc.status_code, exc.response.headers, detail)
    return LLMCallError(f"anthropic: {exc}")
