"""The model's own answer is redacted like an error body before it is stored or shown: a gateway that
makes the model echo the configured key (or any secret by its shape) does not get it into the diagnosis."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from analyst.schema import diagnosis_to_dict
from tests.analyst.test_llm_analyst import diagnose_once
from tests.fakes.llm import FakeLLMServer, answer, answer_dict, answer_json

KEY = "vllm-prod-key-7731"  # nothing in its shape says it is a secret: only the configuration does
SHAPED = "sk-proj-AbCdEf0123456789XyZaBcDeFgHiJkLmNoPqRs"  # an OpenAI key, caught by its shape


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


def echoing(secret: str) -> str:
    """An answer with `secret` in every kind of text field the diagnosis keeps."""
    primary = {
        **answer_dict()["primary_hypothesis"],
        "title": f"key {secret} rejected",
        "suspect": f"postgres {secret}",
        "supporting_evidence": [f"auth failed with {secret}"],
    }
    steps = [{"step": s["step"], "findings": f"saw {secret}"} for s in answer_dict()["detailed_analysis"]]
    return answer_json(
        primary_hypothesis=primary,
        executive_summary=f"the key you sent is {secret}",
        detailed_analysis=steps,
        immediate_actions=[f"rotate {secret}"],
        monitoring_recommendations=[f"watch {secret}"],
    )


@pytest.mark.parametrize("secret", [KEY, SHAPED])
async def test_a_secret_echoed_in_the_answer_is_redacted_from_the_diagnosis(
    fake: FakeLLMServer, secret: str
) -> None:
    result = await diagnose_once(fake, "openai_compatible", answer(echoing(secret)), api_key=KEY)

    assert result.backend == "openai_compatible"
    assert result.executive_summary == "the key you sent is [REDACTED]"
    assert result.primary_hypothesis.title == "key [REDACTED] rejected"
    assert result.immediate_actions == ("rotate [REDACTED]",)
    assert secret not in str(diagnosis_to_dict(result))


async def test_a_secret_in_the_verification_comment_is_redacted_from_its_note(fake: FakeLLMServer) -> None:
    verdict = f'{{"ranking": [], "confidence_score": 0.5, "comment": "checked with {KEY}"}}'
    result = await diagnose_once(
        fake, "openai_compatible", answer(answer_json()), answer(verdict), api_key=KEY, verify=True
    )

    assert "verified: checked with [REDACTED]" in result.notes
    assert KEY not in str(diagnosis_to_dict(result))
