"""The LLM hears that an alert has resolved, and when, with one instruction to follow up, not mitigate."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator

import pytest

from analyst.evidence import Evidence
from analyst.llm import LLMAnalyst, LLMSettings
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, answer, answer_json, make_evidence, prompt_text


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def sent_prompt(fake: FakeLLMServer, evidence: Evidence) -> str:
    """The prompt the OpenAI backend sends for `evidence`, as the fake server received it."""
    fake.enqueue(answer(answer_json()))
    settings = LLMSettings(base_url=fake.openai_base_url, api_key="test-key-0123456789", timeout_seconds=2.0)
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst())
    try:
        await analyst.diagnose(evidence)
    finally:
        await analyst.aclose()
    return prompt_text(fake.requests[-1])


def instructions(prompt: str) -> list[str]:
    """The user prompt's lines before the evidence fence that speak of a resolved alert."""
    before = prompt.split("\n<evidence>\n")[0].split("Reply with the JSON object only.")[0]
    return [line for line in before.splitlines() if "has resolved" in line]


def alert_line(prompt: str) -> dict[str, object]:
    line = next(line for line in prompt.splitlines() if line.startswith('{"alert":'))
    data: dict[str, object] = json.loads(line)
    return data


async def test_a_resolved_alert_sends_its_end_and_the_follow_up_instruction(fake: FakeLLMServer) -> None:
    evidence = make_evidence()
    ended = dataclasses.replace(evidence.alert, status="resolved", ends_at=evidence.alert.starts_at + 240)
    prompt = await sent_prompt(fake, dataclasses.replace(evidence, alert=ended))

    alert = alert_line(prompt)
    assert alert["status"] == "resolved"
    assert alert["alert_ended_s_into_window"] == 3600 + 240
    [instruction] = instructions(prompt)
    assert "alert_ended_s_into_window" in instruction
    assert "immediate_actions are then follow-ups" in instruction and "not mitigations" in instruction


async def test_a_firing_alert_has_no_end_and_no_instruction(fake: FakeLLMServer) -> None:
    prompt = await sent_prompt(fake, make_evidence())

    alert = alert_line(prompt)
    assert alert["status"] == "firing"
    assert "alert_ended_s_into_window" not in alert
    assert instructions(prompt) == []
