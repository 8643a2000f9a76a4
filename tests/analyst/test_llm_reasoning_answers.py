"""Answers of reasoning models and chatty local models: a `<think>` block before the JSON, or prose before
or after a bare JSON object, is a complete answer, used at the first attempt; the drafts inside the
thinking are never taken for the answer."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator

import pytest

from analyst.llm import LLMOutputError
from analyst.llm.answer import parse_answer
from analyst.schema import LLMAnswer
from tests.analyst.test_llm_analyst import diagnose_once
from tests.fakes.llm import FakeLLMServer, answer, answer_dict, answer_json

ANSWER = answer_json()
INDENTED = json.dumps(answer_dict(), indent=2)
# A whole, valid answer drafted inside the thinking, with another suspect than the real one (postgres).
DRAFT = answer_json(primary_hypothesis={**answer_dict()["primary_hypothesis"], "suspect": "draft-suspect"})


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.mark.parametrize(
    "text",
    [
        "<think>\nThe user wants a diagnosis. Let me see {the pool}... JSON it is.\n</think>\n\n" + ANSWER,
        '<think>\nThe JSON should look like {"title": ...}. ok\n</think>\n' + ANSWER,
        "<think>\nOkay.\n</think>\n\n" + INDENTED,  # Ollama + qwen3 in json_object mode
        "Okay, the pool is saturated, so the answer is clear.\n</think>\n\n" + ANSWER,  # template's <think>
        "<THINKING>hmm</THINKING>" + ANSWER,
        "Here is the diagnosis in JSON:\n" + ANSWER,
        ANSWER + "\n\nLet me know if you need more detail.",
        'Using {"window": "5m"} as the range, I found:\n' + INDENTED + "\nHope it helps.",
    ],
    ids=[
        "think",
        "think-with-braces",
        "think-indented-json",
        "closing-tag-only",
        "thinking-tag",
        "leading-prose",
        "trailing-prose",
        "small-object-before",
    ],
)
async def test_a_complete_answer_around_thinking_or_prose_is_used_at_once(
    fake: FakeLLMServer, text: str
) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer(text), response_format="json_object")

    assert len(fake.requests) == 1
    assert result.backend == "openai_compatible" and result.fallback_reason is None
    assert result.primary_hypothesis.suspect == "postgres"


@pytest.mark.parametrize(
    "text",
    [
        "<think>\nI must output something like ```json\n" + DRAFT + "\n``` with all fields.\n</think>\n"
        "```json\n" + ANSWER + "\n```",
        "<think>\nA draft: " + DRAFT + "\nNo, postgres fits better.\n</think>\n" + ANSWER,
    ],
    ids=["fenced-draft", "bare-draft"],
)
async def test_a_draft_inside_the_thinking_is_not_taken_for_the_answer(
    fake: FakeLLMServer, text: str
) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer(text))

    assert result.backend == "openai_compatible"
    assert result.primary_hypothesis.suspect == "postgres"


async def test_anthropic_text_with_thinking_before_the_json_is_used(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "anthropic", answer("<think>short</think>\n" + ANSWER))

    assert len(fake.requests) == 1 and result.backend == "anthropic"


async def test_thinking_without_an_answer_after_it_is_named(fake: FakeLLMServer) -> None:
    result = await diagnose_once(
        fake, "openai_compatible", answer("<think>\nFirst, a draft: " + DRAFT), attempts=1
    )

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert "returned only its thinking" in result.fallback_reason


async def test_a_broken_answer_after_prose_still_says_where_its_json_breaks(fake: FakeLLMServer) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer('Here:\n{"primary": oops}'), attempts=1)

    assert result.fallback_reason == (
        "invalid_output after 1 attempt(s): the answer is not JSON (Expecting value at char 18)"
    )


def test_a_long_answer_cut_short_amid_prose_is_refused_quickly() -> None:
    """Every `{` of a cut answer (PromQL in its strings, objects inside it) is no start of a rescan."""
    summary = 'rate(http_requests_total{job="api"}[5m]) {"x": 1} {the pool} ' * 20_000
    cut = "Here is the diagnosis:\n" + answer_json(executive_summary=summary)[:-300]
    started = time.perf_counter()
    with pytest.raises(LLMOutputError, match="does not match the schema"):
        parse_answer(cut + "\n" + '{"a": 1, ' * 20_000, LLMAnswer)
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize("text", ['{"a": ' * 20_000, "Here: " + '{"a": ' * 20_000])
def test_an_answer_nested_past_the_decoders_depth_is_not_json_not_a_crash(text: str) -> None:
    with pytest.raises(LLMOutputError, match=r"not JSON \(objects nested too deep\)"):
        parse_answer(text, LLMAnswer)
