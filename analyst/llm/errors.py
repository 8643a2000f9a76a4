"""Errors of the LLM analyst; each carries the outcome label it is counted under."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from analyst.errors import AnalystError
from analyst.retry_after import retry_after_seconds


class LLMError(AnalystError):
    """Base class for LLM backend failures (the analyst falls back to the built-in result)."""

    outcome = "error"
    retryable = True
    retry_after: float | None = None
    attempts = 1


class LLMCallError(LLMError):
    """The API call failed: connection, timeout or an HTTP error status."""

    def __init__(
        self,
        message: str,
        *,
        outcome: str = "error",
        retryable: bool = True,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class LLMOutputError(LLMError):
    """The model answered, but not with JSON that validates against the diagnosis schema."""

    outcome = "invalid_output"


class LLMStopError(LLMOutputError):
    """The model stopped early (cut at max_tokens, refused, content filtered): asking again won't help."""

    retryable = False

    def __init__(self, message: str, *, outcome: str) -> None:
        super().__init__(message)
        self.outcome = outcome


class LLMConfigError(LLMError):
    """The llm.* settings cannot work (unknown backend, unreadable key file...)."""

    retryable = False


def not_json_error(backend: str, text: str) -> LLMCallError:
    """A 200 whose body is not JSON, which the SDK hands back as text: an event stream (a server or proxy
    that always streams) or plain text. Asking again gets the same: not retried."""
    if text.lstrip().startswith(("data:", "event:")):
        detail = "an event stream (text/event-stream), but no stream was asked for: turn streaming off"
    else:
        detail = f"text, not JSON: {text.strip()[:100]!r}"
    return LLMCallError(f"{backend}: the server answered with {detail}", retryable=False)


def status_error(backend: str, status: int, headers: Mapping[str, str], detail: str) -> LLMCallError:
    """Map an HTTP error status to a countable LLMCallError; 408, 409, 429 and 5xx are retryable."""
    return LLMCallError(
        f"{backend}: HTTP {status}: {detail}",
        outcome="rate_limited" if status == 429 else "error",
        retryable=status in (408, 409, 429) or status >= 500,
        retry_after=retry_after_seconds(headers),
        status=status,
    )


def retry_after_too_long(error: LLMError, delay: float, limit: float) -> LLMCallError:
    """`error` as the last attempt's: its Retry-After asks for a longer wait than the analyst may take."""
    return LLMCallError(
        f"{error}; not retried: Retry-After {delay:g} s > llm.max_retry_after_seconds ({limit:g} s)",
        outcome=error.outcome,
        retryable=False,
        retry_after=delay,
        status=getattr(error, "status", None),
    )


def undecodable_error(backend: str, exc: UnicodeDecodeError | json.JSONDecodeError) -> LLMCallError:
    """A 200 whose body the SDK cannot decode: bytes that are not UTF-8, or broken JSON under a JSON
    content type. Like `not_json_error`, not retried."""
    if isinstance(exc, UnicodeDecodeError):
        detail = (
            f"bytes that are not UTF-8 ({exc.reason} at byte {exc.start}): the server's encoding is broken"
        )
    else:
        detail = f"broken JSON ({exc.msg} at char {exc.pos})"
    return LLMCallError(f"{backend}: the server answered with {detail}", retryable=False)


def connection_error(backend: str, url: object, exc: BaseException) -> LLMCallError:
    """The server at `url` could not be reached; the SDK's own text ("Connection error.") names neither
    the address nor the cause."""
    cause = f"{str(exc).rstrip('.')}: {exc.__cause__}" if exc.__cause__ else str(exc)
    return LLMCallError(
        f"{backend}: cannot connect to {host_port(str(url))} ({cause.strip()}): "
        "check llm.base_url and that the server is running"
    )


def host_port(url: str) -> str:
    """host:port of `url`, the scheme's default port spelled out."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{port}" if port else host


def body_excerpt(body: object, limit: int = 200) -> str:
    """The start of an error body that is text (an HTML or plain-text page), on one line."""
    return re.sub(r"\s+", " ", body).strip()[:limit] if isinstance(body, str) else ""
