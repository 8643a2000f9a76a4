"""Anthropic Messages API through `anthropic.AsyncAnthropic` (2.x: Bearer auth, no sampling params)."""

from __future__ import annotations

from typing import Any

import anthropic
from anthropic.types import Message, Usage

from analyst.llm.backend import Completion
from analyst.llm.errors import LLMCallError, LLMConfigError, not_json_error, status_error
from analyst.llm.settings import LLMSettings


class AnthropicBackend:
    """JSON outputs via `output_config`; thinking blocks are skipped, text blocks joined."""

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
        if not isinstance(message, Message):  # a stream or plain text the SDK hands back as str
            raise not_json_error("anthropic", str(message))
        tokens_in, tokens_out = usage_tokens(message.usage)
        return Completion(
            text="".join(block.text for block in message.content or () if block.type == "text"),
            model=message.model or self.model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            stop_reason=message.stop_reason,
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


def _call_error(exc: anthropic.APIError) -> LLMCallError:
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMCallError(f"anthropic: timed out: {exc}", outcome="timeout")
    if isinstance(exc, anthropic.APIStatusError):
        return status_error("anthropic", exc.status_code, exc.response.headers, str(exc))
    return LLMCallError(f"anthropic: {exc}")
