"""Reload when a secret file went bad under the running receiver (emptied, replaced by a directory, not
UTF-8): the reload is rejected as any configuration that does not load is (500 naming the key,
`alert_analyst_config_last_reload_successful` 0, the old credentials still in force), never a half-applied
configuration, a generic 500 or an empty token that lets `Authorization: Bearer` in."""

from __future__ import annotations

import json
import os
import signal
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from demo.processes import ReceiverProcess, start_receiver
from tests.receiver.test_reload import call, metric
from tests.support.polling import eventually


@pytest.fixture
def receiver(tmp_path: Path):  # type: ignore[no-untyped-def]
    token = tmp_path / "token"
    token.write_text("first\n")  # the trailing newline is not part of the token
    handle = start_receiver(tmp_path, {"webhook": {"bearer_token_file": str(token)}})
    yield handle
    assert handle.terminate() == 0


def bare_bearer(receiver: ReceiverProcess) -> int:
    """The answer to `Authorization: Bearer` with no token: an empty configured token used to match it."""
    request = urllib.request.Request(f"{receiver.url}/api/v1/incidents", headers={"Authorization": "Bearer"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def spoil(token: Path, how: str) -> None:
    if how == "emptied":
        token.write_text("")
    elif how == "directory":
        token.unlink()
        token.mkdir()
    else:
        token.write_bytes(b"\xff\xfesecond")


@pytest.mark.parametrize("how", ["emptied", "directory", "not-utf8"])
def test_a_spoiled_token_file_rejects_the_reload_and_keeps_the_token(
    receiver: ReceiverProcess, tmp_path: Path, how: str
) -> None:
    assert call(receiver, "/api/v1/incidents", "first")[0] == 200
    spoil(tmp_path / "token", how)

    status, body = call(receiver, "/-/reload", "first", "POST")

    assert status == 500, body
    answer = json.loads(body)
    assert answer["status"] == "error"
    assert answer["error"].startswith("failed to reload config: webhook.bearer_token_file: "), answer
    assert metric(receiver, "alert_analyst_config_last_reload_successful") == 0
    assert call(receiver, "/api/v1/incidents", "first")[0] == 200
    assert bare_bearer(receiver) == 401
    assert "config_reload_failed" in receiver.log()


async def test_sighup_with_a_spoiled_token_file_is_logged_and_counted(
    receiver: ReceiverProcess, tmp_path: Path
) -> None:
    spoil(tmp_path / "token", "directory")
    os.kill(receiver.proc.pid, signal.SIGHUP)
    await eventually(lambda: metric(receiver, "alert_analyst_config_last_reload_successful") == 0, within=20)
    assert receiver.proc.poll() is None
    assert call(receiver, "/api/v1/incidents", "first")[0] == 200
    assert "Traceback" not in receiver.log()

    (tmp_path / "token").rmdir()
    (tmp_path / "token").write_text("second\n")
    status, body = call(receiver, "/-/reload", "first", "POST")
    assert status == 200, body
    assert metric(receiver, "alert_analyst_config_last_reload_successful") == 1
    assert call(receiver, "/api/v1/incidents", "second")[0] == 200
    assert call(receiver, "/api/v1/incidents", "first")[0] == 401


def test_a_reload_after_the_token_files_contents_changed_names_the_webhook_as_applied(
    receiver: ReceiverProcess, tmp_path: Path
) -> None:
    """The new token was in force, but the answer's `applied` did not say so (the same file, new contents)."""
    (tmp_path / "token").write_text("second\n")

    status, body = call(receiver, "/-/reload", "first", "POST")

    assert status == 200, body
    assert "webhook" in json.loads(body)["applied"]
    assert call(receiver, "/api/v1/incidents", "second")[0] == 200
    assert call(receiver, "/api/v1/incidents", "first")[0] == 401
