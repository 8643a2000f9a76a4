"""The count of log lines stderr refused outlives a configuration reload: the binary, its stderr on a full
device, reloaded with another `log` section, still exports the lines dropped before it on /metrics. A
reload started a new stream at 0, so the count went back and what was never reported was lost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from demo.processes import ReceiverProcess, free_port, wait_http_ok
from tests.support.polling import eventually

from .test_reload import call, metric

DROPPED = "alert_analyst_log_lines_dropped_total"


def serve_on_a_full_device(workdir: Path, config: dict[str, object]) -> ReceiverProcess:
    """`alert-analyst serve` as start_receiver runs it, but with stdout and stderr on /dev/full."""
    port = free_port()
    config = {**config, "web": {"listen_address": f"127.0.0.1:{port}"}}
    config_path = workdir / "alert-analyst.yml"
    config_path.write_text(yaml.safe_dump(config))
    with open("/dev/full", "wb") as full:
        proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", f"--config.file={config_path}"],
            stdout=full,
            stderr=full,
            cwd=workdir,
        )
    receiver = ReceiverProcess(proc, port, config_path, workdir / "no.log")
    try:
        wait_http_ok(f"{receiver.url}/-/ready", timeout=30, proc=proc)
    except Exception:
        receiver.terminate()
        raise
    return receiver


async def test_the_dropped_count_on_metrics_survives_a_reload_that_changes_logging(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full (writes fail with ENOSPC) is Linux-only")
    config = {
        "webhook": {"bearer_token": "one"},
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
        "log": {"level": "info"},
    }
    receiver = serve_on_a_full_device(tmp_path, config)
    try:
        before = metric(receiver, DROPPED)
        assert before >= 1  # the start-up lines
        receiver.config_path.write_text(
            yaml.safe_dump({**yaml.safe_load(receiver.config_path.read_text()), "log": {"level": "debug"}})
        )
        status, body = call(receiver, "/-/reload", "one", "POST")
        assert status == 200 and "log" in body, body
        await eventually(lambda: metric(receiver, DROPPED) > before, within=10)  # + config_reloaded
    finally:
        assert receiver.terminate() == 0
