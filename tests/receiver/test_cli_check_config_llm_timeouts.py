"""`alert-analyst check-config` warns on stderr when `llm.timeout_seconds` cannot take effect under
`llm.total_timeout_seconds`; the configuration is still valid (exit 0, `OK` on stdout)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def check_config(**variables: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_ANALYST_")}
    local_server = {
        "ALERT_ANALYST_ANALYST__BACKEND": "openai_compatible",
        "ALERT_ANALYST_LLM__PRICES": "{llama3.1: {input: 0, output: 0}}",
    }
    return subprocess.run(
        [sys.executable, "-m", "receiver", "check-config"],
        capture_output=True,
        text=True,
        env={**environ, **local_server, **variables},
        timeout=60,
    )


def test_check_config_warns_about_a_timeout_above_the_total() -> None:
    result = check_config(ALERT_ANALYST_LLM__TIMEOUT_SECONDS="120")

    assert (result.returncode, result.stdout) == (0, "(defaults): OK\n")
    [event] = [json.loads(line) for line in result.stderr.splitlines()]
    assert event["event"] == "llm_timeout_beyond_total" and event["level"] == "warning"
    assert event["problem"].startswith("llm.timeout_seconds (120) is above llm.total_timeout_seconds (90)")


def test_check_config_is_quiet_when_the_timeouts_fit() -> None:
    result = check_config(
        ALERT_ANALYST_LLM__TIMEOUT_SECONDS="120",
        ALERT_ANALYST_LLM__TOTAL_TIMEOUT_SECONDS="250",
        ALERT_ANALYST_PIPELINE__STAGE_TIMEOUT_SECONDS="300",
    )

    assert (result.returncode, result.stdout, result.stderr) == (0, "(defaults): OK\n", "")
