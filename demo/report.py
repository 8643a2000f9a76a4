"""What the demo prints: the banner, scenario phases, incidents and diagnoses from the receiver's API."""

from __future__ import annotations

import json
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from demo.configs import UI_USERNAME
from demo.exporter import DemoExporter
from demo.scenario import DEFAULT_SCHEDULE, Phase, Schedule, phase_at
from receiver.errors import ReceiverError

if TYPE_CHECKING:
    from demo.stack import DemoPorts, DemoStack

POLL_SECONDS = 1.0

KNOWN_CAUSES: dict[str, str] = {
    "MarketVolatilityAnomaly": "demo_volatility (scenario 1: volatility spike, seen by a detection rule)",
    "PnLDrawdownHigh": "demo_volatility (scenario 1: volatility spike)",
    "OrderErrorRateHigh": "demo_db_pool_in_use (scenario 2: DB pool exhaustion)",
    "OrderLatencyHigh": "demo_db_pool_in_use (scenario 2: DB pool exhaustion)",
}


@dataclass
class Session:
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


class OutputClosed(ReceiverError):
    """The demo's output cannot be written any more (its reader is gone: `| head`, a closed terminal)."""


def say(out: TextIO, text: str) -> None:
    try:
        print(text, file=out, flush=True)
    except OSError as exc:
        raise OutputClosed(f"cannot write the output: {exc.strerror or exc}") from exc


# Seconds from a scenario's start to its first alert, measured on the default schedule: PnLDrawdownHigh
# once the drawdown passes 30% and held 5 s; OrderLatencyHigh once p99 latency passes 250 ms.
SCENARIO_ALERT_LAG = {"volatility_lead": 55.0, "db_pool_climb": 46.0}


def seconds_until(cycle_time: float, offset: float, schedule: Schedule = DEFAULT_SCHEDULE) -> float:
    """Seconds after the start until the cycle next reaches `cycle_time`, the demo having started
    `offset` seconds into it (a negative offset is that much calm first)."""
    if offset <= cycle_time:
        return cycle_time - offset
    return (cycle_time - offset) % schedule.period


def timeline_lines(offset: float, schedule: Schedule = DEFAULT_SCHEDULE) -> list[str]:
    """The banner's lines on what happens when, for a demo started `offset` seconds into the cycle."""
    starts = schedule.starts()
    spike = seconds_until(starts["volatility_lead"], offset, schedule)
    drawdown_alert, order_alerts = (
        seconds_until(starts[phase] + lag, offset, schedule) for phase, lag in SCENARIO_ALERT_LAG.items()
    )
    return [
        f"Scenarios repeat every {schedule.period:.0f} s: 1) a volatility spike drags PnL down, "
        "2) DB pool exhaustion drives order errors and latency.",
        f"Scheduled detection flags the volatility spike about {spike:.0f} s after start "
        "(no alert rule watches it);",
        f"PnLDrawdownHigh fires about {drawdown_alert:.0f} s after start, OrderLatencyHigh and "
        f"OrderErrorRateHigh about {order_alerts:.0f} s after start.",
    ]


def print_banner(
    out: TextIO,
    workdir: Path,
    ports: DemoPorts,
    stack: DemoStack,
    ui_password: str,
    scenario_offset: float = 0.0,
) -> None:
    pids = {managed.name: managed.proc.pid for managed in stack.processes}
    base = f"http://127.0.0.1:{ports.receiver}"
    prometheus = prometheus_links(f"http://127.0.0.1:{ports.prometheus}")
    lines = [
        "alert-analyst demo is running on 127.0.0.1 (Ctrl-C stops everything)",
        f"  UI             {base}/ui/   (login {UI_USERNAME} / {ui_password})",
        f"  incidents API  {base}/api/v1/incidents   (same login)",
        f"  Prometheus     {prometheus.alerts}   (graph: {prometheus.graph})",
        f"  Alertmanager   {alertmanager_link(f'http://127.0.0.1:{ports.alertmanager}')}",
        f"  Slack, Grafana http://127.0.0.1:{ports.standins}/   (local stand-ins: what would be posted)",
        f"  exporter       http://127.0.0.1:{ports.exporter}/metrics",
        f"  workdir        {workdir}   (configs and logs)",
        "  pids           " + ", ".join(f"{name} {pid}" for name, pid in pids.items()),
        *timeline_lines(scenario_offset),
    ]
    for line in lines:
        say(out, line)


@dataclass(frozen=True)
class PrometheusLinks:
    alerts: str
    graph: str


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def prometheus_links(url: str) -> PrometheusLinks:
    """The alerts and graph pages this Prometheus serves: the React UI's, or the classic UI's (Debian's
    package ships only the classic one: /alerts is 404 there, /classic/alerts answers)."""
    if not _answers(f"{url}/alerts") and _answers(f"{url}/classic/alerts"):
        return PrometheusLinks(f"{url}/classic/alerts", f"{url}/classic/graph")
    return PrometheusLinks(f"{url}/alerts", f"{url}/graph")


def alertmanager_link(url: str) -> str:
    """Its web UI, or (Debian's package ships a placeholder page instead: its script.js is 404) the API and
    the amtool command that list the alerts."""
    if _answers(f"{url}/script.js"):
        return f"{url}/"
    return f"{url}/api/v2/alerts   (no web UI here; or: amtool --alertmanager.url={url} alert query)"


def watch(session: Session, stack: DemoStack, duration: float, stop: Callable[[], bool]) -> None:
    deadline = session.started + duration if duration > 0 else None
    next_poll = 0.0
    while not stop() and (deadline is None or time.monotonic() < deadline):
        stack.check_alive()
        _report_phase(session)
        if time.monotonic() >= next_poll:
            _report_incidents(session)
            next_poll = time.monotonic() + POLL_SECONDS
        time.sleep(0.2)


def _elapsed(session: Session) -> str:
    seconds = int(time.monotonic() - session.started)
    return f"[+{seconds // 60:02d}:{seconds % 60:02d}]"


def _report_phase(session: Session) -> None:
    phase = phase_at(session.exporter.collector.scenario_time(), session.exporter.collector.schedule)
    if phase != session.phase:
        session.phase = phase
        say(session.out, f"{_elapsed(session)} scenario  {phase.description}")


def _get_json(session: Session, path: str) -> Any:
    request = urllib.request.Request(
        session.receiver_url + path, headers={"Authorization": f"Bearer {session.token}"}
    )
    with urllib.request.urlopen(request, timeout=3) as response:
        return json.load(response)


def _report_incidents(session: Session) -> None:
    since = urllib.parse.quote(str(int(session.started_unix) - 1))
    try:
        listing = _get_json(session, f"/api/v1/incidents?since={since}&limit=500")
        for incident in listing.get("incidents", []):
            _report_incident(session, incident)
    except (OSError, ValueError) as exc:
        session.poll_failures += 1
        if session.poll_failures in (3, 30) or session.poll_failures % 300 == 0:
            say(session.out, f"{_elapsed(session)} warning   receiver API not answering: {exc}")


def _report_incident(session: Session, incident: dict[str, Any]) -> None:
    incident_id = str(incident.get("id"))
    state = (str(incident.get("status")), str(incident.get("stage")))
    if session.incidents.get(incident_id) != state:
        if incident_id not in session.incidents and not session.first_alert_reported:
            session.first_alert_reported = True
            say(session.out, f"{_elapsed(session)} first incident opened by the receiver")
        session.incidents[incident_id] = state
        origin = ", from scheduled detection" if incident.get("source") == "detector" else ""
        say(
            session.out,
            f"{_elapsed(session)} incident  {incident.get('alertname')} [{incident.get('severity')}] "
            f"{state[0]}, stage {state[1]}  (id {incident_id}{origin})",
        )
    if incident_id not in session.diagnosed:
        detail = _get_json(session, f"/api/v1/incidents/{urllib.parse.quote(incident_id)}")
        if detail.get("diagnosis"):
            session.diagnosed.add(incident_id)
            for line in format_diagnosis(incident, detail["diagnosis"], session.receiver_url):
                say(session.out, f"{_elapsed(session)} {line}")


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
