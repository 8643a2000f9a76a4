"""Start Prometheus and Alertmanager binaries, and `alert-analyst serve`, on loopback (used by the demo,
the tests and the benchmarks)."""

from __future__ import annotations

import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from receiver.errors import ReceiverError

APT_HINT = "apt-get install -y prometheus prometheus-alertmanager"
BINARIES = {
    "prometheus": ("prometheus", "/usr/bin/prometheus"),
    "alertmanager": ("prometheus-alertmanager", "alertmanager", "/usr/bin/prometheus-alertmanager"),
    "amtool": ("amtool",),
    "promtool": ("promtool",),
    "victoria-metrics": ("victoria-metrics", "victoria-metrics-prod"),
}


class BinaryNotFound(ReceiverError):
    """A required binary is not on PATH."""


class StartCancelled(ReceiverError):
    """A stop was requested while a process was starting."""


def find_binary(name: str) -> str:
    """Path of a Prometheus-stack binary, or BinaryNotFound naming the apt-get line that installs it."""
    for candidate in BINARIES.get(name, (name,)):
        path = shutil.which(candidate)
        if path:
            return path
    raise BinaryNotFound(f"{name} not found on PATH; install it with: {APT_HINT}")


EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
PORT_SPAN = 16_384  # ports tried below the kernel's ephemeral range
_ports = random.Random()


def ephemeral_low() -> int:
    """The lowest port the kernel hands out on its own (to client sockets and port-0 listeners)."""
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def free_port() -> int:
    """A free loopback port below the kernel's ephemeral range.

    A port the kernel picked (bind to 0) is free when asked, but between the check and the server's own
    bind, any client socket or port-0 listener may be given the same number (Alertmanager once failed
    with "address already in use" that way). The kernel never hands out ports below its ephemeral range,
    so a free one there stays free unless another caller of this function picks the same one.
    """
    low = ephemeral_low()
    for _ in range(64):
        port = _ports.randrange(max(1024, low - PORT_SPAN), low) if low > 1024 + 64 else 0
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_http_ok(
    url: str,
    timeout: float = 20.0,
    proc: subprocess.Popen[bytes] | None = None,
    stop: Callable[[], bool] | None = None,
) -> None:
    """Poll `url` until it answers 200 (or raise, with the process's exit if it died, or StartCancelled
    as soon as `stop()` is true)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if stop is not None and stop():
            raise StartCancelled(f"stopped while waiting for {url}")
        if proc is not None and proc.poll() is not None:
            raise ReceiverError(f"process for {url} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError as exc:
            last = exc
        time.sleep(0.1)
    raise ReceiverError(f"{url} not ready after {timeout}s: {last}")


@dataclass
class ManagedProcess:
    """A child process listening on 127.0.0.1:port; `stop()` terminates it."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    workdir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, even by SIGKILL (Linux PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def _spawn(
    name: str,
    argv: list[str],
    workdir: Path,
    port: int,
    ready_path: str,
    stop: Callable[[], bool] | None = None,
) -> ManagedProcess:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, cwd=workdir, preexec_fn=die_with_parent
        )
    managed = ManagedProcess(name, port, proc, workdir, log_path)
    try:
        wait_http_ok(f"{managed.url}{ready_path}", proc=proc, stop=stop)
    except StartCancelled:
        managed.stop()
        raise
    except ReceiverError as exc:
        managed.stop()
        raise ReceiverError(f"{name} failed to start: {exc}\n{managed.log_tail()}") from exc
    return managed


def create_blocks(openmetrics: Path, data_dir: Path) -> None:
    """Backfill an OpenMetrics file into TSDB blocks (up to a day each) for a Prometheus not yet running."""
    subprocess.run(
        [
            find_binary("promtool"),
            "tsdb",
            "create-blocks-from",
            "openmetrics",
            "--max-block-duration=24h",
            str(openmetrics),
            str(data_dir),
        ],
        check=True,
        capture_output=True,
    )


def start_prometheus(
    workdir: Path,
    config_yaml: str,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    stop: Callable[[], bool] | None = None,
) -> ManagedProcess:
    """Run Prometheus with `config_yaml` and a data dir under `workdir`; waits for /-/ready."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "prometheus.yml").write_text(config_yaml)
    argv = [
        find_binary("prometheus"),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--web.enable-lifecycle",
        *extra_args,
    ]
    return _spawn("prometheus", argv, workdir, port, "/-/ready", stop)


def start_alertmanager(
    workdir: Path,
    config_yaml: str,
    port: int | None = None,
    extra_args: tuple[str, ...] = (),
    stop: Callable[[], bool] | None = None,
) -> ManagedProcess:
    """Run Alertmanager (no clustering) with `config_yaml` and storage under `workdir`."""
    port = port or free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "alertmanager.yml").write_text(config_yaml)
    argv = [
        find_binary("alertmanager"),
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}",
        "--cluster.listen-address=",
        *extra_args,
    ]
    return _spawn("alertmanager", argv, workdir, port, "/-/ready", stop)


@dataclass
class ReceiverProcess:
    """`alert-analyst serve` as a child process (for kill -9, reload and end-to-end runs)."""

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


def start_receiver(
    workdir: Path, config: dict[str, Any], port: int | None = None, output: Path | None = None
) -> ReceiverProcess:
    """Write `config` (listening on 127.0.0.1:`port`, a free one by default) under `workdir` and run
    `alert-analyst serve` on it, its stdout and stderr appended to `output` (`receiver-<port>.log` in
    `workdir` by default); waits for /-/ready."""
    port = port or free_port()
    config = {**config, "web": {**config.get("web", {}), "listen_address": f"127.0.0.1:{port}"}}
    config.setdefault("storage", {"path": str(workdir / "alert-analyst.db")})
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "alert-analyst.yml"
    config_path.write_text(yaml.safe_dump(config))
    log_path = output or workdir / f"receiver-{port}.log"
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
