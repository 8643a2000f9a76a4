"""Nezha fault-injection days: read the pod CSVs, faults and call graph; render them for promtool.

Layout and protocol: ../shared/nezha/README.md. One `Day` per `<day>/` folder; the system is told by its
entry pod (`frontend` -> OnlineBoutique, `ts-ui-dashboard` -> TrainTicket).
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path

import numpy as np

from bench.csv_cells import number
from bench.inputs import BenchInputError, require_files

# CSV column -> Prometheus gauge (README "The protocol"); node columns are not used.
POD_COLUMNS = {
    "CpuUsage(m)": "pod_cpu_usage_millicores",
    "CpuUsageRate(%)": "pod_cpu_usage_percent",
    "MemoryUsage(Mi)": "pod_memory_usage_mebibytes",
    "MemoryUsageRate(%)": "pod_memory_usage_percent",
    "SyscallRead": "pod_syscall_reads",
    "SyscallWrite": "pod_syscall_writes",
    "NetworkReceiveBytes": "pod_network_receive_bytes",
    "NetworkTransmitBytes": "pod_network_transmit_bytes",
    "PodClientLatencyP90(s)": "pod_client_latency_p90_seconds",
    "PodServerLatencyP90(s)": "pod_server_latency_p90_seconds",
    "PodClientLatencyP99(s)": "pod_client_latency_p99_seconds",
    "PodServerLatencyP99(s)": "pod_server_latency_p99_seconds",
    "PodWorkload(Ops)": "pod_workload_ops",
    "PodSuccessRate(%)": "pod_success_rate_percent",
}
ENTRY_COLUMNS = {
    "SuccessRate(%)": "entry_success_rate_percent",
    "LatencyP50(s)": "entry_latency_p50_seconds",
    "LatencyP90(s)": "entry_latency_p90_seconds",
    "LatencyP99(s)": "entry_latency_p99_seconds",
}
SYSTEMS = {"frontend": ("OnlineBoutique", "hipster"), "ts-ui-dashboard": ("TrainTicket", "ts")}


@dataclass(frozen=True, eq=False)
class Table:
    """Columns of one CSV on its `Time` axis (Unix seconds)."""

    times: np.ndarray
    columns: Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Fault:
    day: str
    at: float
    pod: str
    service: str
    kind: str


@dataclass(frozen=True, eq=False)
class Day:
    name: str
    system: str
    namespace: str
    entry: str
    pods: Mapping[str, Table]
    front: Table
    faults: tuple[Fault, ...]
    graph: Mapping[str, tuple[str, ...]]
    # reporter ("source": the caller's proxy, "destination": the callee's) -> per-call p50 latency (s),
    # one column per `caller_callee` (OnlineBoutique only: source_50.csv, destination_50.csv)
    calls: Mapping[str, Table] = field(default_factory=dict)

    @property
    def services(self) -> list[str]:
        return sorted({service_of_pod(p) for p in self.pods})


def service_of_pod(pod: str) -> str:
    """`cartservice-579f59597d-wc2lz` -> `cartservice` (the pod name without its last two parts)."""
    return pod.rsplit("-", 2)[0]


def parse_time(text: str) -> float:
    """`2022-08-22 03:51:19.640328427 +0000 UTC m=+0.146` -> Unix seconds (UTC; also `2022-08-22 03:51:19`,
    with or without a fraction, or with a `T`). Raises ValueError for anything else."""
    text = text.strip()
    if text[10:11] == "T":
        text = f"{text[:10]} {text[11:]}"
    head, _, rest = text.partition(".")
    seconds = datetime.strptime(head[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp()
    digits = "".join(ch for ch in rest.split(" ")[0] if ch.isdigit())
    return seconds + (float(f"0.{digits}") if digits else 0.0)


def _time(cell: str | None) -> float | None:
    """`parse_time` of a cell, None where it holds no time (a torn last line, a repeated header)."""
    try:
        return parse_time(cell or "")
    except ValueError:
        return None


def read_table(path: Path, columns: Sequence[str]) -> Table:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    timed = [(t, r) for r in rows if (t := _time(r.get("Time"))) is not None]
    times = np.array([t for t, _ in timed])
    order = np.argsort(times, kind="stable")
    data = {c: np.array([number(r.get(c)) for _, r in timed])[order] for c in columns}
    return Table(times[order], data)


def read_day(folder: Path) -> Day:
    metric_dir = folder / "metric"
    pods = {
        p.name.removesuffix("_metric.csv"): read_table(p, list(POD_COLUMNS))
        for p in sorted(metric_dir.glob("*_metric.csv"))
    }
    system, namespace, entry = system_of(pods)
    raw = json.loads(next(folder.glob("*-fault_list.json")).read_text())
    faults = sorted(
        (
            Fault(
                folder.name,
                parse_time(f["inject_time"]),
                f["inject_pod"],
                service_of_pod(f["inject_pod"]),
                f["inject_type"],
            )
            for hour in raw.values()
            for f in hour
        ),
        key=lambda f: f.at,
    )
    return Day(
        name=folder.name,
        system=system,
        namespace=namespace,
        entry=entry,
        pods=pods,
        front=read_table(metric_dir / "front_service.csv", list(ENTRY_COLUMNS)),
        faults=tuple(faults),
        graph=read_graph(metric_dir / "dependency.csv"),
        calls={
            reporter: read_calls(path)
            for reporter in CALL_REPORTERS
            if (path := metric_dir / f"{reporter}_50.csv").exists()
        },
    )


CALL_REPORTERS = ("source", "destination")


def read_calls(path: Path) -> Table:
    """A per-call latency file: its `time` axis and one column per `caller_callee` pair."""
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    timed = [(t, r) for r in rows if (t := _time(r.get("time"))) is not None]
    pairs = [c for c in (rows[0] if rows else {}) if c not in ("time", "timestamp") and c.count("_") == 1]
    order = np.argsort([t for t, _ in timed], kind="stable")
    times = np.array([t for t, _ in timed])[order]
    return Table(times, {c: np.array([number(r.get(c)) for _, r in timed])[order] for c in pairs})


def system_of(pods: Iterable[str]) -> tuple[str, str, str]:
    """(system, namespace, entry service) of a day's pods: by its entry pod, else by its services' names
    (TrainTicket's all start with `ts-`), so a day without the entry pod's own CSV still reads."""
    services = {service_of_pod(p) for p in pods}
    entry = next((e for e in SYSTEMS if e in services), None)
    if entry is None:
        entry = "ts-ui-dashboard" if services and all(s.startswith("ts-") for s in services) else "frontend"
    return (*SYSTEMS[entry], entry)


def read_graph(path: Path) -> dict[str, tuple[str, ...]]:
    """{caller: callees} from dependency.csv, without loadgenerator and self-loops (empty if absent)."""
    if not path.exists():
        return {}
    graph: dict[str, list[str]] = {}
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            row = {str(k).strip().lower(): (v or "").strip() for k, v in raw.items()}
            source, target = row.get("source", ""), row.get("target", "")
            if not source or not target:
                continue
            if source == target or "loadgenerator" in (source, target):
                continue
            graph.setdefault(source, [])
            if target not in graph[source]:
                graph[source].append(target)
    return {k: tuple(v) for k, v in graph.items()}


def day_folders(data: Path) -> list[Path]:
    """The `<day>/` folders (those with a `metric/` folder) of a Nezha folder, each checked for the files
    every day needs; BenchInputError when there is none or one lacks a file."""
    folders = [d for d in sorted(data.iterdir()) if d.is_dir() and (d / "metric").is_dir()]
    if not folders:
        raise BenchInputError(f"{data}: no Nezha days (<day>/metric/ folders) under it")
    for folder in folders:
        require_files(folder, ("metric/front_service.csv",), "a Nezha day")
        if not any(folder.glob("*-fault_list.json")):
            raise BenchInputError(f"{folder}: no <day>-fault_list.json (a Nezha day)")
    return folders


def find_days(data: Path) -> list[Day]:
    return [read_day(d) for d in day_folders(data)]


def openmetrics_lines(day: Day) -> Iterator[tuple[str, str]]:
    """(metric, sample line) for every non-missing CSV cell of the day."""
    for pod, table in day.pods.items():
        labels = f'namespace="{day.namespace}",pod="{pod}",service="{service_of_pod(pod)}"'
        for column, metric in POD_COLUMNS.items():
            yield from _samples(metric, labels, table.times, table.columns[column])
    yield from _entry_lines(day)


def _samples(metric: str, labels: str, times: np.ndarray, values: np.ndarray) -> Iterator[tuple[str, str]]:
    """(metric, sample line) of each finite value."""
    for t, v in zip(times, values, strict=True):
        if math.isfinite(v):
            yield metric, f"{metric}{{{labels}}} {float(v)!r} {float(t):.3f}"


def _entry_lines(day: Day) -> Iterator[tuple[str, str]]:
    """The entry service's SLO gauges, labelled `{namespace, service}`."""
    labels = f'namespace="{day.namespace}",service="{day.entry}"'
    for column, metric in ENTRY_COLUMNS.items():
        yield from _samples(metric, labels, day.front.times, day.front.columns[column])


# The `kubernetes` layout: the same cells as a kube-prometheus-stack deployment would expose them. cAdvisor
# (scraped from the kubelet) carries the scrape target's `job` and `service` and the subject's `namespace`,
# `pod` and, on container series, `container`; its usage figures are counters (CPU seconds, bytes) and its
# memory a gauge in bytes. The application's own metrics, scraped from its pods through its Service, carry
# that Service as `job` and `service`; its requests are a counter. Percent-of-limit and syscall columns have
# no standard exporter and are left out; the percentages give each container's limits instead, as
# kube-state-metrics exposes them (`kube_pod_container_resource_limits`).
KUBELET_LABELS = 'job="kubelet",service="kube-prometheus-stack-kubelet",endpoint="https-metrics"'
CADVISOR_COUNTERS = {  # CSV column -> (metric, factor to the exported unit per second of the minute)
    "CpuUsage(m)": ("container_cpu_usage_seconds_total", 1e-3),
    "NetworkReceiveBytes": ("container_network_receive_bytes_total", 1.0),
    "NetworkTransmitBytes": ("container_network_transmit_bytes_total", 1.0),
}
APP_GAUGES = (
    "PodClientLatencyP90(s)",
    "PodServerLatencyP90(s)",
    "PodClientLatencyP99(s)",
    "PodServerLatencyP99(s)",
    "PodSuccessRate(%)",
)
APP_REQUESTS = "http_server_requests_total"
MEBIBYTE = 1_048_576.0
NODES = 3


KSM_LABELS = (
    'job="kube-state-metrics",service="kube-prometheus-stack-kube-state-metrics",instance="10.2.0.1:8080"'
)
LIMITS_METRIC = "kube_pod_container_resource_limits"
# (resource, unit, usage column, its percent-of-limit column, factor from the usage column to the unit)
LIMIT_COLUMNS = (
    ("cpu", "core", "CpuUsage(m)", "CpuUsageRate(%)", 1e-3),
    ("memory", "byte", "MemoryUsage(Mi)", "MemoryUsageRate(%)", MEBIBYTE),
)


def _limit(used: np.ndarray, percent: np.ndarray) -> float | None:
    """The limit a usage and its percent of that limit imply (the median over the day's minutes where the
    percentage is at least 1, so rounding does not dominate); None where they never are."""
    ok = np.isfinite(used) & np.isfinite(percent) & (percent >= 1.0)
    return float(np.median(used[ok] / (percent[ok] / 100.0))) if ok.any() else None


def _cumulative(times: np.ndarray, per_second: np.ndarray) -> np.ndarray:
    """A counter from a per-second rate sampled each minute: the rate times the seconds since the previous
    sample, summed (a missing cell adds nothing, as a counter that was not scraped)."""
    seconds = np.diff(times, prepend=times[0] - 60.0) if times.size else times
    return np.cumsum(np.where(np.isfinite(per_second), per_second, 0.0) * seconds)


def kubernetes_lines(day: Day) -> Iterator[tuple[str, str]]:
    """(metric, sample line) for the day's pods as `kubernetes` lays them out (see KUBELET_LABELS)."""
    for index, pod in enumerate(sorted(day.pods)):
        table, service = day.pods[pod], service_of_pod(pod)
        node = f"node-{index % NODES}"
        subject = f'namespace="{day.namespace}",pod="{pod}",node="{node}"'
        kubelet = f'{KUBELET_LABELS},instance="10.0.0.{index % NODES}:10250",{subject}'
        app = f'job="{service}",service="{service}",endpoint="http",instance="10.1.0.{index}:8080",{subject}'
        columns = table.columns
        series: list[tuple[str, str, np.ndarray]] = [
            (
                metric,
                f'{kubelet},container="{service}"' if "cpu" in metric else f'{kubelet},interface="eth0"',
                _cumulative(table.times, columns[column] * factor),
            )
            for column, (metric, factor) in CADVISOR_COUNTERS.items()
        ]
        series.append(
            (
                "container_memory_working_set_bytes",
                f'{kubelet},container="{service}"',
                columns["MemoryUsage(Mi)"] * MEBIBYTE,
            )
        )
        series += [(POD_COLUMNS[c], f'{app},container="{service}"', columns[c]) for c in APP_GAUGES]
        for resource, unit, used, share, factor in LIMIT_COLUMNS:
            limit = _limit(columns[used] * factor, columns[share])
            if limit is not None:
                labels = f'{KSM_LABELS},{subject},container="{service}",resource="{resource}",unit="{unit}"'
                series.append((LIMITS_METRIC, labels, np.full(table.times.size, limit)))
        series.append(
            (
                APP_REQUESTS,
                f'{app},container="{service}"',
                _cumulative(table.times, columns["PodWorkload(Ops)"]),
            )
        )
        for metric, labels, values in series:
            yield from _samples(metric, labels, table.times, values)
    yield from _entry_lines(day)


LAYOUTS = ("protocol", "kubernetes")


GRAPH_METRIC = "traces_service_graph_request_total"  # as Tempo's service graph names its request counter


def graph_lines(day: Day) -> Iterator[tuple[str, str]]:
    """The day's call graph as service-graph request counters, one sample a minute per edge (labels
    `client`, `server` and `graph` = the day's namespace: not `namespace`, so that they are not related
    series of the alert)."""
    for client, servers in day.graph.items():
        for server in servers:
            labels = f'client="{client}",graph="{day.namespace}",server="{server}"'
            for i, t in enumerate(day.front.times):
                yield GRAPH_METRIC, f"{GRAPH_METRIC}{{{labels}}} {float(i + 1)!r} {float(t):.3f}"


MESH_METRIC = "istio_request_duration_milliseconds"
MESH_REQUESTS_PER_SECOND = 1.0  # the files hold latency only: every call gets the same steady traffic


def mesh_lines(day: Day) -> Iterator[tuple[str, str]]:
    """The day's per-call latency as Istio's duration histogram reports it (`_sum` and `_count` counters by
    `reporter`, `source_workload`, `destination_workload`): each minute adds its calls and their time at
    the file's p50. Scraped from the sidecars as kubernetes-pods discovery labels them, with the reporting
    proxy's `namespace` and `pod` (the caller's for `reporter="source"`, the callee's for "destination"), so
    they are related series of the day's alerts too. A missing minute is a missed scrape."""
    pods = {service_of_pod(p): p for p in day.pods}
    for reporter, table in day.calls.items():
        for pair, latency in table.columns.items():
            caller, callee = pair.split("_")
            pod = pods.get(caller if reporter == "source" else callee, "")
            labels = (
                f'destination_workload="{callee}",destination_workload_namespace="{day.namespace}",'
                f'namespace="{day.namespace}",pod="{pod}",'
                f'reporter="{reporter}",source_workload="{caller}",source_workload_namespace="{day.namespace}"'
            )
            seen = np.isfinite(latency)
            if not seen.any():
                continue
            times, ms = table.times[seen], 1000.0 * latency[seen]
            calls = MESH_REQUESTS_PER_SECOND * np.diff(times, prepend=times[0] - 60.0)
            yield from _samples(f"{MESH_METRIC}_count", labels, times, np.cumsum(calls))
            yield from _samples(f"{MESH_METRIC}_sum", labels, times, np.cumsum(calls * ms))


def write_openmetrics(
    days: Sequence[Day], path: Path, graph_metrics: bool = False, layout: str = "protocol", mesh: bool = False
) -> int:
    """All days as one OpenMetrics file (one family block per metric); returns the sample count. With
    `graph_metrics`, the call graphs too, as `graph_lines` renders them; with `mesh`, the per-call latency
    (`mesh_lines`). `layout`: `protocol` (the benchmark's gauges, `openmetrics_lines`) or `kubernetes`
    (`kubernetes_lines`)."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}: one of {', '.join(LAYOUTS)}")
    render = kubernetes_lines if layout == "kubernetes" else openmetrics_lines
    families: dict[str, list[str]] = {}
    for day in days:
        extra = chain(graph_lines(day) if graph_metrics else (), mesh_lines(day) if mesh else ())
        for metric, line in chain(render(day), extra):
            families.setdefault(metric, []).append(line)
    with path.open("w") as out:
        for metric, lines in families.items():
            kind = "counter" if metric.endswith("_total") else "gauge"
            out.write(f"# TYPE {metric.removesuffix('_total') if kind == 'counter' else metric} {kind}\n")
            out.write("\n".join(lines) + "\n")
        out.write("# EOF\n")
    return sum(len(v) for v in families.values())


TWIN_SUFFIX = "-staging"


def _shifted(table: Table, lag: float) -> Table:
    return Table(table.times + lag, table.columns)


def _twin_pod(pod: str) -> str:
    """`cartservice-579f59597d-wc2lz` -> `cartservice-d79595f975-zl2cw`: the same workload's pod in another
    namespace (another ReplicaSet hash and instance suffix)."""
    service, replica_set, instance = pod.rsplit("-", 2)
    return f"{service}-{replica_set[::-1]}-{instance[::-1]}"


def fault_gap(day: Day) -> float:
    """The median time between the day's consecutive faults, in whole minutes (at least one)."""
    gaps = np.diff([f.at for f in day.faults])
    return max(60.0, 60.0 * round(float(np.median(gaps)) / 60.0)) if gaps.size else 60.0


def twin(day: Day, lag: float | None = None) -> Day:
    """The day's system running a second time in namespace `<namespace>-staging`: the same workloads (their
    pods renamed), every series `lag` seconds late (by default the median gap between faults, so that at each
    fault the twin replays the previous one: other services moving at the same time). No faults of its own
    to diagnose; same call graph."""
    lag = fault_gap(day) if lag is None else lag
    return Day(
        name=f"{day.name}{TWIN_SUFFIX}",
        system=day.system,
        namespace=f"{day.namespace}{TWIN_SUFFIX}",
        entry=day.entry,
        pods={_twin_pod(pod): _shifted(t, lag) for pod, t in day.pods.items()},
        front=_shifted(day.front, lag),
        faults=(),
        graph=day.graph,
        calls={reporter: _shifted(t, lag) for reporter, t in day.calls.items()},
    )


def _sliced_table(table: Table, start: float, end: float) -> Table:
    keep = (table.times >= start) & (table.times <= end)
    return Table(table.times[keep], {k: v[keep] for k, v in table.columns.items()})


def sliced(day: Day, start: float, end: float) -> Day:
    """The day's samples and faults between `start` and `end` only (small backfills for tests)."""
    return Day(
        name=day.name,
        system=day.system,
        namespace=day.namespace,
        entry=day.entry,
        pods={pod: _sliced_table(t, start, end) for pod, t in day.pods.items()},
        front=_sliced_table(day.front, start, end),
        faults=tuple(f for f in day.faults if start <= f.at <= end),
        graph=day.graph,
        calls={reporter: _sliced_table(t, start, end) for reporter, t in day.calls.items()},
    )
