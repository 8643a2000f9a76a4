"""Turning model text into validated, display-safe values. Output is text to show, never to execute."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from analyst.diagnosis import AnalysisStep, Category, Hypothesis
from analyst.llm.errors import LLMOutputError
from analyst.llm.redact import cap_length, redact_secrets
from analyst.schema import LLMAnswer, LLMHypothesis

T = TypeVar("T", bound=BaseModel)

MAX_TITLE_CHARS = 200
MAX_TEXT_CHARS = 2000
MAX_ITEM_CHARS = 500
MAX_ITEMS = 10
MAX_ALTERNATIVES = 5
_REDACTION_MARGIN = 4096  # past the cap, enough to hold a secret the cap would cut (a PEM block)
_THOUGHT = re.compile(r"<(think|thinking)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_OPEN_THOUGHT = re.compile(r"<think(?:ing)?>", re.IGNORECASE)
_CLOSE_THOUGHT = re.compile(r"</think(?:ing)?>", re.IGNORECASE)
_DECODER = json.JSONDecoder()
_OBJECT_START = re.compile(r'\{\s*["}]')  # where a JSON object may begin: not `{job=...}`, `{the pool}`
_MAX_OBJECTS_TRIED = 64  # an answer is one object; a failed decode rescans the text, so this bounds the cost


def without_thinking(text: str) -> str:
    """The text without a reasoning model's thinking (Qwen3, DeepSeek-R1 through a server without a
    reasoning parser): `<think>...</think>` blocks, all before a `</think>` whose opening tag was the chat
    template's, and all after a `<think>` never closed. A bare JSON answer is left whole (a tag in it is
    quoted text); thinking holds no answer, only drafts of one (an example must not be taken for it)."""
    if text.lstrip().startswith("{"):
        return text
    text = _THOUGHT.sub("", text)
    if unclosed := _OPEN_THOUGHT.search(text):
        text = text[: unclosed.start()]
    if closing := _CLOSE_THOUGHT.search(text):
        text = text[closing.end() :]
    return text


def json_values(text: str) -> list[Any]:
    """The JSON in an answer: the whole text when it is JSON, else every outermost object in it, whatever
    prose or ``` fences surround them (the decoder skips each object found, so its parts are not listed)."""
    stripped = text.strip()
    try:
        return [json.loads(stripped)]
    except (json.JSONDecodeError, RecursionError):  # RecursionError: nested deeper than the decoder goes
        pass
    found: list[Any] = []
    position = 0
    for _ in range(_MAX_OBJECTS_TRIED):
        start = _OBJECT_START.search(stripped, position)
        if start is None:
            break
        try:
            value, position = _DECODER.raw_decode(stripped, start.start())
        except (json.JSONDecodeError, RecursionError):
            position = start.start() + 1
        else:
            found.append(value)
    return found


def parse_answer(text: str, model: type[T]) -> T:
    """The answer in `text` validated against `model`: after any thinking, the JSON object that carries
    most of the model's keys (the first of those that validates), bare, fenced or amid prose."""
    answer = without_thinking(text)
    if not answer.strip():
        if text.strip():
            raise LLMOutputError("the model returned only its thinking (<think>...), no answer after it")
        raise LLMOutputError("the model returned no text")
    values = sorted(json_values(answer), key=lambda value: -_keys_of(model, value))
    if not values:
        raise _not_json_error(answer)
    errors: list[ValidationError] = []
    for value in values:
        try:
            return model.model_validate(value)
        except ValidationError as exc:
            errors.append(exc)
    first = errors[0]
    raise LLMOutputError(
        f"the answer does not match the schema: {first.error_count()} error(s), first: "
        f"{first.errors()[0]['loc']} {first.errors()[0]['msg']}"
    ) from first


def _keys_of(model: type[BaseModel], value: Any) -> int:
    """How many of `model`'s fields `value` has (-1: not an object)."""
    return len(model.model_fields.keys() & value.keys()) if isinstance(value, dict) else -1


def _not_json_error(answer: str) -> LLMOutputError:
    """Where the answer's JSON breaks: in its first object, or at its start when it has none."""
    stripped = answer.strip()
    start = _OBJECT_START.search(stripped)
    try:
        _DECODER.raw_decode(stripped, start.start() if start else 0)
    except json.JSONDecodeError as exc:
        return LLMOutputError(f"the answer is not JSON ({exc.msg} at char {exc.pos})")
    except RecursionError:
        return LLMOutputError("the answer is not JSON (objects nested too deep)")
    return LLMOutputError("the answer is not JSON (no object in it)")


def display_text(text: str, limit: int, secrets: Iterable[str] = ()) -> str:
    """Redacted (a model may echo a secret, `secrets` are the configured keys), printable characters only
    (newlines kept), capped. Redacted before the cap, so a cut never leaves half a secret."""
    redacted = redact_secrets(text[: limit + _REDACTION_MARGIN], secrets)
    kept = "".join(ch if ch.isprintable() or ch == "\n" else " " for ch in redacted)
    return cap_length(kept.strip(), limit)


def display_items(items: list[str], secrets: Iterable[str] = ()) -> tuple[str, ...]:
    return tuple(display_text(item, MAX_ITEM_CHARS, secrets) for item in items[:MAX_ITEMS])


def to_hypothesis(model: LLMHypothesis, secrets: Iterable[str] = ()) -> Hypothesis:
    return Hypothesis(
        title=display_text(model.title, MAX_TITLE_CHARS, secrets),
        category=Category(model.category),
        suspect=display_text(model.suspect, MAX_TITLE_CHARS, secrets),
        confidence=model.confidence,
        supporting_evidence=display_items(model.supporting_evidence, secrets),
        contradicting_evidence=display_items(model.contradicting_evidence, secrets),
    )


def to_steps(answer: LLMAnswer, secrets: Iterable[str] = ()) -> tuple[AnalysisStep, ...]:
    return tuple(
        AnalysisStep(s.step, display_text(s.findings, MAX_TEXT_CHARS, secrets))
        for s in answer.detailed_analysis
    )
