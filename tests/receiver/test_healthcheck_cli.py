"""`alert-analyst healthcheck` (the image's HEALTHCHECK) probes the address the server was started with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from demo.processes import free_port, start_receiver, wait_http_ok


def healthcheck(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "receiver", "healthcheck", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=cwd,
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


def test_relative_paths_of_the_running_server_resolve_in_its_working_directory(tmp_path: Path) -> None:
    """`docker run -w /cfg ... serve --config.file=aa.yml`: the HEALTHCHECK runs in the image's WORKDIR."""
    served = tmp_path / "cfg"
    served.mkdir()
    port = free_port()
    (served / "token").write_text("t0ken\n")
    (served / "aa.yml").write_text(
        f"web: {{listen_address: '127.0.0.1:{port}'}}\nstorage: {{path: aa.db}}\n"
        "webhook: {bearer_token_file: token}\n"
    )
    command = [sys.executable, "-m", "receiver", "serve", "--config.file=aa.yml"]
    proc = subprocess.Popen(command, cwd=served, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http_ok(f"http://127.0.0.1:{port}/-/ready", timeout=30, proc=proc)
        found = healthcheck(f"--pid={proc.pid}", cwd=tmp_path)
        assert found.returncode == 0, found.stderr
        assert f"127.0.0.1:{port}/-/healthy: 200" in found.stdout
    finally:
        proc.terminate()
        proc.wait(timeout=30)
