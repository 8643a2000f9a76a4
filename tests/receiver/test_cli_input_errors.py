"""`alert-analyst diagnose` and `backtest` given input they cannot use: exit 2 and one line on stderr that
names the file or the field, never a traceback or pydantic's several-line dump."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from receiver.cli import main
from receiver.errors import PayloadError
from receiver.payload import parse_webhook

ALERT = {"labels": {"alertname": "OrderErrorsHigh"}, "startsAt": "2026-11-25T14:00:00Z"}
NOWHERE = "http://127.0.0.1:9"  # nothing listens: these inputs are refused before any query


def one_line(stderr: str, command: str) -> str:
    assert "Traceback" not in stderr and "errors.pydantic.dev" not in stderr, stderr
    [line] = stderr.strip().splitlines()
    assert line.startswith(f"alert-analyst {command}: "), line
    return line.removeprefix(f"alert-analyst {command}: ")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "empty: an Alertmanager alert or webhook payload (JSON) is expected"),
        ("[]", "the file must be a JSON object"),
        ('"alerts"', "the file must be a JSON object"),
        ('{"alerts": []}', "the webhook payload's `alerts` holds no alerts"),
        ('{"alerts": 5}', "the webhook payload's `alerts` holds no alerts"),
        ('{"alerts": ["x"]}', "alerts[0] is not an alert"),
        (
            json.dumps({"version": "3", "alerts": [ALERT]}),
            "unsupported payload version '3': only Alertmanager webhook version 4 is accepted",
        ),
        ('{"status": "firing"}', "not an Alertmanager alert: labels: Field required; startsAt: Field"),
        ("{not json", "malformed JSON: Expecting property name"),
    ],
    ids=["empty", "array", "string", "no-alerts", "not-a-list", "not-an-object", "v3", "fields", "json"],
)
def test_diagnose_names_the_file_and_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, expected: str
) -> None:
    path = tmp_path / "alert.json"
    path.write_text(content)
    assert main(["diagnose", "--alert", str(path), "--prometheus.url", NOWHERE]) == 2
    line = one_line(capsys.readouterr().err, "diagnose")
    assert line.startswith(f"{path}: {expected}"), line


@pytest.mark.parametrize(
    "content",
    [
        b"\xff{}",
        "{}".encode("utf-16"),
        b"{not json",
        b"[]",
        b"null",
        b'{"version": 3, "alerts": []}',
        b"[" * 100_000,
    ],
    ids=["latin-1", "utf-16", "json", "array", "null", "v3", "too-deep"],
)
def test_diagnose_names_a_file_that_does_not_decode_as_the_webhook_names_such_a_body(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    """One decoding for both: the file gets the webhook's reason, for a file instead of a body."""
    with pytest.raises(PayloadError) as webhook:
        parse_webhook(content)
    path = tmp_path / "alert.json"
    path.write_bytes(content)
    assert main(["diagnose", "--alert", str(path), "--prometheus.url", NOWHERE]) == 2
    line = one_line(capsys.readouterr().err, "diagnose")
    assert line == f"{path}: " + str(webhook.value).replace("the body", "the file")


def test_diagnose_says_which_alert_of_a_payload_it_diagnoses(tmp_path: Path) -> None:
    second = {**ALERT, "labels": {"alertname": "LatencyHigh"}}
    path = tmp_path / "payload.json"
    path.write_text(json.dumps({"version": "4", "status": "firing", "alerts": [ALERT, second]}))
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "diagnose", "--alert", str(path), "--prometheus.url", NOWHERE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"{path} holds 2 alerts; diagnosing the first, OrderErrorsHigh" in result.stderr
    assert "ALERT OrderErrorsHigh" in result.stdout


def test_diagnose_with_an_llm_backend_without_a_key_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ALERT_ANALYST_ANALYST__BACKEND", "anthropic")
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(ALERT))
    assert main(["diagnose", "--alert", str(path), "--prometheus.url", NOWHERE]) == 2
    assert "has no API key" in one_line(capsys.readouterr().err, "diagnose")


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--method=bogus"], "rule: Value error, method='bogus': use one of"),
        (["--min-change=nan"], "rule.min_change: Input should be a finite number"),
    ],
)
def test_backtest_names_the_rule_field_in_one_line(
    capsys: pytest.CaptureFixture[str], flags: list[str], expected: str
) -> None:
    assert main(["backtest", "--query", "up", "--from=-1h", "--prometheus.url", NOWHERE, *flags]) == 2
    assert one_line(capsys.readouterr().err, "backtest").startswith(expected)
