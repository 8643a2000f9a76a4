"""The count of log lines stderr refused outlives a configuration reload: the binary, its stderr on a full
device, reloaded with another `log` section, still exports the lines dropped before it on /metrics. A
reload started a new stream at 0, so the count went back and what was never reported was lost."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from demo.processes import start_receiver
from tests.support.polling import eventually

from .test_reload import call, metric

DROPPED = "alert_analyst_log_lines_dropped_total"


async def test_the_dropped_count_on_metrics_survives_a_reload_that_changes_logging(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("/dev/full (writes fail with ENOSPC) is Linux-only")
    config = {
        "webhook": {"bearer_token": "one"},
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
        "log": {"level": "info"},
    }
    receiver = start_receiver(tmp_path, config, output=Path("/dev/full"))  # stdout and stderr too
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
