"""Nezha fault data (OnlineBoutique, TrainTicket) as Evidence, straight from the CSVs (no Prometheus).

Per fault: each pod column becomes a series judged by a robust shift of the 3 minutes after the
injection against the 10 before; the entry service's p90 latency or success rate is the alert series.
The truth is the injected pod's service. A light stand-in for the held-out protocol of the data's
README, good enough to make recurring kinds for `bench.feedback`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from analyst.evidence import AlertInfo, Evidence, SeriesEvidence

COLUMNS = {
    "CpuUsageRate(%)": "pod_cpu_usage_percent",
    "MemoryUsageRate(%)": "pod_memory_usage_percent",
    "PodClientLatencyP90(s)": "pod_client_latency_p90_seconds",
    "PodServerLatencyP90(s)": "pod_server_latency_p90_seconds",
    "PodSuccessRate(%)": "pod_success_rate_percent",
    "NetworkReceiveBytes": "pod_network_receive_bytes",
    "NetworkTransmitBytes": "pod_network_transmit_bytes",
}
BEFORE, AFTER = 600.0, 180.0
Z_THRESHOLD = 4.0
SCALE_FLOOR = 1e-3


def _time(text: str) -> float:
    return datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()


def _read(path: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    times = np.array([_time(r["Time"]) for r in rows])
    columns = {
        name: np.array([float(r[name]) if r[name] not in ("", "NaN") else np.nan for r in rows])
        for name in rows[0]
        if name not in ("Time", "TimeStamp", "PodName", "ServiceName")
    }
    return times, columns


def _shift(times: np.ndarray, values: np.ndarray, at: float) -> tuple[float, float, float] | None:
    """(z, baseline, current) of the window after `at` against the one before."""
    before = values[(times >= at - BEFORE) & (times < at) & ~np.isnan(values)]
    after = values[(times >= at) & (times <= at + AFTER) & ~np.isnan(values)]
    if len(before) < 4 or len(after) < 1:
        return None
    median = float(np.median(before))
    scale = max(1.4826 * float(np.median(np.abs(before - median))), abs(median) * 0.05, SCALE_FLOOR)
    current = float(np.mean(after))
    return (current - median) / scale, median, current


def service_of(pod: str) -> str:
    return "-".join(pod.split("-")[:-2])


def _series(
    series_id: str, metric: str, service: str, shift: tuple[float, float, float], at: float, role: str
) -> SeriesEvidence:
    z, baseline, current = shift
    anomalous = abs(z) >= Z_THRESHOLD
    return SeriesEvidence(
        series_id=series_id,
        metric=metric,
        labels={"service": service},
        role=role,  # type: ignore[arg-type]
        anomalous=anomalous,
        anomaly_type="level_shift" if anomalous else None,
        onset=at if anomalous else None,
        direction=("up" if z > 0 else "down") if anomalous else None,
        baseline=baseline,
        current=current,
        z_score=float(np.clip(z, -1e3, 1e3)),
        score=float(min(abs(z), 1e3)),
        component=service,
        points=int(BEFORE / 60 + AFTER / 60),
    )


def nezha_faults(day_dir: Path) -> Iterator[tuple[str, Evidence, str]]:
    """(name, evidence, true service) of every fault of one recorded day."""
    faults = json.loads(next(day_dir.glob("*fault_list.json")).read_text())
    metric_dir = day_dir / "metric"
    entry_times, entry = _read(metric_dir / "front_service.csv")
    pods = {p.name.removesuffix("_metric.csv"): _read(p) for p in sorted(metric_dir.glob("*_metric.csv"))}
    entry_service = "frontend" if "frontend" in {service_of(p) for p in pods} else "ts-ui-dashboard"
    for hour in sorted(faults):
        for fault in faults[hour]:
            at = _time(fault["inject_time"])
            latency = _shift(entry_times, entry["LatencyP90(s)"], at)
            success = _shift(entry_times, entry["SuccessRate(%)"], at)
            if latency is None or success is None:
                continue
            failing = -success[0] > latency[0]
            alertname = "EntrySuccessRateLow" if failing else "EntryLatencyHigh"
            metric = "entry_success_rate_percent" if failing else "entry_latency_p90_seconds"
            alert = _series(
                f"{metric}{{service={entry_service}}}",
                metric,
                entry_service,
                success if failing else latency,
                at + 60,
                "alert",
            )
            series = [alert]
            for pod, (times, columns) in pods.items():
                for column, name in COLUMNS.items():
                    if column in columns and (shift := _shift(times, columns[column], at)) is not None:
                        series.append(
                            _series(f"{name}{{pod={pod}}}", name, service_of(pod), shift, at, "related")
                        )
            evidence = Evidence(
                incident_id=f"nezha/{day_dir.name}/{fault['inject_time']}",
                alert=AlertInfo(
                    alertname=alertname,
                    status="firing",
                    labels={"alertname": alertname, "service": entry_service, "severity": "critical"},
                    annotations={},
                    starts_at=at + 60,
                ),
                series=tuple(series),
                window_start=at - BEFORE,
                window_end=at + AFTER,
                alert_series_id=alert.series_id,
            )
            yield (
                f"nezha/{day_dir.name}/{fault['inject_time'][11:]}/{fault['inject_type']}",
                evidence,
                service_of(fault["inject_pod"]),
            )
