"""`alert-analyst healthcheck` (the image's HEALTHCHECK) probes the address the server was started with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from demo.processes import start_receiver


def healthcheck(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", "healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_healthcheck_follows_the_running_servers_flags_and_config(tmp_path: Path) -> None:
    receiver = start_receiver(tmp_path, {})
    try:
        # No flags: the address comes from the serve process's own --config.file (the container's PID 1).
        found = healthcheck(f"--pid={receiver.proc.pid}")
        assert found.returncode == 0, found.stderr
        assert f"127.0.0.1:{receiver.port}/-/healthy: 200" in found.stdout
        assert healthcheck(f"--config.file={receiver.config_path}").returncode == 0
    finally:
        receiver.terminate()
    gone = healthcheck(f"--config.file={receiver.config_path}", "--timeout=1")
    assert gone.returncode == 1
    assert f"127.0.0.1:{receiver.port}" in gone.stderr
