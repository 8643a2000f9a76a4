"""An answer is read leniently where it has one meaning only (as local models in json_object mode write
it): a confidence of 85 or "85%" is 0.85, keys the schema does not have are ignored, a category in another
case is that category and an unknown one is `unknown`. What is really wrong is still refused, and the
schema the model is sent stays strict."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from analyst.diagnosis import Category
from tests.analyst.test_llm_analyst import diagnose_once
from tests.fakes.llm import FakeLLMServer, answer, answer_dict, answer_json


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def primary(**overrides: Any) -> dict[str, Any]:
    return {**answer_dict()["primary_hypothesis"], **overrides}


async def diagnose_local(fake: FakeLLMServer, text: str) -> Any:
    return await diagnose_once(fake, "openai_compatible", answer(text), response_format="json_object")


@pytest.mark.parametrize(("given", "read"), [(85, 0.85), ("85%", 0.85), (" 40 % ", 0.4), ("85", 0.85)])
async def test_a_confidence_given_as_a_percentage_is_read_as_its_fraction(
    fake: FakeLLMServer, given: Any, read: float
) -> None:
    text = answer_json(primary_hypothesis=primary(confidence=given), confidence_score=given)
    result = await diagnose_local(fake, text)

    assert len(fake.requests) == 1 and result.backend == "openai_compatible"
    assert result.primary_hypothesis.confidence == pytest.approx(read)
    assert result.confidence_score == pytest.approx(read)


async def test_keys_the_schema_does_not_have_are_ignored(fake: FakeLLMServer) -> None:
    analysis = [{**step, "evidence_used": ["pool"]} for step in answer_dict()["detailed_analysis"]]
    text = answer_json(
        notes="extra field from model",
        primary_hypothesis=primary(reasoning="because"),
        detailed_analysis=analysis,
    )
    result = await diagnose_local(fake, text)

    assert len(fake.requests) == 1 and result.backend == "openai_compatible"
    assert result.primary_hypothesis.suspect == "postgres"


@pytest.mark.parametrize(
    ("given", "category"),
    [
        ("DEPENDENCY.DATABASE", Category.DEPENDENCY_DATABASE),
        (" Resource.CPU ", Category.RESOURCE_CPU),
        ("Database", Category.UNKNOWN),
        ("cosmic rays", Category.UNKNOWN),
    ],
)
async def test_a_category_in_another_case_is_that_one_and_an_unknown_one_is_unknown(
    fake: FakeLLMServer, given: str, category: Category
) -> None:
    result = await diagnose_local(fake, answer_json(primary_hypothesis=primary(category=given)))

    assert len(fake.requests) == 1 and result.backend == "openai_compatible"
    assert result.primary_hypothesis.category is category


@pytest.mark.parametrize(
    ("overrides", "first_error"),
    [
        ({"confidence_score": 150}, "('confidence_score',) Input should be less than or equal to 1"),
        ({"confidence_score": "150%"}, "('confidence_score',) Input should be less than or equal to 1"),
        ({"confidence_score": -0.5}, "('confidence_score',) Input should be greater than or equal to 0"),
        ({"confidence_score": "high"}, "('confidence_score',) Input should be a valid number"),
        ({"primary_hypothesis": primary(category=None)}, "('primary_hypothesis', 'category') Input should"),
        ({"detailed_analysis": []}, "('detailed_analysis',) Value error, detailed_analysis must contain"),
        (
            {"monitoring_recommendations": None},
            "('monitoring_recommendations',) Input should be a valid list",
        ),
    ],
)
async def test_what_is_really_wrong_is_still_refused(
    fake: FakeLLMServer, overrides: dict[str, Any], first_error: str
) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer(answer_json(**overrides)), attempts=1)

    assert result.backend == "builtin" and result.fallback_reason is not None
    assert "the answer does not match the schema: 1 error(s), first: " + first_error in result.fallback_reason


async def test_the_schema_sent_to_the_model_still_forbids_extra_keys(fake: FakeLLMServer) -> None:
    await diagnose_once(fake, "openai", answer(answer_json()))

    schema = fake.requests[0].json["response_format"]["json_schema"]["schema"]
    assert schema["additionalProperties"] is False
    assert all(d["additionalProperties"] is False for d in schema["$defs"].values() if "properties" in d)


async def test_a_verification_answer_is_read_as_leniently(fake: FakeLLMServer) -> None:
    verdict = (
        '{"ranking": [{"index": 0, "confidence": "50%", "reason": "ok", "extra": 1}],'
        ' "confidence_score": 50, "comment": "fine", "notes": "extra"}'
    )
    result = await diagnose_once(fake, "openai", answer(answer_json()), answer(verdict), verify=True)

    assert len(fake.requests) == 2
    assert result.primary_hypothesis.confidence == 0.5 and result.confidence_score == 0.5
    assert not any(note.startswith("verification skipped") for note in result.notes)
