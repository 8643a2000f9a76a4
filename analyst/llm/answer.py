"""Turning model text into validated, display-safe values. Output is text to show, never to execute."""

from __future__ import annotations

import json
import re
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from analyst.diagnosis import AnalysisStep, Category, Hypothesis
from analyst.llm.errors import LLMOutputError
from analyst.llm.redact import cap_length
from analyst.schema import LLMAnswer, LLMHypothesis

T = TypeVar("T", bound=BaseModel)

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 2000
MAX_ITEM_CHARS = 500
MAX_ITEMS = 10
MAX_ALTERNATIVES = 5
_FENCES = (  # the first fenced block; else from the first opening to the last close (``` in strings)
    re.compile(r"```(?:json)?(.*?)```", re.DOTALL | re.IGNORECASE),
    re.compile(r"```(?:json)?(.*)```", re.DOTALL | re.IGNORECASE),
)


def json_body(text: str) -> str:
    """The JSON of an answer: the text itself, or the body of its ``` fence, prose around it or not."""
    stripped = text.strip()
    if stripped.startswith(("{", "[")):  # bare JSON, whose strings may hold ``` themselves
        return stripped
    bodies = [found.group(1).strip() for fence in _FENCES if (found := fence.search(stripped))]
    return next((body for body in bodies if _is_json(body)), bodies[0] if bodies else stripped)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def parse_answer(text: str, model: type[T]) -> T:
    """JSON text (optionally in a ``` fence, as local models like to add) validated against `model`."""
    body = json_body(text)
    if not body:
        raise LLMOutputError("the model returned no text")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise LLMOutputError(f"the answer is not JSON ({exc.msg} at char {exc.pos})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise LLMOutputError(
            f"the answer does not match the schema: {exc.error_count()} error(s), first: "
            f"{exc.errors()[0]['loc']} {exc.errors()[0]['msg']}"
        ) from exc


def display_text(text: str, limit: int) -> str:
    """Printable characters only (newlines kept), capped."""
    kept = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in text)
    return cap_length(kept.strip(), limit)


def display_items(items: list[str]) -> tuple[str, ...]:
    return tuple(display_text(item, MAX_ITEM_CHARS) for item in items[:MAX_ITEMS])


def to_hypothesis(model: LLMHypothesis) -> Hypothesis:
    return Hypothesis(
        title=display_text(model.title, MAX_TITLE_CHARS),
        category=Category(model.category),
        suspect=display_text(model.suspect, MAX_TITLE_CHARS),
        confidence=model.confidence,
        supporting_evidence=display_items(model.supporting_evidence),
        contradicting_evidence=display_items(model.contradicting_evidence),
    )


def to_steps(answer: LLMAnswer) -> tuple[AnalysisStep, ...]:
    return tuple(
        AnalysisStep(s.step, display_text(s.findings, MAX_TEXT_CHARS)) for s in answer.detailed_analysis
    )
