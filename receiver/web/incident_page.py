"""What the incident page shows, computed from stored rows: pure functions, no I/O.

Labels shared by every series are shown once; each series by the labels that tell it apart. A series
listed under two roles is shown once (its strongest role: alert, then related, then context).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from receiver.delivery.readable import without_alert_labels
from receiver.pipeline.stages import RECOVERY
from receiver.web.links import alertmanager_silence, grafana_explore, prometheus_graph, safe_url, slack_thread

ROLE_ORDER = {"alert": 0, "related": 1, "context": 2}
MAX_CHARTS = 6


@dataclass(frozen=True)
class SeriesRow:
    """One evidence series as the page shows it."""

    series_id: str
    metric: str
    distinct: dict[str, str]
    role: str
    data: Mapping[str, Any]
    chart: dict[str, Any] | None
    graph_url: str | None
    explore_url: str | None


@dataclass(frozen=True)
class Links:
    prometheus: str | None = None
    grafana: str | None = None
    silence: str | None = None
    runbook: str | None = None
    dashboard: str | None = None
    generator: str | None = None
    slack: str | None = None
    pagerduty_key: str | None = None


@dataclass(frozen=True)
class IncidentPage:
    incident: dict[str, Any]
    common_labels: dict[str, str]
    series: list[SeriesRow]
    window: tuple[float, float] | None
    links: Links
    diagnoses: list[dict[str, Any]]
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what collecting the evidence noted
    recovery: str | None = None  # the recovery checked at resolution (its stage result), if any


def common_labels(label_sets: Sequence[Mapping[str, str]]) -> dict[str, str]:
    """Label pairs every set shares (empty for fewer than two sets)."""
    if len(label_sets) < 2:
        return {}
    first = dict(label_sets[0])
    return {k: v for k, v in first.items() if all(s.get(k) == v for s in label_sets[1:])}


def unique_series(series: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Each series once, alert's own first, then anomalous ones by onset, then the rest."""
    best: dict[str, Mapping[str, Any]] = {}
    for s in series:
        kept = best.get(s["series_id"])
        if kept is None or ROLE_ORDER.get(s["role"], 9) < ROLE_ORDER.get(kept["role"], 9):
            best[s["series_id"]] = s
    return sorted(
        best.values(),
        key=lambda s: (s["role"] != "alert", not s.get("anomalous"), s.get("onset") or 0, s["series_id"]),
    )


def _chart(
    s: Mapping[str, Any], window: tuple[float, float], marks: dict[str, float | None]
) -> dict[str, Any]:
    labels = {k: v for k, v in s.get("labels", {}).items() if k != "__name__"}
    return {
        "query": s.get("query") or s["series_id"],
        "match": json.dumps(labels, sort_keys=True),
        "start": window[0],
        "end": window[1],
        "marks": json.dumps({**marks, "onset": s.get("onset"), "back to normal": s.get("recovered")}),
        "title": s.get("metric") or s["series_id"],
    }


def chart_range(window: tuple[float, float], ends_at: float | None, now: float) -> tuple[float, float]:
    """The analysed window, extended past its end to the resolve time (or now), at most one window more,
    so the chart shows what happened after the alert too."""
    start, end = window
    after = min(ends_at or now, end + (end - start))
    return start, max(end, after + 0.05 * (after - start))


def build_incident_page(
    data: Mapping[str, Any],
    *,
    prometheus_url: str,
    grafana_url: str | None,
    now: float,
    extras: Sequence[str] = (),
) -> IncidentPage:
    """The page of one stored incident (`data` from `storage.workbench.incident_page_data`)."""
    inc = data["incident"]
    evidence = inc.get("evidence") or {}
    window = (evidence["window_start"], evidence["window_end"]) if evidence else None
    shown = chart_range(window, inc.get("ends_at"), now) if window else None
    rows = unique_series(evidence.get("series", []))
    shared = common_labels([s.get("labels", {}) for s in rows])
    marks = {"alert start": inc.get("starts_at"), "resolved": inc.get("ends_at")}
    series = []
    for index, s in enumerate(rows):
        query = s.get("query") or s["series_id"]
        charted = window is not None and s.get("available", True) and (index < MAX_CHARTS)
        series.append(
            SeriesRow(
                series_id=s["series_id"],
                metric=s.get("metric", ""),
                distinct={
                    k: v for k, v in s.get("labels", {}).items() if k not in shared and k != "__name__"
                },
                role=s["role"],
                data=s,
                chart=_chart(s, shown, marks) if charted and shown else None,
                graph_url=prometheus_graph(prometheus_url, query, *window) if window else None,
                explore_url=grafana_explore(grafana_url, query, *window) if window else None,
            )
        )
    return IncidentPage(
        incident=inc,
        common_labels=shared,
        series=series,
        window=window,
        links=_links(data, prometheus_url, grafana_url, window),
        diagnoses=list(data.get("diagnoses", [])),
        deliveries=list(data.get("deliveries", [])),
        stages=list(data.get("stages", [])),
        extras=list(extras),
        notes=[str(n) for n in evidence.get("notes", [])],
        recovery=recovery_checked(data.get("stages", []), inc.get("labels", {})),
    )


def recovery_checked(
    stages: Sequence[Mapping[str, Any]], labels: Mapping[str, str] | None = None
) -> str | None:
    """What the newest recovery check at resolution found (the `recovery` stage result's detail); for a
    page, its selectors without the alert's own `labels` (shown once at the top, as Slack shows them)."""
    checks = [s for s in stages if s.get("stage") == RECOVERY and s.get("detail")]
    if not checks:
        return None
    detail = str(checks[-1]["detail"])
    return without_alert_labels(detail, labels) if labels else detail


def _links(
    data: Mapping[str, Any], prometheus_url: str, grafana_url: str | None, window: tuple[float, float] | None
) -> Links:
    inc = data["incident"]
    annotations = inc.get("annotations", {})
    expr = (inc.get("evidence") or {}).get("alert", {}).get("expr") or ""
    start, end = window or (inc["starts_at"] - 3600, (inc.get("ends_at") or inc["starts_at"]) + 600)
    slack = next(
        (d["result"] for d in data.get("deliveries", []) if d["destination"] == "slack" and d.get("result")),
        None,
    )
    pagerduty = next(
        (
            d["result"]
            for d in data.get("deliveries", [])
            if d["destination"] == "pagerduty" and d.get("result")
        ),
        None,
    )
    return Links(
        prometheus=prometheus_graph(prometheus_url, expr, start, end) if expr else None,
        grafana=grafana_explore(grafana_url, expr, start, end) if expr else None,
        silence=alertmanager_silence(data.get("alertmanager_url"), inc.get("labels", {})),
        runbook=safe_url(annotations.get("runbook_url")),
        dashboard=safe_url(annotations.get("dashboard_url") or annotations.get("grafana_url")),
        generator=safe_url(inc.get("generator_url")),
        slack=slack_thread(slack),
        pagerduty_key=str(pagerduty.get("dedup_key")) if pagerduty and pagerduty.get("dedup_key") else None,
    )
