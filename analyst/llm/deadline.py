"""The overall time limit of one diagnosis's LLM work (llm.total_timeout_seconds)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from analyst.llm.errors import LLMCallError, LLMError


@dataclass(frozen=True)
class Deadline:
    """`seconds` after it was started (monotonic clock); every wait of the LLM work is capped by it."""

    seconds: float
    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(seconds, time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(self.at - time.monotonic(), 0.0)

    def expired_error(self, attempts: int, last: LLMError | None = None) -> LLMCallError:
        """The error the diagnosis falls back with once the deadline has passed (or a wait would pass it)."""
        message = f"the LLM did not answer within {self.seconds:g} s (llm.total_timeout_seconds)"
        error = LLMCallError(
            message if last is None else f"{message}; last error: {last}", outcome="timeout", retryable=False
        )
        error.attempts = attempts
        return error
