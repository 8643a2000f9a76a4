"""OpenAI Chat Completions through `openai.AsyncOpenAI`, for api.openai.com and compatible local servers.

Ollama, vLLM and llama.cpp speak the same API at their own base_url with a dummy key; they often know
only `max_tokens` and sometimes only `json_object` output (or no `response_format` at all), so both are
settings, and an error the server gives for either names the setting to change.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import openai
from openai.types.chat import ChatCompletion
from openai.types.chat.chat_completion import Choice
from openai.types.chat.completion_create_params import ResponseFormat

from analyst.llm.backend import Completion
from analyst.llm.errors import (
    LLMCallError,
    LLMConfigError,
    LLMOutputError,
    body_excerpt,
    connection_error,
    not_json_error,
    status_error,
    undecodable_error,
)
from analyst.llm.settings import RESPONSE_FORMATS, LLMSettings, ResponseFormatMode


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
            raise self._call_error(exc) from exc
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:  # the SDK decoding a broken 200 body
            raise undecodable_error(self.name, exc) from exc
        if not isinstance(response, ChatCompletion):  # a stream or plain text the SDK hands back as str
            raise not_json_error(self.name, str(response))
        if not response.choices:
            raise _no_choices_error(self.name, response)
        choice = response.choices[0]
        usage = response.usage
        refusal = choice.message.refusal
        text = refusal or choice.message.content or ""
        return Completion(
            text=text,
            model=response.model or self.model,
            tokens_in=(usage.prompt_tokens or 0) if usage else 0,
            tokens_out=(usage.completion_tokens or 0) if usage else 0,
            stop_reason="refusal" if refusal else choice.finish_reason,
            empty_because="" if text.strip() else _where_the_text_went(choice),
        )

    async def aclose(self) -> None:
        await self._client.close()

    def _response_format(self, schema: dict[str, Any], schema_name: str) -> ResponseFormat | openai.Omit:
        if self._settings.response_format == "none":
            return openai.omit
        if self._settings.response_format == "json_object":
            return {"type": "json_object"}
        return {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True, "schema": schema}}

    def _limit(self, param: str) -> int | openai.Omit:
        """The token limit under the one parameter name this server understands."""
        return self._settings.max_tokens if param == self._max_tokens_param else openai.omit

    def _call_error(self, exc: openai.APIError) -> LLMCallError:
        if isinstance(exc, openai.APITimeoutError):
            return LLMCallError(f"{self.name}: timed out: {exc}", outcome="timeout")
        if isinstance(exc, openai.APIConnectionError):
            return connection_error(self.name, exc.request.url, exc)
        if isinstance(exc, openai.APIStatusError):
            return status_error(self.name, exc.status_code, exc.response.headers, self._status_detail(exc))
        return LLMCallError(f"{self.name}: {exc}")

    def _status_detail(self, exc: openai.APIStatusError) -> str:
        """The SDK's text, plus a plain-text body it leaves out, the URL of a 404 and what to set."""
        detail = str(exc)
        excerpt = body_excerpt(exc.body)
        if excerpt and excerpt not in detail:
            detail = f"{detail} - {excerpt}"
        if exc.status_code == 404:
            detail = f"{detail} (POST {exc.request.url})"
            if "/v1/" not in exc.request.url.path:
                detail += "; llm.base_url usually ends in /v1 for OpenAI-compatible servers"
        elif exc.status_code == 400 and "response_format" in detail.lower():
            detail += f"; {_response_format_advice(self._settings.response_format, detail)}"
        return detail


def _response_format_advice(current: ResponseFormatMode, message: str) -> str:
    """What to set when the server rejects the `response_format` sent: a mode its message names, else
    the next weaker one."""
    lowered = message.lower()
    named = [mode for mode in RESPONSE_FORMATS if mode not in (current, "none") and mode in lowered]
    choices = named or RESPONSE_FORMATS[RESPONSE_FORMATS.index(current) + 1 :]
    if not choices:
        return "check llm.response_format"
    return f"the server rejects llm.response_format {current}: set llm.response_format: {choices[0]}"


def _no_choices_error(backend: str, response: ChatCompletion) -> LLMCallError | LLMOutputError:
    """A 200 without choices; its `error` (some gateways and local servers answer errors so) is named,
    and retried only when its code says it may pass (429, 5xx)."""
    error: object = getattr(response, "error", None)
    code = error.get("code") if isinstance(error, dict) else None
    if isinstance(error, dict):
        error = error.get("message") or error
    if error:
        passing = isinstance(code, int) and (code == 429 or code >= 500)
        return LLMCallError(
            f"{backend}: the server answered 200 with an error: {str(error)[:300]}",
            retryable=passing,
        )
    return LLMOutputError(f"{backend}: the response has no choices (and no error saying why)")


def _where_the_text_went(choice: Choice) -> str:
    """Why a choice's message has no text: the answer sits in reasoning_content, in a tool call, or
    nowhere."""
    message = choice.message
    for field in ("reasoning_content", "reasoning"):
        reasoning = getattr(message, field, None)
        if isinstance(reasoning, str) and reasoning.strip():
            return (
                f"message.content is empty and the text went to message.{field} ({len(reasoning)} chars):"
                " the server's reasoning parser took it all (a thinking model that never ended its thinking;"
                " raise llm.max_tokens or turn thinking off)"
            )
    if message.tool_calls:
        names = ", ".join(
            getattr(getattr(call, "function", None), "name", "?") for call in message.tool_calls
        )
        return f"message.content is empty and the answer came as a tool call ({names})"
    empty = "null" if message.content is None else "empty"
    return f"message.content is {empty} (finish_reason {choice.finish_reason})"
