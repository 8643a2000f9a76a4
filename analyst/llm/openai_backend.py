"""OpenAI Chat Completions through `openai.AsyncOpenAI`, for api.openai.com and compatible local servers.

Ollama, vLLM and llama.cpp speak the same API at their own base_url with a dummy key; they often know
only `max_tokens` and sometimes only `json_object` output, so both are settings.
"""

from __future__ import annotations

from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.completion_create_params import ResponseFormat

from analyst.llm.backend import Completion
from analyst.llm.errors import LLMCallError, LLMConfigError, LLMOutputError, not_json_error, status_error
from analyst.llm.settings import LLMSettings


class OpenAIBackend:
    """Structured output via `response_format` (json_schema strict, or json_object)."""

    def __init__(self, settings: LLMSettings, backend: Literal["openai", "openai_compatible"]) -> None:
        self.name: str = backend
        self.model = settings.model_for(backend)
        self._settings = settings
        self._max_tokens_param = settings.max_tokens_param or (
            "max_completion_tokens" if backend == "openai" else "max_tokens"
        )
        try:
            self._client = openai.AsyncOpenAI(
                api_key=settings.resolve_api_key(backend),
                base_url=settings.base_url_for(backend),
                timeout=settings.timeout_seconds,
                max_retries=0,
            )
        except openai.OpenAIError as exc:  # no key: neither llm.api_key(_file) nor OPENAI_API_KEY
            raise LLMConfigError(
                f"analyst.backend {backend!r} has no API key: set llm.api_key, llm.api_key_file or "
                "OPENAI_API_KEY"
            ) from exc

    async def complete(self, system: str, user: str, schema: dict[str, Any], schema_name: str) -> Completion:
        try:
            response = await self._client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                response_format=self._response_format(schema, schema_name),
                max_tokens=self._limit("max_tokens"),
                max_completion_tokens=self._limit("max_completion_tokens"),
                temperature=openai.omit if self._settings.temperature is None else self._settings.temperature,
            )
        except openai.APIError as exc:
            raise _call_error(self.name, exc) from exc
        if not isinstance(response, ChatCompletion):  # a stream or plain text the SDK hands back as str
            raise not_json_error(self.name, str(response))
        if not response.choices:
            raise _no_choices_error(self.name, response)
        choice = response.choices[0]
        usage = response.usage
        refusal = choice.message.refusal
        return Completion(
            text=refusal or choice.message.content or "",
            model=response.model or self.model,
            tokens_in=(usage.prompt_tokens or 0) if usage else 0,
            tokens_out=(usage.completion_tokens or 0) if usage else 0,
            stop_reason="refusal" if refusal else choice.finish_reason,
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _response_format(self, schema: dict[str, Any], schema_name: str) -> ResponseFormat:
        if self._settings.response_format == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True, "schema": schema}}

    def _limit(self, param: str) -> int | openai.Omit:
        """The token limit under the one parameter name this server understands."""
        return self._settings.max_tokens if param == self._max_tokens_param else openai.omit


def _call_error(backend: str, exc: openai.APIError) -> LLMCallError:
    if isinstance(exc, openai.APITimeoutError):
        return LLMCallError(f"{backend}: timed out: {exc}", outcome="timeout")
    if isinstance(exc, openai.APIStatusError):
        return status_error(backend, exc.status_code, exc.response.headers, str(exc))
    return LLMCallError(f"{backend}: {exc}")


def _no_choices_error(backend: str, response: ChatCompletion) -> LLMCallError | LLMOutputError:
    """A 200 without choices; its `error` (some gateways and local servers answer errors so) is named."""
    error: object = getattr(response, "error", None)
    if isinstance(error, dict):
        error = error.get("message") or error
    if error:
        return LLMCallError(f"{backend}: the server answered 200 with an error: {str(error)[:300]}")
    return LLMOutputError(f"{backend}: the response has no choices")
