"""Run `alert-analyst serve` as a subprocess on a free loopback port (for kill -9 and end-to-end tests)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from demo.processes import free_port, wait_http_ok


@dataclass
class ReceiverProcess:
    proc: subprocess.Popen[bytes]
    port: int
    config_path: Path
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            return self.proc.wait(timeout)
        return int(self.proc.returncode)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_receiver(workdir: Path, config: dict[str, Any], port: int | None = None) -> ReceiverProcess:
    port = port or free_port()
    config = {**config, "web": {**config.get("web", {}), "listen_address": f"127.0.0.1:{port}"}}
    config.setdefault("storage", {"path": str(workdir / "alert-analyst.db")})
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alert-analyst.yml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = workdir / f"receiver-{port}.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "receiver", "serve", f"--config.file={config_path}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
        )
    handle = ReceiverProcess(proc, port, config_path, log_path)
    try:
        wait_http_ok(f"{handle.url}/-/ready", timeout=30, proc=proc)
    except Exception:
        handle.terminate()
        raise
    return handle
