"""An LLM error that echoes a secret (the configured key, an `sk-` token) is redacted on every way it becomes
text: the confirmation and attempt failure logs, the skipped-verification note and the fallback reason."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from analyst.evidence import Precedent
from analyst.llm import LLMAnalyst, LLMSettings
from analyst.llm.redact import REDACTED
from analyst.schema import diagnosis_to_dict
from receiver.logs import configure_logging
from tests.fakes.llm import FakeLLMServer, FixedAnalyst, Reply, answer, answer_json, error, make_evidence

CONFIGURED_KEY = "vllm-prod-key-7731"  # nothing in its shape says it is a secret
SHAPED_TOKEN = "sk-proj-Zq8XwV2bN7mK4pL9tR3sY6uH"
ECHO = f"invalid api key '{CONFIGURED_KEY}' (also tried {SHAPED_TOKEN})"
VERDICT_FIELDS = ("error", "reason")

# The FixedAnalyst's primary cause, confirmed before: the analyst asks a short confirmation first.
CONFIRMED_API_CPU = Precedent("inc-0", 0.95, "correct", "resource.cpu", "api")


@dataclasses.dataclass(frozen=True)
class FailurePath:
    replies: tuple[Reply, ...]
    event: str  # the log event that carries the error text
    settings: dict[str, Any] = dataclasses.field(default_factory=dict)
    confirmable: bool = False


PATHS = {
    "confirmation-failed": FailurePath(
        (error(401, message=ECHO), answer(answer_json())), "llm_confirmation_failed", confirmable=True
    ),
    "attempt-failed": FailurePath(
        (error(503, message=ECHO), answer(answer_json())), "llm_attempt_failed", {"attempts": 2}
    ),
    "verification-skipped": FailurePath(
        (answer(answer_json()), error(401, message=ECHO)), "llm_attempt_failed", {"verify": True}
    ),
    "fallback": FailurePath((error(401, message=ECHO),), "llm_fallback", {"attempts": 1}),
}


@pytest.fixture
async def fake() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


async def diagnose_logged(fake: FakeLLMServer, path: FailurePath) -> tuple[dict[str, Any], list[Any]]:
    fake.enqueue(*path.replies)
    settings = LLMSettings(
        base_url=fake.openai_base_url,
        api_key=CONFIGURED_KEY,
        timeout_seconds=2.0,
        backoff_seconds=0.01,
        backoff_max_seconds=0.02,
        **path.settings,
    )
    evidence = make_evidence()
    if path.confirmable:
        evidence = dataclasses.replace(evidence, precedents=(CONFIRMED_API_CPU,))
    analyst = LLMAnalyst(settings, "openai_compatible", FixedAnalyst())
    try:
        with capture_logs() as logs:
            result = await analyst.diagnose(evidence)
    finally:
        await analyst.aclose()
    return diagnosis_to_dict(result), logs


@pytest.mark.parametrize("name", PATHS)
async def test_a_secret_in_an_llm_error_reaches_neither_the_log_nor_the_diagnosis(
    fake: FakeLLMServer, name: str
) -> None:
    path = PATHS[name]
    diagnosis, logs = await diagnose_logged(fake, path)

    [entry, *_] = [e for e in logs if e["event"] == path.event]
    assert "invalid api key" in next(entry[f] for f in VERDICT_FIELDS if f in entry)
    written = json.dumps(logs, default=str) + json.dumps(diagnosis)
    assert REDACTED in written
    assert CONFIGURED_KEY not in written and SHAPED_TOKEN not in written
    assert "sk-proj-" not in written


async def test_a_skipped_verification_says_why_without_the_secret(fake: FakeLLMServer) -> None:
    diagnosis, _ = await diagnose_logged(fake, PATHS["verification-skipped"])

    [skipped] = [note for note in diagnosis["notes"] if note.startswith("verification skipped")]
    assert f"invalid api key '{REDACTED}'" in skipped


async def test_a_fallback_reason_says_why_without_the_secret(fake: FakeLLMServer) -> None:
    diagnosis, _ = await diagnose_logged(fake, PATHS["fallback"])

    assert diagnosis["backend"] == "builtin"
    assert f"invalid api key '{REDACTED}'" in diagnosis["fallback_reason"]
    assert diagnosis["fallback_reason"].startswith("error after 1 attempt(s): ")


class CrashingBackend:
    """An SDK surprise: `complete` raises something that is not an LLMError, echoing the key."""

    async def complete(self, system: str, user: str, schema: dict[str, Any], name: str) -> Any:
        raise RuntimeError(ECHO)

    async def aclose(self) -> None:
        return None


@pytest.mark.usefixtures("restore_logging")
async def test_a_crashing_backend_logs_its_traceback_without_the_secret(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info", "json")  # the service's own log pipeline, rendered as it writes it
    settings = LLMSettings(api_key=CONFIGURED_KEY, attempts=1, timeout_seconds=2.0)
    analyst = LLMAnalyst(settings, "openai", FixedAnalyst(), llm_backend=CrashingBackend())  # type: ignore[arg-type]
    try:
        diagnosis = diagnosis_to_dict(await analyst.diagnose(make_evidence()))
    finally:
        await analyst.aclose()

    log = capsys.readouterr().err
    written = log + json.dumps(diagnosis)
    assert CONFIGURED_KEY not in written and SHAPED_TOKEN not in written
    [crash] = [e for e in map(json.loads, log.splitlines()) if e["event"] == "llm_backend_crashed"]
    assert "RuntimeError: invalid api key" in crash["error"]
    assert "raise RuntimeError(ECHO)" in json.dumps(crash)  # the traceback is kept
    assert diagnosis["backend"] == "builtin"
