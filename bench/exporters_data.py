"""A trading namespace as real exporters write it and kube-prometheus-stack scrapes it (pure: arrays out).

Thirteen pods in namespace `trading`, 2026-12-04 11:00-16:00Z (a Friday; the US market opens at 14:30Z
and drives an intraday U-curve into volume, order flow, CPU and HikariCP use), scraped every 15 s with
each target offset inside the interval, about 1 % of scrapes missing plus one 45-s to 3-min gap per
target, AR(1) noise. Metric names and labels are the exporters' own: Micrometer (`hikaricp_*`,
`http_server_requests_seconds_*`, `jvm_*`), postgres_exporter (`pg_stat_activity_count{datname,state}`,
`pg_stat_database_*` without `_total`), pgbouncer_exporter, Go `database/sql`, mysqld_exporter,
redis_exporter, app metrics (a legacy `exchange_api_errors` counter, `funding_rate`, `pnl_usd{desk,book}`,
histograms), cAdvisor under the kubelet's labels, kube-state-metrics with honorLabels (its own `service`
beside the subject's `pod`/`container`) and node-exporter in `namespace="monitoring"`.

This is the black-box audit's generator (/tmp/audit-trade/gen) as a module: the same draws in the same
order, so a seed gives the audit's samples, but for two artefacts the audit listed (`pg_stat_activity_count`
summing past `max_connections`, a GC pause-time counter rounded to whole seconds). A scenario
(`bench.exporters_scenarios`) adds its deltas through `inject`, keyed as `build_namespace` reads them.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.stats import norm

DAY0 = 1_796_342_400  # 2026-12-04T00:00:00Z (Friday)
START = DAY0 + 11 * 3600  # 11:00Z
END = DAY0 + 16 * 3600  # 16:00Z
STEP = 15.0
MARKET_OPEN = DAY0 + 14 * 3600 + 1800  # 14:30Z (09:30 ET)
NAMESPACE = "trading"
KSM_JOB = "kube-state-metrics"
KSM_SERVICE = "kube-prometheus-stack-kube-state-metrics"
FOR_STATE = "ALERTS_FOR_STATE"

NODES = {"ip-10-0-1-11": "10.0.1.11", "ip-10-0-1-12": "10.0.1.12", "ip-10-0-1-13": "10.0.1.13"}
PodSpec = tuple[str, str, str, str, int]  # workload/service, container, node, ip, port
# pod: (workload/service, container, node, ip, port)
PODS: dict[str, PodSpec] = {
    "order-gateway-7d9f8b6c4-x2lqp": ("order-gateway", "order-gateway", "ip-10-0-1-11", "10.42.1.17", 8080),
    "order-gateway-7d9f8b6c4-m8z4t": ("order-gateway", "order-gateway", "ip-10-0-1-12", "10.42.2.23", 8080),
    "orders-db-0": ("orders-db", "postgres", "ip-10-0-1-13", "10.42.3.5", 9187),
    "pgbouncer-6c7dd9f5b-q9wkv": ("pgbouncer", "pgbouncer", "ip-10-0-1-12", "10.42.2.31", 9127),
    "risk-engine-5b6f7c9d8-h7rtn": ("risk-engine", "risk-engine", "ip-10-0-1-13", "10.42.3.14", 9090),
    "refdata-mysql-0": ("refdata-mysql", "mysql", "ip-10-0-1-11", "10.42.1.40", 9104),
    "quote-cache-redis-0": ("quote-cache-redis", "redis", "ip-10-0-1-12", "10.42.2.8", 9121),
    "md-feed-6f8b9c7d5-tt2kp": ("md-feed", "md-feed", "ip-10-0-1-13", "10.42.3.22", 9102),
    "exchange-connector-84c5d7b9f-zk5fd": (
        "exchange-connector",
        "exchange-connector",
        "ip-10-0-1-11",
        "10.42.1.51",
        9103,
    ),
    "pricing-7f6d5c4b3-p4d7s": ("pricing", "pricing", "ip-10-0-1-12", "10.42.2.44", 9105),
    "pnl-engine-69d8f7c6b-w3j9x": ("pnl-engine", "pnl-engine", "ip-10-0-1-13", "10.42.3.30", 9106),
    "eod-reporting-28911840-5kq2z": ("eod-reporting", "reporting", "ip-10-0-1-11", "10.42.1.66", 9107),
    "position-ui-5d4c6b7a8-r2n8m": ("position-ui", "position-ui", "ip-10-0-1-12", "10.42.2.70", 3000),
}
BOOKS = [("rates", "ust-10y"), ("crypto", "btc-perp"), ("crypto", "eth-perp"), ("fx-spot", "eurusd")]
VENUES = ["cme", "binance", "deribit", "lmax"]
SYMBOLS = {"btc-perp": ("BTC-PERP", "binance"), "eth-perp": ("ETH-PERP", "binance")}
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
PG_MAX_CONNECTIONS = 100.0
PG_RESERVED = 3.0  # superuser_reserved_connections
DEFAULT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

Delta = float | np.ndarray | Callable[["Recording"], np.ndarray]  # what a scenario adds to one input


@dataclass(frozen=True)
class Target:
    """One scrape endpoint: its labels, its offset in the scrape interval, the scrapes kept."""

    key: str
    labels: Mapping[str, str]
    keep: np.ndarray  # bool over the grid
    times: np.ndarray
    subject: str = ""  # the label naming the pod each series describes (an exporter that reports on others)


@dataclass(frozen=True)
class Row:
    """One series as written: its labels, the target that exposed it, samples where `keep`."""

    name: str
    labels: Mapping[str, str]
    target: str
    times: np.ndarray
    values: np.ndarray
    keep: np.ndarray
    fmt: str = "%.6g"
    counter: bool = False
    pods: Mapping[str, PodSpec] = field(default_factory=lambda: PODS, repr=False, compare=False)
    subject: str = field(default="", repr=False, compare=False)  # the target's `subject` label

    @property
    def kept(self) -> tuple[np.ndarray, np.ndarray]:
        """(times, values) of the samples written."""
        return self.times[self.keep], self.values[self.keep]

    @property
    def owner(self) -> str:
        """What the series describes: the workload of the pod that exposed it, or of the pod its target's
        subject label names; for cAdvisor's and kube-state-metrics' the deployment or pod they name, for
        the kubelet's volume stats the pod the claim belongs to; for node-exporter's, the node; for a
        blackbox probe's, the endpoint it probes."""
        if self.subject and (about := self.labels.get(self.subject, "")) in self.pods:
            return self.pods[about][0]
        if self.target.startswith("node-"):
            return self.target.removeprefix("node-")
        if self.target.startswith("probe-"):
            return self.target.removeprefix("probe-")
        if self.target.startswith("kubelet-") or self.target == "ksm":
            if deployment := self.labels.get("deployment"):
                return deployment
            pod = self.labels.get("pod", "") or claimed_by(
                self.labels.get("persistentvolumeclaim", ""), self.pods
            )
            return self.pods[pod][0] if pod in self.pods else self.target.split("-", 1)[0]
        return self.pods[self.target][0] if self.target in self.pods else self.target


def claimed_by(claim: str, pods: Mapping[str, PodSpec]) -> str:
    """The pod a StatefulSet's volume claim belongs to (`<template>-<pod>`), else ""."""
    owners = [pod for pod in pods if claim.endswith("-" + pod)]
    return max(owners, key=len, default="")


class Recording:
    """Every series of one namespace over the grid, drawn from one seeded generator."""

    def __init__(
        self, seed: int, pods: Mapping[str, PodSpec] = PODS, nodes: Mapping[str, str] = NODES
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.grid = np.arange(START, END, STEP)
        self.n = len(self.grid)
        self.families: dict[str, list[Row]] = {}
        self.targets: dict[str, Target] = {}
        self.pods = pods  # the pods a series' `pod` label or target key may name
        self.nodes = nodes
        self.alive: dict[str, np.ndarray] = {}  # targets that exist only part of the time (a pod replaced)

    # --- shapes over the grid
    def step(self, at: float, size: float, ramp: float = 60.0) -> np.ndarray:
        """0 until `at`, `size` from `ramp` seconds later, linear between."""
        return np.clip((self.grid - at) / max(ramp, 1e-9), 0, 1) * size

    def noise(self, sd: float, ar: float = 0.6) -> np.ndarray:
        """AR(1) noise of standard deviation `sd`."""
        e = self.rng.normal(0, sd, self.n)
        out = np.empty(self.n)
        acc = 0.0
        for i in range(self.n):
            acc = ar * acc + e[i] * math.sqrt(1 - ar * ar)
            out[i] = acc
        return out

    def market_curve(self) -> np.ndarray:
        """A slow wave about 0.15 before the open, a U-shaped intraday intensity after it (3.5 at the open
        falling to 1)."""
        g = self.grid
        pre = 0.15 + 0.05 * np.sin((g - START) / 3600.0)
        since = (g - MARKET_OPEN) / 60.0
        post = np.where(since >= 0, 1.0 + 2.5 * np.exp(-np.clip(since, 0, None) / 20.0), 0)
        return np.where(g >= MARKET_OPEN, post, pre)

    # --- targets and series
    def target(
        self,
        key: str,
        labels: Mapping[str, str],
        miss: float = 0.01,
        gaps: int = 1,
        alive: np.ndarray | None = None,
        subject: str = "",
    ) -> Target:
        """A scrape endpoint: offset in the interval, `miss` of its scrapes lost, `gaps` runs of 3-11;
        `alive`: the grid points it exists at (service discovery lists it), else all; `subject`: the label
        naming the pod each of its series describes (an exporter that reports on other pods)."""
        offset = float(self.rng.uniform(0, STEP))
        keep = self.rng.random(self.n) > miss
        for _ in range(gaps):
            s = int(self.rng.integers(0, self.n - 20))
            keep[s : s + int(self.rng.integers(3, 12))] = False
        if alive is not None:
            keep &= alive
            self.alive[key] = alive
        target = Target(key, dict(labels), keep, self.grid + offset, subject)
        self.targets[key] = target
        return target

    def add(
        self,
        target: str,
        name: str,
        labels: Mapping[str, str],
        values: np.ndarray,
        counter: bool = False,
        alive: np.ndarray | None = None,
    ) -> None:
        """One series of `target`; `alive`: the grid points it is exposed at (a container that exists
        only part of the time), else every scrape of the target."""
        t = self.targets[target]
        values = np.asarray(values, float)
        keep = t.keep if alive is None else t.keep & alive
        row = Row(
            name,
            {**t.labels, **labels},
            target,
            t.times,
            values,
            keep,
            counter=counter,
            pods=self.pods,
            subject=t.subject,
        )
        self.families.setdefault(name, []).append(row)

    def skip_counter(self) -> None:
        """The draws of a counter that is not written (every later draw stays the audit's)."""
        self.rng.poisson(np.zeros(self.n))
        self.rng.integers(1000, 10**6)

    def gauge(
        self,
        target: str,
        name: str,
        labels: Mapping[str, str],
        values: np.ndarray,
        alive: np.ndarray | None = None,
    ) -> None:
        self.add(target, name, labels, values, alive=alive)

    def counter(
        self,
        target: str,
        name: str,
        labels: Mapping[str, str],
        rate: Delta,
        whole: bool = True,
        alive: np.ndarray | None = None,
    ) -> None:
        """A counter from its per-second rate; `whole`: events, Poisson-drawn increments (a counter of
        seconds is not, but its draw is still taken: the draws after it stay the audit's)."""
        increments = np.clip(np.asarray(rate, float), 0, None) * STEP
        events = self.rng.poisson(increments) if increments.max() < 1e6 else increments
        counted = events if whole else increments
        start = float(self.rng.integers(1000, 10**6))
        self.add(target, name, labels, np.cumsum(counted) + start, counter=True, alive=alive)

    def histogram(
        self,
        target: str,
        name: str,
        labels: Mapping[str, str],
        rate: np.ndarray,
        median: np.ndarray | float,
        sigma: float = 0.5,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        alive: np.ndarray | None = None,
    ) -> None:
        """A Prometheus histogram of log-normal observations at `rate` per second around `median`."""
        cnt = self.rng.poisson(np.clip(np.asarray(rate, float), 0, None) * STEP).astype(float)
        med = np.asarray(median, float) * np.ones(self.n)
        total = np.cumsum(cnt)
        base = float(self.rng.integers(10**4, 10**6))
        for b in buckets:
            below = norm.cdf((np.log(b) - np.log(med)) / sigma)
            le = repr(float(b)) if b < 1 else str(float(b))
            first = base * norm.cdf((np.log(b) - np.log(med[0])) / sigma)
            cumulative = np.cumsum(np.round(cnt * below)) + first
            self.add(target, f"{name}_bucket", {**labels, "le": le}, cumulative, counter=True, alive=alive)
        self.add(target, f"{name}_bucket", {**labels, "le": "+Inf"}, total + base, counter=True, alive=alive)
        self.add(target, f"{name}_count", labels, total + base, counter=True, alive=alive)
        mean = med * math.exp(sigma * sigma / 2)
        sums = np.cumsum(cnt * mean) + base * med[0]
        self.add(target, f"{name}_sum", labels, sums, counter=True, alive=alive)

    def up(self) -> None:
        """`up` of every target, 1 at every scrape time while it exists."""
        every = np.ones(self.n, bool)
        rows = [
            Row(
                "up",
                dict(t.labels),
                t.key,
                t.times,
                np.ones(self.n),
                self.alive.get(t.key, every),
                "%g",
                pods=self.pods,
            )
            for t in self.targets.values()
        ]
        self.families["up"] = rows

    def alerts_for_state(self, labels: Mapping[str, str], active: float) -> None:
        """What the alert's rule writes at every evaluation from `active` on: ALERTS_FOR_STATE = `active`."""
        keep = self.grid >= active
        values = np.full(self.n, float(active))
        row = Row(FOR_STATE, dict(labels), "prometheus", self.grid, values, keep, "%.0f", pods=self.pods)
        self.families.setdefault(FOR_STATE, []).append(row)

    def drop_kube_state_metrics(self) -> None:
        """Without kube-state-metrics: its series and its `up` gone."""
        for name in [n for n in self.families if n.startswith("kube_")]:
            del self.families[name]
        self.families["up"] = [r for r in self.families["up"] if r.labels.get("job") != KSM_JOB]

    def rows(self) -> list[Row]:
        return [row for rows in self.families.values() for row in rows]

    def matching(self, metric: str, **labels: str) -> list[Row]:
        """The series of `metric` that carry `labels`."""
        return [
            r for r in self.families.get(metric, []) if all(r.labels.get(k) == v for k, v in labels.items())
        ]

    def write_openmetrics(self, path: Path) -> int:
        """Every kept sample as OpenMetrics, each family typed `unknown` as the audit wrote it; the count."""
        written = 0
        with path.open("w") as out:
            for name, rows in self.families.items():
                out.write(f"# TYPE {name} unknown\n")
                for row in rows:
                    labels = ",".join(f'{k}="{_escaped(v)}"' for k, v in sorted(row.labels.items()))
                    prefix = f"{name}{{{labels}}} "
                    for t, v, k in zip(row.times, row.values, row.keep, strict=True):
                        if k and not math.isnan(v):
                            out.write(f"{prefix}{row.fmt % v} {t:.3f}\n")
                            written += 1
            out.write("# EOF\n")
        return written


def _escaped(value: str) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def iso(t: float) -> str:
    """RFC 3339 with centiseconds, as the audit's alerts carry it."""
    text = dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return text[:-4] + "Z"


def service_monitor_labels(
    namespace: str,
    pod: str,
    spec: PodSpec,
    service: str,
    endpoint: str,
    container: str | None = None,
    job: str | None = None,
) -> dict[str, str]:
    """The labels a ServiceMonitor of the pod's Service (`service`; the `job` too unless relabelled) gives
    the scrapes of its `endpoint` port: the pod's address and, unless another is named, container from
    `spec`."""
    _, own, _, ip, port = spec
    return {
        "namespace": namespace,
        "service": service,
        "job": job or service,
        "pod": pod,
        "container": container or own,
        "endpoint": endpoint,
        "instance": f"{ip}:{port}",
    }


def service_labels(pod: str, port_name: str = "http-metrics") -> dict[str, str]:
    """The labels the ServiceMonitor of the pod's Service gives its scrapes."""
    return service_monitor_labels(NAMESPACE, pod, PODS[pod], PODS[pod][0], port_name)


def kubelet_target(rec: Recording, node: str, ip: str) -> Target:
    """A node's kubelet as kube-prometheus-stack scrapes its cAdvisor endpoint (`kubelet-<node>`): its
    `node` and its address beside the scrape labels every cAdvisor series carries."""
    return rec.target(
        "kubelet-" + node,
        {
            "job": "kubelet",
            "service": "kube-prometheus-stack-kubelet",
            "namespace": "kube-system",
            "endpoint": "https-metrics",
            "metrics_path": "/metrics/cadvisor",
            "node": node,
            "instance": f"{ip}:10250",
        },
    )


def ksm_target(rec: Recording, instance: str, pod_suffix: str) -> Target:
    """kube-state-metrics as kube-prometheus-stack scrapes it (`ksm`): namespace `monitoring`, its
    Deployment's pod (`pod_suffix` its generated part) at `instance`; its series carry their subjects'
    labels (honorLabels)."""
    return rec.target(
        "ksm",
        {
            "job": KSM_JOB,
            "service": KSM_SERVICE,
            "namespace": "monitoring",
            "endpoint": "http",
            "instance": instance,
            "pod": f"kube-prometheus-stack-kube-state-metrics-{pod_suffix}",
            "container": "kube-state-metrics",
        },
        miss=0.005,
    )


def node_exporter_target(rec: Recording, node: str, ip: str, pod_suffix: str) -> Target:
    """A node's node-exporter as kube-prometheus-stack scrapes it (`node-<node>`): namespace `monitoring`,
    the DaemonSet's pod on that node (`pod_suffix` its generated part), the node's address."""
    return rec.target(
        "node-" + node,
        {
            "job": "node-exporter",
            "service": "kube-prometheus-stack-prometheus-node-exporter",
            "namespace": "monitoring",
            "endpoint": "http-metrics",
            "pod": f"kube-prometheus-stack-prometheus-node-exporter-{pod_suffix}",
            "container": "node-exporter",
            "instance": f"{ip}:9100",
        },
    )


class Injected:
    """A recording being built, and the deltas a scenario injects into it, read by key."""

    def __init__(self, rec: Recording, inject: Mapping[str, Delta]) -> None:
        self.rec = rec
        self.inject = inject
        self.n = rec.n
        self.grid = rec.grid
        self.zero = np.zeros(rec.n)

    def added(self, key: str) -> np.ndarray:
        """What is injected under `key` over the grid (zero where nothing is)."""
        v = self.inject.get(key)
        if v is None:
            return self.zero
        return v(self.rec) if callable(v) else np.asarray(v, float) * np.ones(self.rec.n)

    def at(self, key: str) -> float | None:
        """The moment injected under `key` (a number), else None."""
        v = self.inject.get(key)
        return float(v) if isinstance(v, (int, float)) else None


def build_namespace(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series in the namespace, with each of `inject`'s deltas added where it is read."""
    rec = Recording(seed)
    zero = np.zeros(rec.n)

    def added(key: str) -> np.ndarray:
        v = inject.get(key)
        if v is None:
            return zero
        return v(rec) if callable(v) else np.asarray(v, float)

    market = rec.market_curve()

    # ---------------- order-gateway (Spring Boot / Micrometer), 2 pods
    for i, pod in enumerate([p for p in PODS if p.startswith("order-gateway")]):
        rec.target(pod, service_labels(pod, "http"), miss=0.01)
        suf = "a" if i == 0 else "b"
        rps = 20 + 40 * market + rec.noise(2) + added(f"og.rps.{suf}")
        lat = 0.012 * (1 + 0.15 * market) * np.exp(rec.noise(0.03)) + added(f"og.http_lat.{suf}")
        rec.histogram(
            pod,
            "http_server_requests_seconds",
            {
                "uri": "/api/v1/orders",
                "method": "POST",
                "status": "200",
                "outcome": "SUCCESS",
                "exception": "None",
            },
            rps * (1 - np.clip(added(f"og.err_share.{suf}"), 0, 1)),
            lat,
            buckets=HTTP_BUCKETS,
        )
        rec.skip_counter()  # the audit drew a counter here and dropped it
        rec.histogram(
            pod,
            "http_server_requests_seconds",
            {
                "uri": "/api/v1/orders",
                "method": "POST",
                "status": "500",
                "outcome": "SERVER_ERROR",
                "exception": "SQLTransientConnectionException",
            },
            0.02 + rps * np.clip(added(f"og.err_share.{suf}"), 0, 1),
            lat + 0.5 * (added(f"og.err_share.{suf}") > 0),
            buckets=HTTP_BUCKETS,
        )
        for venue in ("cme", "binance", "lmax"):
            vm = market * (1.3 if venue == "binance" else 1.0) + added(f"vol.{venue}") * 0.3
            rec.histogram(
                pod,
                "order_execution_latency_seconds",
                {"venue": venue},
                6 + 10 * vm + added(f"og.orders.{venue}"),
                0.004 * (1 + 0.1 * market) * np.exp(rec.noise(0.04))
                + added(f"og.exec_lat.{venue}")
                + added(f"og.exec_lat.{venue}.{suf}"),
            )
        act = 3 + 2 * market + rec.noise(0.8) + added(f"og.hikari_active.{suf}")
        act = np.clip(np.round(act), 0, 10)
        rec.gauge(pod, "hikaricp_connections_active", {"pool": "HikariPool-1"}, act)
        rec.gauge(pod, "hikaricp_connections_idle", {"pool": "HikariPool-1"}, np.clip(10 - act, 0, 10))
        rec.gauge(
            pod,
            "hikaricp_connections_pending",
            {"pool": "HikariPool-1"},
            np.clip(np.round(rec.noise(0.2).clip(0) + added(f"og.hikari_pending.{suf}")), 0, None),
        )
        rec.gauge(pod, "hikaricp_connections_max", {"pool": "HikariPool-1"}, np.full(rec.n, 10.0))
        rec.gauge(pod, "hikaricp_connections_min", {"pool": "HikariPool-1"}, np.full(rec.n, 10.0))
        rec.gauge(pod, "hikaricp_connections", {"pool": "HikariPool-1"}, np.full(rec.n, 10.0))
        rec.counter(
            pod,
            "hikaricp_connections_timeout_total",
            {"pool": "HikariPool-1"},
            added(f"og.hikari_timeouts.{suf}"),
        )
        rec.histogram(
            pod,
            "hikaricp_connections_acquire_seconds",
            {"pool": "HikariPool-1"},
            rps * 0.8,
            0.0004 * np.exp(rec.noise(0.05)) + added(f"og.hikari_acquire.{suf}"),
            buckets=(0.001, 0.01, 0.1, 1, 10, 30),
        )
        rec.counter(
            pod,
            "jvm_gc_pause_seconds_count",
            {"action": "end of minor GC", "cause": "G1 Evacuation Pause"},
            0.2 + 0.3 * market + added(f"og.gc.{suf}"),
        )
        rec.counter(
            pod,
            "jvm_gc_pause_seconds_sum",
            {"action": "end of minor GC", "cause": "G1 Evacuation Pause"},
            (0.2 + 0.3 * market) * 0.008 + added(f"og.gcsum.{suf}"),
            whole=False,  # seconds, not events (the audit's whole seconds read as a 0-ms mean pause)
        )
        rec.gauge(
            pod,
            "jvm_gc_pause_seconds_max",
            {"action": "end of minor GC", "cause": "G1 Evacuation Pause"},
            0.01 + np.abs(rec.noise(0.003)) + added(f"og.gcmax.{suf}"),
        )
        heap = np.minimum(
            6e8 + 3e8 * ((rec.grid % 600) / 600) + rec.noise(2e7) + added(f"og.heap.{suf}"), 1.99e9
        )
        rec.gauge(pod, "jvm_memory_used_bytes", {"area": "heap", "id": "G1 Old Gen"}, heap)
        rec.gauge(pod, "jvm_memory_max_bytes", {"area": "heap", "id": "G1 Old Gen"}, np.full(rec.n, 2.0e9))
        rec.gauge(pod, "process_open_fds", {}, np.round(180 + 20 * market + rec.noise(3)))
        rec.gauge(pod, "process_max_fds", {}, np.full(rec.n, 1048576.0))
        rec.gauge(pod, "process_cpu_usage", {}, np.clip(0.08 + 0.12 * market + rec.noise(0.01), 0, 1))
        rec.gauge(
            pod, "jvm_threads_live_threads", {}, np.round(85 + rec.noise(2) + added(f"og.threads.{suf}"))
        )
        for desk, book in BOOKS:
            rec.counter(
                pod,
                "orders_submitted_total",
                {"desk": desk, "book": book},
                (2 + 5 * market) * (1.5 if desk == "crypto" else 1),
            )

    # ---------------- orders-db: postgres_exporter sidecar (metric names as v0.15)
    pod = "orders-db-0"
    rec.target(
        pod,
        service_labels(pod)
        | {"service": "orders-db-metrics", "job": "orders-db-metrics", "container": "postgres-exporter"},
        miss=0.02,
    )
    states = {
        "active": 8 + 6 * market,
        "idle": 30 + 4 * market,
        "idle in transaction": 1.0 + 0 * market,
        "idle in transaction (aborted)": 0 * market,
        "fastpath function call": 0 * market,
        "disabled": 0 * market,
    }
    counts, durations = {}, {}
    for st, base in states.items():
        noise = rec.noise(1.0 if base.mean() > 2 else 0.3)
        counts[st] = np.clip(np.round(base + noise + added(f"pg.{st}")), 0, None)
        longest = added("pg.max_tx") if st == "idle in transaction" else 0
        durations[st] = np.abs(rec.noise(0.3)) + longest
    # The app's sessions stay within max_connections less the superuser reserve (the audit's states were
    # clipped one by one and summed to 108-115 of 100): the pool's idle sessions give way.
    excess = np.clip(sum(counts.values()) - (PG_MAX_CONNECTIONS - PG_RESERVED), 0, None)
    counts["idle"] = np.clip(counts["idle"] - excess, 0, None)
    for st in states:
        labels = {"datname": "orders", "state": st, "usename": "app", "application_name": ""}
        rec.gauge(pod, "pg_stat_activity_count", labels, counts[st])
        rec.gauge(pod, "pg_stat_activity_max_tx_duration", labels, durations[st])
    rec.gauge(
        pod,
        "pg_stat_activity_count",
        {"datname": "postgres", "state": "idle", "usename": "postgres", "application_name": ""},
        np.full(rec.n, 1.0),
    )
    rec.gauge(pod, "pg_settings_max_connections", {}, np.full(rec.n, PG_MAX_CONNECTIONS))
    rec.gauge(pod, "pg_settings_superuser_reserved_connections", {}, np.full(rec.n, PG_RESERVED))
    rec.gauge(pod, "pg_up", {}, np.ones(rec.n))
    rec.counter(
        pod,
        "pg_stat_database_xact_commit",
        {"datid": "16384", "datname": "orders"},
        300 + 500 * market + added("pg.commits"),
    )
    rec.counter(
        pod,
        "pg_stat_database_xact_rollback",
        {"datid": "16384", "datname": "orders"},
        0.5 + added("pg.rollbacks"),
    )
    rec.counter(pod, "pg_stat_database_deadlocks", {"datid": "16384", "datname": "orders"}, 0 * market)
    rec.gauge(
        pod,
        "pg_stat_database_numbackends",
        {"datid": "16384", "datname": "orders"},
        np.round(40 + 10 * market + rec.noise(1) + added("pg.numbackends")),
    )
    for mode in ("accesssharelock", "rowexclusivelock", "exclusivelock"):
        rec.gauge(
            pod,
            "pg_locks_count",
            {"datname": "orders", "mode": mode},
            np.clip(np.round(5 + 3 * market + rec.noise(1) + added(f"pg.locks.{mode}")), 0, None),
        )

    # ---------------- pgbouncer exporter
    pod = "pgbouncer-6c7dd9f5b-q9wkv"
    rec.target(pod, service_labels(pod), miss=0.01)
    for user, share in (("gateway", 0.6), ("risk", 0.3)):
        rec.gauge(
            pod,
            "pgbouncer_pools_client_active_connections",
            {"database": "orders", "user": user},
            np.round(share * (40 + 20 * market) + rec.noise(1) + added(f"pgb.cl_active.{user}")),
        )
        rec.gauge(
            pod,
            "pgbouncer_pools_client_waiting_connections",
            {"database": "orders", "user": user},
            np.clip(np.round(rec.noise(0.2) + added(f"pgb.cl_waiting.{user}")), 0, None),
        )
        rec.gauge(
            pod,
            "pgbouncer_pools_server_active_connections",
            {"database": "orders", "user": user},
            np.clip(
                np.round(share * (8 + 6 * market) + rec.noise(0.7) + added(f"pgb.sv_active.{user}")), 0, 20
            ),
        )
        rec.gauge(
            pod,
            "pgbouncer_pools_server_idle_connections",
            {"database": "orders", "user": user},
            np.clip(np.round(share * 10 + rec.noise(0.7) - added(f"pgb.sv_active.{user}")), 0, None),
        )
        rec.gauge(
            pod,
            "pgbouncer_pools_client_maxwait_seconds",
            {"database": "orders", "user": user},
            np.clip(rec.noise(0.002) + added(f"pgb.maxwait.{user}"), 0, None),
        )
    rec.gauge(
        pod,
        "pgbouncer_databases_pool_size",
        {
            "name": "orders",
            "host": "orders-db",
            "port": "5432",
            "database": "orders",
            "force_user": "",
            "pool_mode": "transaction",
        },
        np.full(rec.n, 20.0),
    )
    rec.gauge(
        pod,
        "pgbouncer_databases_current_connections",
        {
            "name": "orders",
            "host": "orders-db",
            "port": "5432",
            "database": "orders",
            "force_user": "",
            "pool_mode": "transaction",
        },
        np.clip(np.round(18 + rec.noise(0.5) + added("pgb.db_current")), 0, 40),
    )
    rec.gauge(pod, "pgbouncer_config_max_client_connections", {}, np.full(rec.n, 1000.0))
    rec.gauge(pod, "pgbouncer_up", {}, np.ones(rec.n))

    # ---------------- risk-engine (Go, database/sql via client_golang DBStatsCollector)
    pod = "risk-engine-5b6f7c9d8-h7rtn"
    rec.target(pod, service_labels(pod), miss=0.01)
    inuse = np.clip(np.round(4 + 2 * market + rec.noise(0.8) + added("risk.sql_in_use")), 0, 25)
    rec.gauge(pod, "go_sql_in_use_connections", {"db_name": "orders"}, inuse)
    rec.gauge(
        pod,
        "go_sql_idle_connections",
        {"db_name": "orders"},
        np.clip(np.round(6 + rec.noise(0.8) - added("risk.sql_in_use") * 0.2), 0, None),
    )
    rec.gauge(pod, "go_sql_open_connections", {"db_name": "orders"}, np.clip(inuse + 6, 0, 25))
    rec.gauge(pod, "go_sql_max_open_connections", {"db_name": "orders"}, np.full(rec.n, 25.0))
    rec.counter(pod, "go_sql_wait_count_total", {"db_name": "orders"}, 0.01 + added("risk.sql_wait"))
    rec.counter(
        pod,
        "go_sql_wait_duration_seconds_total",
        {"db_name": "orders"},
        0.0001 + added("risk.sql_wait") * 0.5,
    )
    rec.gauge(pod, "go_goroutines", {}, np.round(120 + 20 * market + rec.noise(4) + added("risk.goroutines")))
    rec.gauge(pod, "process_open_fds", {}, np.round(40 + rec.noise(1) + added("risk.fds")))
    rec.gauge(pod, "process_max_fds", {}, np.full(rec.n, 65536.0))
    rec.histogram(
        pod,
        "risk_calc_duration_seconds",
        {"book": "btc-perp"},
        2 + market,
        0.05 * np.exp(rec.noise(0.05)) + added("risk.calc_lat"),
    )
    rec.counter(
        pod,
        "risk_messages_consumed_total",
        {"topic": "fills"},
        np.clip(30 + 60 * market + rec.noise(3) + added("risk.consumed"), 0, None),
    )

    # ---------------- refdata MySQL (mysqld_exporter)
    pod = "refdata-mysql-0"
    rec.target(pod, service_labels(pod) | {"container": "mysqld-exporter"}, miss=0.015)
    thr = np.clip(np.round(35 + 5 * market + rec.noise(2) + added("my.threads")), 0, 151)
    rec.gauge(pod, "mysql_global_status_threads_connected", {}, thr)
    rec.gauge(
        pod,
        "mysql_global_status_threads_running",
        {},
        np.clip(np.round(3 + rec.noise(1) + added("my.running")), 1, None),
    )
    rec.gauge(pod, "mysql_global_status_max_used_connections", {}, np.maximum.accumulate(thr))
    rec.gauge(pod, "mysql_global_variables_max_connections", {}, np.full(rec.n, 151.0))
    rec.gauge(pod, "mysql_up", {}, np.ones(rec.n))
    rec.counter(
        pod, "mysql_global_status_connection_errors_total", {"error": "max_connections"}, added("my.conn_err")
    )
    rec.counter(pod, "mysql_global_status_aborted_connects", {}, 0.002 + added("my.conn_err"))
    rec.counter(pod, "mysql_global_status_queries", {}, 50 + 20 * market)
    rec.counter(pod, "mysql_global_status_commands_total", {"command": "select"}, 45 + 20 * market)

    # ---------------- quote cache Redis (redis_exporter)
    pod = "quote-cache-redis-0"
    rec.target(pod, service_labels(pod) | {"container": "redis-exporter"}, miss=0.01)
    rec.gauge(
        pod,
        "redis_connected_clients",
        {},
        np.clip(np.round(180 + 40 * market + rec.noise(5) + added("redis.clients")), 0, 1000),
    )
    rec.gauge(pod, "redis_config_maxclients", {}, np.full(rec.n, 1000.0))
    rec.gauge(
        pod, "redis_blocked_clients", {}, np.clip(np.round(rec.noise(0.3) + added("redis.blocked")), 0, None)
    )
    rec.gauge(pod, "redis_up", {}, np.ones(rec.n))
    rec.counter(pod, "redis_commands_processed_total", {}, 2000 + 6000 * market + added("redis.cmds"))
    rec.counter(pod, "redis_rejected_connections_total", {}, added("redis.rejected"))
    rec.counter(pod, "redis_connections_received_total", {}, 1 + added("redis.conn_rx"))
    rec.gauge(pod, "redis_memory_used_bytes", {}, 1.2e9 + rec.noise(1e7))
    rec.gauge(pod, "redis_memory_max_bytes", {}, np.full(rec.n, 4e9))

    # ---------------- market data feed handler
    pod = "md-feed-6f8b9c7d5-tt2kp"
    rec.target(pod, service_labels(pod), miss=0.01)
    for venue in VENUES:
        rec.gauge(
            pod,
            "marketdata_feed_lag_seconds",
            {"venue": venue, "feed": "l2book"},
            np.clip(
                0.015 + 0.01 * market + np.abs(rec.noise(0.004)) + added(f"md.lag.{venue}") + added("md.lag"),
                0,
                None,
            ),
        )
        rec.counter(
            pod,
            "marketdata_messages_received_total",
            {"venue": venue},
            (200 + 800 * market) * (1 + added(f"vol.{venue}")) - added(f"md.drop.{venue}"),
        )
    rec.gauge(pod, "process_open_fds", {}, np.round(300 + rec.noise(5)))
    rec.gauge(pod, "process_max_fds", {}, np.full(rec.n, 65536.0))

    # ---------------- exchange connector
    pod = "exchange-connector-84c5d7b9f-zk5fd"
    rec.target(pod, service_labels(pod), miss=0.01)
    for venue in VENUES:
        rec.counter(
            pod, "exchange_api_requests_total", {"venue": venue, "endpoint": "/order"}, 5 + 10 * market
        )
        rec.counter(
            pod,
            "exchange_api_errors",
            {"venue": venue, "reason": "connect"},
            0.001 + added(f"xc.err.{venue}"),
        )  # legacy: no _total
        rec.counter(
            pod,
            "exchange_api_errors",
            {"venue": venue, "reason": "http_429"},
            0.003 + 0.01 * market + added(f"xc.err429.{venue}"),
        )
        rec.gauge(
            pod,
            "exchange_ws_rtt_seconds",
            {"venue": venue},
            0.002 + np.abs(rec.noise(0.0003)) + added(f"xc.rtt.{venue}"),
        )
    rec.gauge(
        pod,
        "process_open_fds",
        {},
        np.clip(np.round(900 + 100 * market + rec.noise(10) + added("xc.fds")), 0, 4096),
    )
    rec.gauge(pod, "process_max_fds", {}, np.full(rec.n, 4096.0))

    # ---------------- pricing: funding, marks, volume (market drivers)
    pod = "pricing-7f6d5c4b3-p4d7s"
    rec.target(pod, service_labels(pod), miss=0.01)
    for sym, venue in SYMBOLS.values():
        rec.gauge(
            pod,
            "funding_rate",
            {"symbol": sym, "venue": venue},
            0.0001 + np.cumsum(rec.noise(0.000002)) + added(f"fund.{sym}"),
        )
        rec.gauge(
            pod,
            "mark_price",
            {"symbol": sym, "venue": venue},
            (60000 if sym.startswith("BTC") else 3000)
            * np.exp(np.cumsum(rec.noise(0.0004)) + added(f"px.{sym}")),
        )
    for venue in VENUES:
        rec.counter(
            pod,
            "traded_volume_total",
            {"venue": venue},
            (1e5 + 8e5 * market) * (1 + added(f"vol.{venue}")) * np.exp(rec.noise(0.05)),
        )

    # ---------------- pnl engine
    pod = "pnl-engine-69d8f7c6b-w3j9x"
    rec.target(pod, service_labels(pod), miss=0.01)
    for desk, book in BOOKS:
        pnl = 2e5 + np.cumsum(rec.noise(800)) + added(f"pnl.{book}")
        rec.gauge(pod, "pnl_usd", {"desk": desk, "book": book}, pnl)
        rec.gauge(
            pod,
            "position_notional_usd",
            {"desk": desk, "book": book},
            5e6 + rec.noise(2e4) + added(f"pos.{book}"),
        )

    # ---------------- eod-reporting (unrelated batch) and position-ui (unrelated deploy)
    for pod in ("eod-reporting-28911840-5kq2z", "position-ui-5d4c6b7a8-r2n8m"):
        rec.target(pod, service_labels(pod), miss=0.01)
        svc = PODS[pod][0]
        rec.counter(pod, "process_cpu_seconds_total", {}, 0.05 + added(f"{svc}.cpu"))
        rec.gauge(pod, "process_resident_memory_bytes", {}, 2e8 + rec.noise(5e6) + added(f"{svc}.mem"))

    # ---------------- cAdvisor (kubelet) and kube-state-metrics for every pod
    for node, ip in NODES.items():
        kubelet_target(rec, node, ip)
    ksm_target(rec, "10.42.1.3:8080", "6d5c8b9f7-abcde")
    for pod, (svc, cont, node, _, _) in PODS.items():
        key = "kubelet-" + node
        lab = {
            "namespace": NAMESPACE,
            "pod": pod,
            "container": cont,
            "image": f"registry.local/{svc}:1.4.2",
            "name": "k8s_" + cont + "_" + pod,
            "id": "/kubepods/" + pod,
        }
        cpu = 0.1 + 0.2 * market * (svc in ("order-gateway", "md-feed", "pricing")) + added(f"cpu.{svc}")
        rec.counter(
            key,
            "container_cpu_usage_seconds_total",
            lab | {"cpu": "total"},
            np.clip(cpu + rec.noise(0.01), 0, None),
        )
        memlim = 2 * 2**30
        rec.gauge(key, "container_memory_working_set_bytes", lab, 4e8 + rec.noise(5e6) + added(f"mem.{svc}"))
        rec.gauge(key, "container_spec_memory_limit_bytes", lab, np.full(rec.n, float(memlim)))
        rec.counter(
            "ksm",
            "kube_pod_container_status_restarts_total",
            {"namespace": NAMESPACE, "pod": pod, "container": cont, "uid": "u-" + pod[-5:]},
            added(f"restart.{svc}"),
        )
        rec.gauge(
            "ksm",
            "kube_pod_container_resource_limits",
            {
                "namespace": NAMESPACE,
                "pod": pod,
                "container": cont,
                "node": node,
                "resource": "memory",
                "unit": "byte",
                "uid": "u-" + pod[-5:],
            },
            np.full(rec.n, float(memlim)),
        )
    for dep in (
        "order-gateway",
        "pgbouncer",
        "risk-engine",
        "md-feed",
        "exchange-connector",
        "pricing",
        "pnl-engine",
        "position-ui",
    ):
        rec.gauge(
            "ksm",
            "kube_deployment_status_observed_generation",
            {"namespace": NAMESPACE, "deployment": dep},
            7 + np.round(added(f"gen.{dep}")),
        )
        rec.gauge(
            "ksm",
            "kube_deployment_metadata_generation",
            {"namespace": NAMESPACE, "deployment": dep},
            7 + np.round(added(f"gen.{dep}")),
        )

    # ---------------- node-exporter (namespace monitoring, as kube-prometheus-stack labels it)
    for j, (node, ip) in enumerate(NODES.items()):
        key = node_exporter_target(rec, node, ip, f"{'abc'[j]}x9k2").key
        for cpu in range(4):
            for mode, r in (
                ("user", 0.2 + 0.2 * market),
                ("system", 0.05 + 0.05 * market),
                ("idle", 0.7 - 0.25 * market),
                ("iowait", 0.01 + 0 * market),
                ("softirq", 0.01 + 0.01 * market + added(f"node.softirq.{node}")),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(r + rec.noise(0.01) + (added(f"node.cpu.{node}") if mode == "user" else 0), 0, 1),
                )
        rec.gauge(key, "node_memory_MemAvailable_bytes", {}, 9e9 + rec.noise(5e7) - added(f"node.mem.{node}"))
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(rec.n, 16e9))
        rec.gauge(
            key,
            "node_filefd_allocated",
            {},
            np.round(12000 + 800 * market + rec.noise(50) + added(f"node.fd.{node}")),
        )
        rec.gauge(key, "node_filefd_maximum", {}, np.full(rec.n, 9.2e18))
        rec.gauge(
            key,
            "node_nf_conntrack_entries",
            {},
            np.clip(np.round(40000 + 20000 * market + rec.noise(800) + added(f"node.ct.{node}")), 0, 262144),
        )
        rec.gauge(key, "node_nf_conntrack_entries_limit", {}, np.full(rec.n, 262144.0))
        rec.counter(key, "node_nf_conntrack_stat_drop", {}, added(f"node.ctdrop.{node}"))
        rec.gauge(
            key,
            "node_filesystem_avail_bytes",
            {"device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"},
            5e10 + rec.noise(1e8) - added(f"node.disk.{node}"),
        )
        rec.gauge(
            key,
            "node_filesystem_size_bytes",
            {"device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"},
            np.full(rec.n, 1e11),
        )
        rec.counter(key, "node_network_receive_bytes_total", {"device": "eth0"}, 5e6 + 2e7 * market)
    rec.up()
    return rec
