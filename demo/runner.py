"""`alert-analyst demo`: Prometheus, Alertmanager, a trading exporter and the receiver on 127.0.0.1.

The exporter replays incidents with known causes; the runner prints each incident and its diagnosis as the
receiver produces them, and stops every process it started on Ctrl-C, SIGTERM, `--duration` or an error.
"""

from __future__ import annotations

import argparse
import json
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from demo.backfill import backfill_history, history_openmetrics
from demo.exporter import DemoExporter
from demo.processes import (
    BinaryNotFound,
    ManagedProcess,
    find_binary,
    free_port,
    start_alertmanager,
    start_prometheus,
    wait_http_ok,
)
from demo.rules import demo_rules
from demo.scenario import DEFAULT_SCHEDULE, SERIES_LABELS, Phase, phase_at
from receiver.errors import ReceiverError

__all__ = [
    "TRADING_CONTEXT_QUERIES",
    "DemoPorts",
    "ReceiverCommand",
    "alertmanager_config",
    "default_receiver_command",
    "demo_rules",
    "prometheus_config",
    "receiver_config",
    "run_demo",
]

ReceiverCommand = Callable[[Path], list[str]]
WEBHOOK_PATH = "/webhook/alertmanager"
UI_USERNAME = "demo"
POLL_SECONDS = 1.0
HISTORY_SECONDS = 900  # calm history backfilled before the start, as long as the context lookback

# Raw metric names: the receiver applies rate() to counters itself and merges these with related series.
TRADING_CONTEXT_QUERIES: tuple[tuple[str, str], ...] = (
    ("pnl_usd", "demo_pnl_usd"),
    ("pnl_drawdown", "demo_pnl_drawdown_ratio"),
    ("volume_usd", "demo_volume_usd_total"),
    ("funding_rate", "demo_funding_rate"),
    ("volatility", "demo_volatility"),
    ("order_latency_p99", "demo_order_latency_seconds"),
    ("order_error_ratio", "demo_order_error_ratio"),
    ("db_pool_in_use", "demo_db_pool_in_use"),
    ("cpu_usage", "demo_cpu_usage_ratio"),
    ("memory_usage_bytes", "demo_memory_usage_bytes"),
    ("requests", "demo_requests_total"),
)

KNOWN_CAUSES: dict[str, str] = {
    "PnLDrawdownHigh": "demo_volatility (scenario 1: volatility spike)",
    "OrderErrorRateHigh": "demo_db_pool_in_use (scenario 2: DB pool exhaustion)",
    "OrderLatencyHigh": "demo_db_pool_in_use (scenario 2: DB pool exhaustion)",
}


def default_receiver_command(config_path: Path) -> list[str]:
    """`alert-analyst serve` from this interpreter."""
    return [sys.executable, "-m", "receiver", "serve", f"--config.file={config_path}"]


@dataclass(frozen=True)
class DemoPorts:
    receiver: int
    prometheus: int
    alertmanager: int
    exporter: int

    @classmethod
    def from_base(cls, base: int | None) -> DemoPorts:
        """Four consecutive ports from `base`, or four free ports when `base` is None."""
        if base is None:
            return cls(free_port(), free_port(), free_port(), free_port())
        return cls(base, base + 1, base + 2, base + 3)


def prometheus_config(
    exporter_port: int,
    alertmanager_port: int,
    rules_path: Path,
    receiver_port: int | None = None,
    interval: str = "1s",
) -> str:
    """Prometheus scraping the exporter (and the receiver's /metrics), evaluating the demo rules."""
    scrape = [
        {"job_name": "trading-exporter", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
    ]
    if receiver_port is not None:
        scrape.append(
            {"job_name": "alert-analyst", "static_configs": [{"targets": [f"127.0.0.1:{receiver_port}"]}]}
        )
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
            "external_labels": {"cluster": "demo"},
        },
        "rule_files": [str(rules_path)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": scrape,
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(
    webhook_url: str, bearer_token: str, group_wait: str = "1s", group_interval: str = "5s"
) -> str:
    """Alertmanager (0.25-compatible) sending every alert to `webhook_url` with a Bearer token."""
    config = {
        "route": {
            "receiver": "alert-analyst",
            "group_by": ["alertname", *SERIES_LABELS],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "alert-analyst",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": bearer_token}},
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


def receiver_config(
    port: int, prometheus_url: str, workdir: Path, bearer_token: str, ui_password: str | None = None
) -> dict[str, Any]:
    """The receiver's YAML settings for the demo: SQLite in `workdir`, built-in analyst, trading context."""
    webhook: dict[str, Any] = {"bearer_token": bearer_token}
    if ui_password is not None:
        webhook["basic_auth"] = {"username": UI_USERNAME, "password": ui_password}
    return {
        "web": {"listen_address": f"127.0.0.1:{port}", "external_url": f"http://127.0.0.1:{port}"},
        "storage": {"path": str(workdir / "alert-analyst.db")},
        "webhook": webhook,
        "prometheus": {"url": prometheus_url},
        "analyst": {"backend": "builtin"},
        "log": {"format": "console"},
        "context": {
            "lookback_seconds": HISTORY_SECONDS,
            "step_seconds": 2,
            "rate_window_seconds": 30,
            "context_queries": [
                {"name": name, "query": query, "match": {}} for name, query in TRADING_CONTEXT_QUERIES
            ],
        },
    }


def _parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="alert-analyst demo",
        description="Run Prometheus, Alertmanager, a synthetic trading exporter and the receiver on "
        "127.0.0.1, and print incidents and diagnoses as they happen.",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop after SECONDS (0 = run until Ctrl-C)",
    )
    parser.add_argument(
        "--port-base",
        type=int,
        default=None,
        metavar="PORT",
        help="use ports PORT (receiver), PORT+1 (Prometheus), PORT+2 (Alertmanager), PORT+3 (exporter); "
        "default: free ports",
    )
    parser.add_argument(
        "--workdir", type=Path, default=None, metavar="DIR", help="keep configs, logs and data here"
    )
    parser.add_argument(
        "--scenario-offset",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help=f"start the scenario cycle SECONDS in (cycle: {DEFAULT_SCHEDULE.period:.0f} s; "
        f"{DEFAULT_SCHEDULE.starts()['db_pool_climb']:.0f} starts scenario 2)",
    )
    return parser.parse_args(argv)


@dataclass
class DemoStack:
    """Everything the demo started, stopped in reverse order by `stop()`."""

    exporter: DemoExporter | None = None
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


class _StopRequest:
    """Signal handler that records SIGINT/SIGTERM; the runner checks it between steps."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.signum = signum

    def __bool__(self) -> bool:
        return self.signum is not None


@contextmanager
def _signals_to(request: _StopRequest) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, request) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def run_demo(
    argv: list[str],
    *,
    receiver_command: ReceiverCommand = default_receiver_command,
    out: TextIO | None = None,
) -> int:
    """Run the demo until `--duration`, Ctrl-C or SIGTERM. 0: stopped as asked, 1: error, 2: no binaries."""
    args = _parse_args(argv)
    out = out or sys.stdout
    try:
        find_binary("prometheus")
        find_binary("alertmanager")
    except BinaryNotFound as exc:
        print(f"alert-analyst demo: {exc}", file=sys.stderr)
        return 2
    own_workdir = args.workdir is None
    workdir: Path = Path(tempfile.mkdtemp(prefix="alert-analyst-demo-")) if own_workdir else args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    stop = _StopRequest()
    stack = DemoStack()
    code = 1
    with _signals_to(stop):
        try:
            session = _start_stack(stack, args, workdir, receiver_command, stop, out)
            if session is not None:
                _watch(session, stack, args.duration, stop)
            code = 0
        except (ReceiverError, OSError) as exc:
            if stop:  # Ctrl-C reaches the children too; their exit is not an error then
                code = 0
            else:
                print(f"alert-analyst demo: {exc}", file=sys.stderr)
        finally:
            _say(out, "stopping: terminating Prometheus, Alertmanager, the receiver and the exporter")
            stack.stop()
    if own_workdir and code == 0:
        shutil.rmtree(workdir, ignore_errors=True)
    elif code != 0:
        print(f"alert-analyst demo: configs and logs kept in {workdir}", file=sys.stderr)
    return code


@dataclass
class _Session:
    """What the watch loop needs: where the receiver is, how to authenticate, what was printed."""

    out: TextIO
    receiver_url: str
    token: str
    exporter: DemoExporter
    started: float
    started_unix: float
    phase: Phase | None = None
    incidents: dict[str, tuple[str, str]] = field(default_factory=dict)
    diagnosed: set[str] = field(default_factory=set)
    first_alert_reported: bool = False
    poll_failures: int = 0


def _start_stack(
    stack: DemoStack,
    args: argparse.Namespace,
    workdir: Path,
    receiver_command: ReceiverCommand,
    stop: _StopRequest,
    out: TextIO,
) -> _Session | None:
    """Start exporter, receiver, Alertmanager, Prometheus in that order; None if a stop came meanwhile."""
    ports = DemoPorts.from_base(args.port_base)
    token, ui_password = secrets.token_urlsafe(24), secrets.token_urlsafe(12)
    started, started_unix = time.monotonic(), time.time()
    stack.exporter = DemoExporter(DEFAULT_SCHEDULE, offset=args.scenario_offset)
    stack.exporter.start(ports.exporter)
    prometheus_url = f"http://127.0.0.1:{ports.prometheus}"
    receiver_url = f"http://127.0.0.1:{ports.receiver}"
    config_path = workdir / "alert-analyst.yml"
    settings = receiver_config(ports.receiver, prometheus_url, workdir, token, ui_password)
    config_path.write_text(yaml.safe_dump(settings, sort_keys=False))
    steps: list[Callable[[], ManagedProcess]] = [
        lambda: _start_receiver(workdir, receiver_command(config_path), ports.receiver),
        lambda: start_alertmanager(
            workdir / "alertmanager",
            alertmanager_config(receiver_url + WEBHOOK_PATH, token),
            ports.alertmanager,
        ),
        lambda: _start_prometheus(workdir / "prometheus", ports, started_unix, out),
    ]
    for step in steps:
        if stop:
            return None
        stack.processes.append(step())
    _print_banner(out, workdir, ports, stack, ui_password)
    return _Session(out, receiver_url, token, stack.exporter, started, started_unix)


def _start_receiver(workdir: Path, argv: list[str], port: int) -> ManagedProcess:
    log_path = workdir / "receiver.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=workdir
        )
    managed = ManagedProcess("receiver", port, proc, workdir, log_path)
    try:
        wait_http_ok(f"{managed.url}/-/ready", timeout=30, proc=proc)
    except ReceiverError as exc:
        managed.stop()
        raise ReceiverError(f"the receiver failed to start: {exc}\n{managed.log_tail()}") from exc
    return managed


def _start_prometheus(workdir: Path, ports: DemoPorts, started_unix: float, out: TextIO) -> ManagedProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    labels = {"job": "trading-exporter", "instance": f"127.0.0.1:{ports.exporter}", **SERIES_LABELS}
    try:
        history = history_openmetrics(started_unix, HISTORY_SECONDS, labels)
        backfill_history(find_binary("promtool"), history, workdir / "data")
    except ReceiverError as exc:  # BinaryNotFound included: the demo still runs, with a short baseline
        _say(out, f"note: no calm history backfilled ({exc})")
    rules_path = workdir / "trading-demo.rules.yml"
    rules_path.write_text(demo_rules())
    config = prometheus_config(ports.exporter, ports.alertmanager, rules_path, ports.receiver)
    return start_prometheus(workdir, config, ports.prometheus)


def _print_banner(out: TextIO, workdir: Path, ports: DemoPorts, stack: DemoStack, ui_password: str) -> None:
    pids = {managed.name: managed.proc.pid for managed in stack.processes}
    base = f"http://127.0.0.1:{ports.receiver}"
    lines = [
        "alert-analyst demo is running on 127.0.0.1 (Ctrl-C stops everything)",
        f"  UI             {base}/ui/   (login {UI_USERNAME} / {ui_password})",
        f"  incidents API  {base}/api/v1/incidents   (same login)",
        f"  Prometheus     http://127.0.0.1:{ports.prometheus}/alerts",
        f"  Alertmanager   http://127.0.0.1:{ports.alertmanager}/",
        f"  exporter       http://127.0.0.1:{ports.exporter}/metrics",
        f"  workdir        {workdir}   (configs and logs)",
        "  pids           " + ", ".join(f"{name} {pid}" for name, pid in pids.items()),
        f"Scenarios repeat every {DEFAULT_SCHEDULE.period:.0f} s: 1) a volatility spike drags PnL down, "
        "2) DB pool exhaustion drives order errors and latency.",
        "The first alert (PnLDrawdownHigh) fires about 70 s after start.",
    ]
    for line in lines:
        print(line, file=out, flush=True)


def _watch(session: _Session, stack: DemoStack, duration: float, stop: _StopRequest) -> None:
    deadline = session.started + duration if duration > 0 else None
    next_poll = 0.0
    while not stop and (deadline is None or time.monotonic() < deadline):
        stack.check_alive()
        _report_phase(session)
        if time.monotonic() >= next_poll:
            _report_incidents(session)
            next_poll = time.monotonic() + POLL_SECONDS
        time.sleep(0.2)


def _elapsed(session: _Session) -> str:
    seconds = int(time.monotonic() - session.started)
    return f"[+{seconds // 60:02d}:{seconds % 60:02d}]"


def _say(out: TextIO, text: str) -> None:
    print(text, file=out, flush=True)


def _report_phase(session: _Session) -> None:
    phase = phase_at(session.exporter.collector.scenario_time(), session.exporter.collector.schedule)
    if phase != session.phase:
        session.phase = phase
        _say(session.out, f"{_elapsed(session)} scenario  {phase.description}")


def _get_json(session: _Session, path: str) -> Any:
    request = urllib.request.Request(
        session.receiver_url + path, headers={"Authorization": f"Bearer {session.token}"}
    )
    with urllib.request.urlopen(request, timeout=3) as response:
        return json.load(response)


def _report_incidents(session: _Session) -> None:
    since = urllib.parse.quote(str(int(session.started_unix) - 1))
    try:
        listing = _get_json(session, f"/api/v1/incidents?since={since}&limit=500")
        for incident in listing.get("incidents", []):
            _report_incident(session, incident)
    except (OSError, ValueError) as exc:
        session.poll_failures += 1
        if session.poll_failures in (3, 30) or session.poll_failures % 300 == 0:
            _say(session.out, f"{_elapsed(session)} warning   receiver API not answering: {exc}")


def _report_incident(session: _Session, incident: dict[str, Any]) -> None:
    incident_id = str(incident.get("id"))
    state = (str(incident.get("status")), str(incident.get("stage")))
    if session.incidents.get(incident_id) != state:
        if incident_id not in session.incidents and not session.first_alert_reported:
            session.first_alert_reported = True
            _say(session.out, f"{_elapsed(session)} first alert received by the receiver")
        session.incidents[incident_id] = state
        _say(
            session.out,
            f"{_elapsed(session)} incident  {incident.get('alertname')} [{incident.get('severity')}] "
            f"{state[0]}, stage {state[1]}  (id {incident_id})",
        )
    if incident_id not in session.diagnosed:
        detail = _get_json(session, f"/api/v1/incidents/{urllib.parse.quote(incident_id)}")
        if detail.get("diagnosis"):
            session.diagnosed.add(incident_id)
            for line in format_diagnosis(incident, detail["diagnosis"], session.receiver_url):
                _say(session.out, f"{_elapsed(session)} {line}")


def format_diagnosis(incident: dict[str, Any], diagnosis: dict[str, Any], receiver_url: str) -> list[str]:
    """The lines printed for one diagnosis: primary hypothesis, summary, actions, known cause, links."""
    alertname = str(incident.get("alertname"))
    primary = diagnosis.get("primary_hypothesis") or {}
    confidence = primary.get("confidence")
    confidence_text = f"{confidence:.0%}" if isinstance(confidence, int | float) else "?"
    suspect = str(primary.get("suspect"))
    title = str(primary.get("title", "(no title)")).removesuffix(f": {suspect}")
    lines = [
        f"diagnosis {alertname}: {title} ({primary.get('category')}, confidence {confidence_text})",
        f"            suspect: {suspect}",
    ]
    if diagnosis.get("executive_summary"):
        lines.append(f"            summary: {_shorten(str(diagnosis['executive_summary']))}")
    for action in (diagnosis.get("immediate_actions") or [])[:3]:
        lines.append(f"            action: {_shorten(str(action))}")
    if alertname in KNOWN_CAUSES:
        lines.append(f"            known cause in this scenario: {KNOWN_CAUSES[alertname]}")
    lines.append(f"            details: {receiver_url}/ui/incidents/{incident.get('id')}")
    return lines


def _shorten(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
