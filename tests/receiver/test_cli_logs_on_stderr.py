"""`alert-analyst diagnose` and `check-config` log on stderr, as `log.level` and `log.format` say and
redacted, so that stdout carries only their result (`--format json` stays one JSON document) even when an
LLM backend warns, fails and falls back."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer

from tests.fakes.llm import FakeLLMServer, error
from tests.receiver.test_cli_diagnose_no_evidence import ALERT, prometheus_without_data

ECHOED_KEY = "local-llm-key-4711"  # nothing in its shape says it is a secret


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer() as server:
        yield server


@pytest.fixture
async def prometheus_url() -> AsyncIterator[str]:
    server = TestServer(prometheus_without_data(), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the CLI run as its own process (the fakes keep serving)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ALERT_ANALYST_")}
    proc = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "receiver", *args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**environ, **env},
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def failing_llm(llm: FakeLLMServer, **extra: str) -> dict[str, str]:
    """Settings of an openai_compatible backend without a price whose server answers 500, echoing the key."""
    llm.enqueue(error(500, message=f"upstream broke, key {ECHOED_KEY}"))
    return {
        "ALERT_ANALYST_ANALYST__BACKEND": "openai_compatible",
        "ALERT_ANALYST_LLM__BASE_URL": llm.openai_base_url,
        "ALERT_ANALYST_LLM__API_KEY": ECHOED_KEY,
        "ALERT_ANALYST_LLM__ATTEMPTS": "1",
        "ALERT_ANALYST_PROMETHEUS__RETRIES": "0",
        **extra,
    }


async def diagnose_json(tmp_path: Path, prometheus_url: str, env: dict[str, str]) -> tuple[int, str, str]:
    alert = tmp_path / "alert.json"
    alert.write_text(json.dumps(ALERT))
    args = ("diagnose", "--alert", str(alert), "--prometheus.url", prometheus_url, "--format", "json")
    return await run_cli(*args, env=env)


async def test_diagnose_json_with_a_failing_llm_prints_only_the_report_on_stdout(
    llm: FakeLLMServer, prometheus_url: str, tmp_path: Path
) -> None:
    code, out, err = await diagnose_json(tmp_path, prometheus_url, failing_llm(llm))

    assert code == 0
    report = json.loads(out)  # before: warnings came first on stdout, and this failed
    assert report["diagnosis"]["backend"] == "builtin"
    assert "HTTP 500" in report["diagnosis"]["fallback_reason"]
    events = [json.loads(line) for line in err.splitlines()]  # log.format json: one object a line
    assert {"llm_price_unknown", "llm_attempt_failed", "llm_fallback"} <= {e["event"] for e in events}
    assert all({"level", "timestamp"} <= set(e) for e in events)
    assert ECHOED_KEY not in out + err


async def test_diagnose_honours_log_level_and_format(
    llm: FakeLLMServer, prometheus_url: str, tmp_path: Path
) -> None:
    quiet = failing_llm(llm, ALERT_ANALYST_LOG__LEVEL="error")
    code, out, err = await diagnose_json(tmp_path, prometheus_url, quiet)
    assert code == 0 and json.loads(out)["diagnosis"]["backend"] == "builtin"
    assert err == ""

    console = failing_llm(llm, ALERT_ANALYST_LOG__FORMAT="console")
    code, out, err = await diagnose_json(tmp_path, prometheus_url, console)
    assert code == 0 and json.loads(out)["diagnosis"]["backend"] == "builtin"
    assert "[warning  ] llm_fallback" in err and not err.lstrip().startswith("{")


async def test_check_config_prints_its_verdict_alone_on_stdout(llm: FakeLLMServer) -> None:
    code, out, err = await run_cli("check-config", env=failing_llm(llm))

    assert (code, out) == (0, "(defaults): OK\n")
    assert json.loads(err.splitlines()[0])["event"] == "llm_price_unknown"
