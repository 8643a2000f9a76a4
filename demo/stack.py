"""The demo's processes: the exporter, the receiver, Alertmanager and Prometheus, started and stopped."""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import yaml

from demo.backfill import backfill_history, history_openmetrics
from demo.configs import (
    HISTORY_SECONDS,
    WEBHOOK_PATH,
    alertmanager_config,
    prometheus_config,
    receiver_config,
)
from demo.exporter import DemoExporter
from demo.processes import (
    ManagedProcess,
    StartCancelled,
    die_with_parent,
    find_binary,
    free_port,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)
from demo.report import Session, print_banner, say
from demo.rules import demo_rules
from demo.scenario import DEFAULT_SCHEDULE, SERIES_LABELS
from demo.standins import StandIns
from receiver.errors import ReceiverError

ReceiverCommand = Callable[[Path], list[str]]


def default_receiver_command(config_path: Path) -> list[str]:
    """`alert-analyst serve` from this interpreter."""
    return [sys.executable, "-m", "receiver", "serve", f"--config.file={config_path}"]


PORT_ROLES = ("receiver", "Prometheus", "Alertmanager", "exporter", "Slack/Grafana stand-ins")
MAX_PORT_BASE = 65535 - (len(PORT_ROLES) - 1)


@dataclass(frozen=True)
class DemoPorts:
    receiver: int
    prometheus: int
    alertmanager: int
    exporter: int
    standins: int

    @classmethod
    def from_base(cls, base: int | None) -> DemoPorts:
        """Five consecutive ports from `base`, or five different free ports when `base` is None."""
        if base is not None:
            return cls(*range(base, base + len(PORT_ROLES)))
        ports: list[int] = []
        while len(ports) < len(PORT_ROLES):
            port = free_port()
            if port not in ports:
                ports.append(port)
        return cls(*ports)

    def check_free(self) -> None:
        """Raise PortsInUse naming each of these ports something already listens on."""
        ports = (self.receiver, self.prometheus, self.alertmanager, self.exporter, self.standins)
        busy = [
            f"127.0.0.1:{port} ({role})" for port, role in zip(ports, PORT_ROLES, strict=True) if _taken(port)
        ]
        if busy:
            raise PortsInUse(
                f"{', '.join(busy)} already in use; "
                "choose another --port-base, or leave it out for free ports"
            )


class PortsInUse(ReceiverError):
    """A port the demo was told to use is taken."""


def _taken(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind: TIME_WAIT is free
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


@dataclass
class DemoStack:
    """Everything the demo started, stopped in reverse order by `stop()`."""

    exporter: DemoExporter | None = None
    standins: StandIns | None = None
    processes: list[ManagedProcess] = field(default_factory=list)

    def check_alive(self) -> None:
        for managed in self.processes:
            if managed.proc.poll() is not None:
                raise ReceiverError(
                    f"{managed.name} exited with {managed.proc.returncode}; last log lines "
                    f"({managed.log_path}):\n{managed.log_tail()}"
                )

    def stop(self) -> None:
        for managed in reversed(self.processes):
            managed.stop(timeout=10)
        if self.exporter is not None:
            self.exporter.stop()
        if self.standins is not None:
            self.standins.stop()


def start_stack(
    stack: DemoStack,
    ports: DemoPorts,
    scenario_offset: float,
    workdir: Path,
    receiver_command: ReceiverCommand,
    stop: Callable[[], bool],
    out: TextIO,
) -> Session | None:
    """Start exporter, receiver, Alertmanager, Prometheus in that order; None if a stop came meanwhile."""
    token, ui_password = secrets.token_urlsafe(24), secrets.token_urlsafe(12)
    started, started_unix = time.monotonic(), time.time()
    stack.exporter = DemoExporter(DEFAULT_SCHEDULE, offset=scenario_offset)
    stack.exporter.start(ports.exporter)
    stack.standins = StandIns(ports.standins)
    stack.standins.start()
    prometheus_url = f"http://127.0.0.1:{ports.prometheus}"
    receiver_url = f"http://127.0.0.1:{ports.receiver}"
    config_path = workdir / "alert-analyst.yml"
    settings = receiver_config(
        ports.receiver, prometheus_url, workdir, token, ui_password, standins_url=stack.standins.url
    )
    config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    steps: list[Callable[[], ManagedProcess]] = [
        lambda: _start_receiver(workdir, receiver_command(config_path), ports.receiver, stop),
        lambda: start_alertmanager(
            workdir / "alertmanager",
            alertmanager_config(receiver_url + WEBHOOK_PATH, token),
            ports.alertmanager,
            stop=stop,
        ),
        lambda: _start_prometheus(workdir / "prometheus", ports, started_unix, out, stop),
    ]
    for step in steps:
        if stop():
            return None
        stack.processes.append(step())
    print_banner(out, workdir, ports, stack, ui_password, scenario_offset)
    return Session(out, receiver_url, token, stack.exporter, started, started_unix)


def _start_receiver(workdir: Path, argv: list[str], port: int, stop: Callable[[], bool]) -> ManagedProcess:
    log_path = workdir / "receiver.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            preexec_fn=die_with_parent,  # not left serving (and holding its port) if the demo is killed
        )
    managed = ManagedProcess("receiver", port, proc, workdir, log_path)
    try:
        wait_http_ok(f"{managed.url}/-/ready", timeout=30, proc=proc, stop=stop)
    except StartCancelled:
        managed.stop()
        raise
    except ReceiverError as exc:
        managed.stop()
        raise ReceiverError(f"the receiver failed to start: {exc}\n{managed.log_tail()}") from exc
    return managed


def _start_prometheus(
    workdir: Path, ports: DemoPorts, started_unix: float, out: TextIO, stop: Callable[[], bool]
) -> ManagedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    labels = {"job": "trading-exporter", "instance": f"127.0.0.1:{ports.exporter}", **SERIES_LABELS}
    try:
        history = history_openmetrics(started_unix, HISTORY_SECONDS, labels)
        backfill_history(find_binary("promtool"), history, workdir / "data")
    except ReceiverError as exc:  # BinaryNotFound included: the demo still runs, with a short baseline
        if stop():  # Ctrl-C reached promtool too: not a missing history, a stop
            raise StartCancelled("stopped while backfilling the history") from exc
        say(out, f"note: no calm history backfilled ({exc})")
    if stop():
        raise StartCancelled("stopped before Prometheus started")
    rules_path = workdir / "trading-demo.rules.yml"
    rules_path.write_text(demo_rules())
    config = prometheus_config(ports.exporter, ports.alertmanager, rules_path, ports.receiver)
    return start_prometheus(workdir, config, ports.prometheus, stop=stop)
