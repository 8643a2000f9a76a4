"""SIGTERM ends `serve` within `pipeline.shutdown_timeout_seconds` even while a PromQL request hangs: the
process waited for the blocked request's thread (57 s after SIGTERM with a 20 s bound in the audit)."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from demo.processes import start_receiver

FIRING = "captured-am025-prom242-firing.json"
SHUTDOWN_TIMEOUT = 1.0
HANG = 60.0  # longer than the test may take: the request must still be hanging at exit


class HangingPrometheus(ThreadingHTTPServer):
    """Answers nothing: each request waits until `release` (or HANG seconds)."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Hang)
        self.asked = threading.Event()
        self.release = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Hang(BaseHTTPRequestHandler):
    server: HangingPrometheus

    def do_GET(self) -> None:
        self.server.asked.set()
        self.server.release.wait(HANG)
        with contextlib.suppress(OSError):  # the receiver is gone
            self.send_error(503)

    do_POST = do_GET

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def prometheus() -> Iterator[HangingPrometheus]:
    server = HangingPrometheus()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()


def test_sigterm_exits_within_the_shutdown_timeout_while_a_promql_request_hangs(
    tmp_path: Path, webhook_corpus: Path, prometheus: HangingPrometheus
) -> None:
    config = {
        "prometheus": {"url": prometheus.url, "timeout_seconds": HANG, "retries": 0},
        "pipeline": {"shutdown_timeout_seconds": SHUTDOWN_TIMEOUT},
        "detection": {"enabled": False},
    }
    receiver = start_receiver(tmp_path, config)
    try:
        request = urllib.request.Request(
            f"{receiver.url}/webhook/alertmanager",
            data=(webhook_corpus / FIRING).read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
        assert prometheus.asked.wait(20), "the pipeline never queried Prometheus"
        stopped = time.monotonic()
        assert receiver.terminate(timeout=SHUTDOWN_TIMEOUT + 10) == 0
        assert time.monotonic() - stopped < SHUTDOWN_TIMEOUT + 5
    finally:
        if receiver.proc.poll() is None:
            receiver.kill9()
    with sqlite3.connect(tmp_path / "alert-analyst.db") as db:  # the interrupted stage keeps its checkpoint
        stages = {row[0] for row in db.execute("SELECT stage FROM incidents")}
    assert stages == {"collect_evidence"}
