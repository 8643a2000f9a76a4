"""`llm.timeout_seconds` above `llm.total_timeout_seconds` cannot take effect (every attempt also ends
with the diagnosis's LLM time): the analyst warns when it is built, at start-up, on reload and in
`check-config`; the README's own examples keep the two consistent."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from structlog.testing import capture_logs

from analyst.llm import LLMAnalyst, LLMSettings
from receiver.config import Settings
from tests.fakes.llm import FixedAnalyst

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
LLM_SECTION = README[README.index("## LLM analyst (optional)") :].split("\n## ", 1)[0]
LLM_EXAMPLES = [
    config
    for block in re.findall(r"```ya?ml\n(.*?)```", LLM_SECTION, flags=re.S)
    if isinstance(config := yaml.safe_load(block), dict) and "llm" in config
]


def warnings_when_built(settings: LLMSettings) -> list[dict[str, object]]:
    with capture_logs() as logs:
        LLMAnalyst(settings, "openai_compatible", FixedAnalyst())
    return [entry for entry in logs if entry["event"] == "llm_timeout_beyond_total"]


def test_a_timeout_above_the_total_is_warned_about_with_what_to_raise() -> None:
    [warning] = warnings_when_built(LLMSettings(timeout_seconds=120))

    assert warning["log_level"] == "warning"
    assert warning["problem"] == (
        "llm.timeout_seconds (120) is above llm.total_timeout_seconds (90): an attempt is cut at 90 s, with "
        "no time left to retry; raise llm.total_timeout_seconds (and pipeline.stage_timeout_seconds above "
        "it) or lower llm.timeout_seconds"
    )


@pytest.mark.parametrize("timeout", [60, 90])
def test_a_timeout_within_the_total_is_not_warned_about(timeout: float) -> None:
    assert warnings_when_built(LLMSettings(timeout_seconds=timeout)) == []


def test_the_readmes_llm_examples_load_and_their_timeouts_can_take_effect() -> None:
    assert len(LLM_EXAMPLES) >= 3
    for example in LLM_EXAMPLES:
        settings = Settings.model_validate(example)
        assert settings.llm.timeout_beyond_total() is None, example
