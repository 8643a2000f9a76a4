"""Configuration reload on the running binary, with Prometheus' semantics: SIGHUP and POST /-/reload apply
a good configuration live, reject a bad one (logged, counted, the old one keeps running), and say what
needs a restart."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from demo.processes import ReceiverProcess, free_port, start_receiver
from tests.support.polling import eventually


def call(receiver: ReceiverProcess, path: str, token: str | None, method: str = "GET") -> tuple[int, str]:
    request = urllib.request.Request(f"{receiver.url}{path}", method=method)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metric(receiver: ReceiverProcess, name: str) -> float:
    _, text = call(receiver, "/metrics", None)
    [line] = [line for line in text.splitlines() if line.startswith(name + " ")]
    return float(line.split()[1])


def rule_names(receiver: ReceiverProcess, token: str) -> set[str]:
    status, body = call(receiver, "/api/v1/rules", token)
    assert status == 200, body
    return {rule["name"] for rule in json.loads(body)["data"]}


def config(token: str, rules: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "webhook": {"bearer_token": token},
        "prometheus": {"url": f"http://127.0.0.1:{free_port()}", "retries": 0, "timeout_seconds": 1},
        "detection": {
            "enabled": True,
            "interval_seconds": 3600,
            "rules": [{"name": name, "query": f"sum({name})"} for name in rules],
        },
        **extra,
    }


def rewrite(receiver: ReceiverProcess, document: dict[str, Any]) -> None:
    current = yaml.safe_load(receiver.config_path.read_text())
    keep = {"web": current["web"], "storage": current["storage"]}
    receiver.config_path.write_text(
        yaml.safe_dump({**document, **{k: v for k, v in keep.items() if k not in document}})
    )


async def test_sighup_applies_a_good_config_and_keeps_running_on_a_bad_one(tmp_path: Path) -> None:
    receiver = start_receiver(tmp_path, config("one", ["r1"]))
    try:
        assert rule_names(receiver, "one") == {"r1"}
        started = metric(receiver, "alert_analyst_config_last_reload_success_timestamp_seconds")

        rewrite(receiver, config("two", ["r1", "r2"]))
        os.kill(receiver.proc.pid, signal.SIGHUP)
        await eventually(
            lambda: metric(receiver, "alert_analyst_config_last_reload_success_timestamp_seconds") > started,
            within=20,
        )
        assert rule_names(receiver, "two") == {"r1", "r2"}
        assert call(receiver, "/api/v1/rules", "one")[0] == 401
        assert metric(receiver, "alert_analyst_config_last_reload_successful") == 1

        receiver.config_path.write_text(receiver.config_path.read_text() + "detection_typo: {}\n")
        os.kill(receiver.proc.pid, signal.SIGHUP)
        await eventually(
            lambda: metric(receiver, "alert_analyst_config_last_reload_successful") == 0, within=20
        )
        assert receiver.proc.poll() is None
        assert rule_names(receiver, "two") == {"r1", "r2"}  # the old configuration still runs
        assert "config_reload_failed" in receiver.log() and "detection_typo" in receiver.log()
    finally:
        assert receiver.terminate() == 0


def test_post_reload_answers_what_was_applied_and_what_needs_a_restart(tmp_path: Path) -> None:
    receiver = start_receiver(tmp_path, config("one", ["r1"]))
    try:
        assert call(receiver, "/-/reload", None, "POST")[0] == 401
        rewrite(receiver, {**config("one", ["r3"]), "pipeline": {"workers": 2}})
        status, body = call(receiver, "/-/reload", "one", "POST")
        assert status == 200, body
        answer = json.loads(body)
        assert "detection" in answer["applied"] and answer["needs_restart"] == ["pipeline.workers"]
        assert rule_names(receiver, "one") == {"r3"}
        assert '"needs_restart": ["pipeline.workers"]' in receiver.log()

        rewrite(receiver, {**config("one", ["r3"]), "analyst": {"backend": "gpt"}})
        status, body = call(receiver, "/-/reload", "one", "POST")
        assert status == 500
        assert "failed to reload config" in body and "analyst.backend" in body
        assert metric(receiver, "alert_analyst_config_last_reload_successful") == 0
        assert call(receiver, "/-/ready", None)[0] == 200
    finally:
        assert receiver.terminate() == 0
