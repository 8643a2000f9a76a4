"""Anthropic Messages API through `anthropic.AsyncAnthropic` (2.x: Bearer auth, no sampling params)."""

from __future__ import annotations

from typing import Any

import anthropic

from analyst.llm.backend import Completion
from analyst.llm.errors import LLMCallError, LLMOutputError, status_error
from analyst.llm.settings import LLMSettings


class AnthropicBackend:
    """JSON outputs via `output_config`; thinking blocks are skipped, text blocks joined."""

    name = "anthropic"

    def __init__(self, settings: LLMSettings) -> None:
        self.model = settings.model_for("anthropic")
        self._max_tokens = settings.max_tokens
        self._client = anthropic.AsyncAnthropic(
            api_key=settings.resolve_api_key("anthropic"),
            base_url=settings.base_url_for("anthropic"),
            timeout=settings.timeout_seconds,
            max_retries=0,
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
        if message.stop_reason == "refusal":
            raise LLMOutputError("the model refused to answer")
        text = "".join(block.text for block in message.content if block.type == "text")
        usage = message.usage
        return Completion(
            text=text,
            model=message.model or self.model,
            tokens_in=(usage.input_tokens or 0)
            + (usage.cache_read_input_tokens or 0)
            + (usage.cache_creation_input_tokens or 0),
            tokens_out=usage.output_tokens or 0,
            stop_reason=message.stop_reason,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _call_error(exc: anthropic.APIError) -> LLMCallError:
    if isinstance(exc, anthropic.APITimeoutError):
        return LLMCallError(f"anthropic: timed out: {exc}", outcome="timeout")
    if isinstance(exc, anthropic.APIStatusError):
        return status_error("anthropic", exc.status_code, exc.response.headers, str(exc))
    return LLMCallError(f"anthropic: {exc}")
