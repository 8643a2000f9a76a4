"""Why the model stopped (OpenAI `finish_reason`, Anthropic `stop_reason`): answers cut short or refused.

Asking again with the same prompt gets the same cut or refusal at the same cost, so these are not retried.
"""

from __future__ import annotations

from analyst.llm.answer import display_text
from analyst.llm.backend import Completion
from analyst.llm.errors import LLMStopError

CUT_AT_MAX_TOKENS = frozenset({"length", "max_tokens"})
CONTEXT_FULL = "model_context_window_exceeded"
REFUSED = frozenset({"refusal", "content_filter"})


def refusal_error(completion: Completion) -> LLMStopError | None:
    """An error for a refused or content-filtered answer; None for any other stop reason."""
    reason = completion.stop_reason
    if reason not in REFUSED:
        return None
    if reason == "content_filter":
        return LLMStopError(
            "the provider's content filter withheld the answer (content_filter)", outcome="refused"
        )
    said = display_text(completion.text, 200)
    message = f"the model declined to answer{': ' if said else ''}{said}"
    return LLMStopError(message, outcome="refused")


def truncation_error(stop_reason: str | None, max_tokens: int) -> LLMStopError | None:
    """An error for an answer cut before its end (only asked when the answer did not parse)."""
    if stop_reason in CUT_AT_MAX_TOKENS:
        return LLMStopError(
            f"the answer was cut at max_tokens ({max_tokens}, stop reason {stop_reason}): "
            "raise llm.max_tokens",
            outcome="truncated",
        )
    if stop_reason == CONTEXT_FULL:
        return LLMStopError(
            f"the answer was cut: prompt plus max_tokens ({max_tokens}) exceed the model's context window: "
            "lower llm.max_tokens or llm.prompt_token_budget",
            outcome="truncated",
        )
    return None
