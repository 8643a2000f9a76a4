"""A log line that cannot be written (disk full, stderr closed, its reader gone) is dropped and counted: it
never breaks the work it describes, and the first line written again says how many were lost."""

from __future__ import annotations

import errno
import functools
import io
import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from aiohttp.test_utils import TestClient

from receiver import logs
from receiver.logs import configure_logging
from receiver.metrics import create_metrics
from receiver.web.keys import MATERIALIZER, SETTINGS
from tests.support.polling import eventually
from tests.support.redaction_corpus import leak_counts, secret_samples

from .conftest import ClientFactory

pytestmark = pytest.mark.usefixtures("restore_logging")

ErrorFactory = Callable[[], Exception]
DISK_FULL: ErrorFactory = functools.partial(OSError, errno.ENOSPC, "No space left on device")
WRITE_ERRORS = {
    "disk full": DISK_FULL,
    "reader gone": functools.partial(BrokenPipeError, errno.EPIPE, "Broken pipe"),
    "closed": functools.partial(ValueError, "I/O operation on closed file."),
}


class RefusingStream(io.StringIO):
    """stderr on a full disk (or closed, or a pipe nobody reads): every write and flush raises a new
    `error()` until `error` is set to None."""

    def __init__(self, error: ErrorFactory | None) -> None:
        super().__init__()
        self.error = error

    def write(self, text: str) -> int:
        if self.error is not None:
            raise self.error()
        return super().write(text)

    def flush(self) -> None:
        if self.error is not None:
            raise self.error()


LogToRefusingStderr = Callable[[str], RefusingStream]


@pytest.fixture
def log_to_refusing_stderr(monkeypatch: pytest.MonkeyPatch) -> LogToRefusingStderr:
    """configure_logging(level, "json") on a sys.stderr that refuses writes as a full disk does. Called in
    the test itself: pytest puts its own capture back on sys.stderr between a fixture and the test."""

    def configure(level: str) -> RefusingStream:
        stream = RefusingStream(DISK_FULL)
        monkeypatch.setattr(sys, "stderr", stream)
        configure_logging(level, "json")
        return stream

    return configure


def log_every_way() -> None:
    """One structlog event, one stdlib record and one stdlib traceback."""
    structlog.get_logger("receiver.webhook").info("webhook_stored", notification_id=1)
    logging.getLogger("aiohttp.server").warning("client went away")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logging.getLogger("asyncio").exception("Task exception was never retrieved")


@pytest.mark.parametrize("error", WRITE_ERRORS.values(), ids=WRITE_ERRORS.keys())
def test_lines_that_cannot_be_written_are_dropped_without_raising(
    log_to_refusing_stderr: LogToRefusingStderr, error: ErrorFactory
) -> None:
    log_to_refusing_stderr("debug").error = error
    log_every_way()
    assert logs.dropped_log_lines() == 3


def test_the_first_line_written_again_says_how_many_were_dropped(
    log_to_refusing_stderr: LogToRefusingStderr,
) -> None:
    refusing_stderr = log_to_refusing_stderr("info")
    log_every_way()
    refusing_stderr.error = None
    structlog.get_logger("receiver.app").info("still_here")
    logging.getLogger("aiohttp.server").warning("and_me")
    lines = [json.loads(line) for line in refusing_stderr.getvalue().splitlines()]
    assert [(e["level"], e["event"]) for e in lines] == [
        ("warning", "log_lines_dropped"),
        ("info", "still_here"),
        ("warning", "and_me"),
    ]
    assert lines[0]["dropped"] == 3 and "No space left on device" in lines[0]["error"]
    assert "timestamp" in lines[0] and "--- Logging error ---" not in refusing_stderr.getvalue()
    assert logs.dropped_log_lines() == 3  # a running total, for a counter


def test_a_reload_carries_the_count_on_and_the_next_line_written_reports_it(
    log_to_refusing_stderr: LogToRefusingStderr,
) -> None:
    refusing_stderr = log_to_refusing_stderr("info")
    log_every_way()
    configure_logging("debug", "json")  # what a reload that changes `log` does
    assert logs.dropped_log_lines() == 3
    refusing_stderr.error = None
    structlog.get_logger("receiver.app").info("reloaded")
    structlog.get_logger("receiver.app").info("again")
    lines = [json.loads(line) for line in refusing_stderr.getvalue().splitlines()]
    assert [e["event"] for e in lines] == ["log_lines_dropped", "reloaded", "again"]
    assert lines[0]["dropped"] == 3 and "No space left on device" in lines[0]["error"]
    assert logs.dropped_log_lines() == 3


def test_the_count_is_on_metrics(log_to_refusing_stderr: LogToRefusingStderr) -> None:
    metrics = create_metrics()
    assert metrics.registry.get_sample_value("alert_analyst_log_lines_dropped_total") == 0
    log_to_refusing_stderr("info")
    log_every_way()
    assert metrics.registry.get_sample_value("alert_analyst_log_lines_dropped_total") == 3


def test_a_record_that_cannot_be_formatted_does_not_raise_on_a_closed_stderr(
    log_to_refusing_stderr: LogToRefusingStderr,
) -> None:
    log_to_refusing_stderr("info").error = WRITE_ERRORS["closed"]
    logging.getLogger("receiver.app").warning("%d alerts", "not a number")  # the stdlib's report fails too
    assert logs.dropped_log_lines() == 1


def test_the_stdlib_report_of_a_bad_record_comes_out_redacted_when_stderr_works(
    log_to_refusing_stderr: LogToRefusingStderr,
) -> None:
    refusing_stderr = log_to_refusing_stderr("info")
    refusing_stderr.error = None
    secrets = secret_samples()
    for sample in secrets:
        logging.getLogger("receiver.app").warning("%d alerts from %s", "not a number", sample.text)
    written = refusing_stderr.getvalue()
    assert written.startswith("--- Logging error ---\n") and "TypeError" in written
    assert written.count("Message: '%d alerts from %s'") == len(secrets)
    counts = leak_counts(secrets, written)
    assert counts == dict.fromkeys(counts, 0) and logs.dropped_log_lines() == 0


LOG_THEN_REPORT = """
import logging, sys, structlog
from receiver import logs
logs.configure_logging("info", "json")
sys.stdin.readline()  # the test breaks stderr first
structlog.get_logger("receiver.app").info("started")
logging.getLogger("aiohttp.server").warning("client went away")
print("done", logs.dropped_log_lines(), flush=True)
"""


def run_logging_process(**stderr: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", LOG_THEN_REPORT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
        **stderr,
    )


def test_a_process_whose_stderr_is_on_a_full_device_keeps_working() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full (writes fail with ENOSPC) is Linux-only")
    with open("/dev/full", "w") as full:
        proc = run_logging_process(stderr=full)
        out, _ = proc.communicate("go\n", timeout=60)
    assert (proc.returncode, out) == (0, "done 2\n")


def test_a_process_whose_stderr_reader_is_gone_keeps_working() -> None:
    proc = run_logging_process(stderr=subprocess.PIPE)
    assert proc.stderr is not None and proc.stdin is not None
    proc.stderr.close()  # as `alert-analyst serve 2>&1 | head` once head has its lines
    out, _ = proc.communicate("go\n", timeout=60)
    assert (proc.returncode, out) == (0, "done 2\n")


def stored(client: TestClient[Any, Any]) -> tuple[set[str], int]:
    """Incident ids in SQLite and notifications still pending."""
    with sqlite3.connect(client.app[SETTINGS].storage.path) as conn:
        ids = {row[0] for row in conn.execute("SELECT id FROM incidents")}
        (pending,) = conn.execute("SELECT count(*) FROM notifications WHERE pending = 1").fetchone()
    return ids, pending


async def post(client: TestClient[Any, Any], corpus: Path, name: str) -> tuple[int, str]:
    data = (corpus / name).read_bytes()
    resp = await client.post("/webhook/alertmanager", data=data, headers={"Content-Type": "application/json"})
    return resp.status, await resp.text()


async def test_webhooks_are_answered_and_materialised_while_the_log_disk_is_full(
    make_client: ClientFactory, webhook_corpus: Path, log_to_refusing_stderr: LogToRefusingStderr
) -> None:
    refusing_stderr = log_to_refusing_stderr("debug")  # the webhook and the materialiser log each one
    refusing_stderr.error = None
    client = await make_client()
    refusing_stderr.error = DISK_FULL  # the disk fills up while the receiver runs
    status, answer = await post(client, webhook_corpus, "captured-am025-prom242-firing.json")
    assert status == 200
    await eventually(lambda: stored(client) == (set(json.loads(answer)["incidents"]), 0), within=5.0)
    assert client.app[MATERIALIZER].alive

    refusing_stderr.error = None  # space freed
    status, _ = await post(client, webhook_corpus, "captured-am025-prom242-resolved.json")
    assert status == 200
    await eventually(lambda: "notification_materialized" in refusing_stderr.getvalue(), within=5.0)
    events = [json.loads(line)["event"] for line in refusing_stderr.getvalue().splitlines()]
    dropped_at = events.index("log_lines_dropped")
    assert "webhook_stored" in events[dropped_at:] and "notification_materialized" in events[dropped_at:]
    assert client.app[MATERIALIZER].alive
