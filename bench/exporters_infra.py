"""Ten generic infrastructure incidents in a web shop, as real exporters write them (the second set of
`bench.exporters`, `--set infra`).

Namespace `shop` on three nodes, 2026-12-04 11:00-16:00Z on the grid, targets and noise of
`bench.exporters_data.Recording`: Spring Boot `checkout` (Micrometer: `http_server_requests_seconds`,
`http_client_requests_seconds{client_name}`), Go `payments` and `search` (client_golang's promhttp:
`http_request_duration_seconds{handler,method,code}`), Python `catalog` (prometheus-fastapi-instrumentator:
`http_request_duration_seconds{handler,method}`, `http_requests_total{handler,method,status="2xx"}`) with
its PostgreSQL `catalog-db` (postgres_exporter sidecar, `pg_stat_database_*` without `_total`), Node.js
`cart` (prom-client, express-prom-bundle: `nodejs_*`, `http_request_duration_seconds{method,path,
status_code}`), a Python `order-worker` consuming RabbitMQ (the rabbitmq_prometheus plugin with per-object
metrics: `rabbitmq_queue_messages_ready{vhost,queue}`), a `thumbnailer` with no CPU limit, CoreDNS in
`kube-system` (`coredns_dns_responses_total{rcode}`, `coredns_forward_*{to}`), blackbox_exporter probing
two HTTPS endpoints through the prometheus-blackbox-exporter chart's ServiceMonitor (`instance` the URL,
`target` its name), cAdvisor under the kubelet's labels as kube-prometheus-stack keeps them (its
`cAdvisorMetricRelabelings` drop `container_spec_*` and `container_cpu_cfs_throttled_seconds_total`; the
limits come from kube-state-metrics), kube-state-metrics with honorLabels and node-exporter in `monitoring`.
A pod replaced in a rollout or a container restarted after an OOM kill is what Kubernetes makes of it: a
new pod name or a new container `id`, the old series ending, the process' counters starting from zero.

The unrelated movers: a newsletter at 14:00Z that lifts the shop's traffic (2.6x, decaying over ~25 min)
on top of the afternoon's rise; a rollout of `admin-ui` a minute or two from each incident (a new pod, a
generation bump, the new pod's start-up CPU against its 200m limit); the `report-cron` CronJob on its
schedule (`*/30`: a new pod per run, named after its scheduled minute, 1.8 cores for 10-14 minutes, the
same in every scenario, running during some incidents and not others); and in bad_deploy an HPA scaling
`catalog` from 1 to 2 replicas a minute before (a config-only change: a generation bump, a new pod).
Each scenario's truth names the component whose series carry the cause (a workload, a node, CoreDNS, a
probed endpoint), the cause's metric families and the label values that single out its series.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

import numpy as np

from bench.exporters_data import (
    END,
    KSM_JOB,
    KSM_SERVICE,
    START,
    Delta,
    Injected,
    PodSpec,
    Recording,
    ksm_target,
    kubelet_target,
    node_exporter_target,
    service_monitor_labels,
)
from bench.exporters_scenarios import Alert, Scenario, Truth, active_from, burst, climb, hms, ramp

NAMESPACE = "shop"
NEWSLETTER = hms(14)
NODES = {"ip-10-0-2-21": "10.0.2.21", "ip-10-0-2-22": "10.0.2.22", "ip-10-0-2-23": "10.0.2.23"}
CORES = 4.0  # per node
CHECKOUT_A, CHECKOUT_B = "checkout-6b8f9d7c5-7xk2p", "checkout-6b8f9d7c5-q4wzn"
CHECKOUT_NEW_A, CHECKOUT_NEW_B = "checkout-5c9d7f8b6-h2m4r", "checkout-5c9d7f8b6-v8n3t"
PAYMENTS_A, PAYMENTS_B = "payments-7d4c8b9f6-m5t7w", "payments-7d4c8b9f6-z9r2k"
CATALOG, CATALOG_NEW = "catalog-5f7b9c8d4-k3p8v", "catalog-5f7b9c8d4-d6m9z"
CART = "cart-8c6d5f7b9-w2j4n"
SEARCH = "search-6d8b7c9f5-r7t2x"
WORKER = "order-worker-7b9c6d8f4-n6h3q"
THUMBNAILER = "thumbnailer-5d6f8b7c9-b8x4m"
ADMIN_OLD, ADMIN_NEW = "admin-ui-6f5d4c8b7-t3v9s", "admin-ui-7c8b9d6f5-k2w6p"
COREDNS_A, COREDNS_B = "coredns-5d78c9869d-4xq8j", "coredns-5d78c9869d-wv2ln"
# pod: (workload/service, container, node, ip, port)
PODS: dict[str, PodSpec] = {
    CHECKOUT_A: ("checkout", "checkout", "ip-10-0-2-21", "10.44.1.12", 8080),
    CHECKOUT_B: ("checkout", "checkout", "ip-10-0-2-22", "10.44.2.15", 8080),
    CHECKOUT_NEW_A: ("checkout", "checkout", "ip-10-0-2-21", "10.44.1.31", 8080),
    CHECKOUT_NEW_B: ("checkout", "checkout", "ip-10-0-2-23", "10.44.3.36", 8080),
    PAYMENTS_A: ("payments", "payments", "ip-10-0-2-21", "10.44.1.20", 8080),
    PAYMENTS_B: ("payments", "payments", "ip-10-0-2-23", "10.44.3.21", 8080),
    CATALOG: ("catalog", "catalog", "ip-10-0-2-22", "10.44.2.30", 8000),
    CATALOG_NEW: ("catalog", "catalog", "ip-10-0-2-22", "10.44.2.58", 8000),
    "catalog-db-0": ("catalog-db", "postgres", "ip-10-0-2-23", "10.44.3.5", 9187),
    CART: ("cart", "cart", "ip-10-0-2-22", "10.44.2.41", 3000),
    SEARCH: ("search", "search", "ip-10-0-2-22", "10.44.2.47", 8080),
    WORKER: ("order-worker", "order-worker", "ip-10-0-2-23", "10.44.3.28", 8000),
    "rabbitmq-server-0": ("rabbitmq", "rabbitmq", "ip-10-0-2-21", "10.44.1.9", 15692),
    THUMBNAILER: ("thumbnailer", "thumbnailer", "ip-10-0-2-22", "10.44.2.52", 9100),
    ADMIN_OLD: ("admin-ui", "admin-ui", "ip-10-0-2-23", "10.44.3.70", 3000),
    ADMIN_NEW: ("admin-ui", "admin-ui", "ip-10-0-2-23", "10.44.3.74", 3000),
    COREDNS_A: ("coredns", "coredns", "ip-10-0-2-21", "10.44.1.3", 9153),
    COREDNS_B: ("coredns", "coredns", "ip-10-0-2-23", "10.44.3.3", 9153),
}
# The report-cron CronJob (`*/30 * * * *`): a Job and its pod per run, named after the scheduled minute as the
# CronJob controller names them, 10-14 minutes of 1.8 cores each, on the nodes in turn; no Service scrapes it.
CRON_RUNS: dict[str, tuple[float, float]] = {}  # pod: (started, finished)
for _k, _minute in enumerate(range(int(START // 60), int(END // 60), 30)):
    _pod = f"report-cron-{_minute}-{'bcdfghjklmnpqrstvwxz'[_k * 7 % 20]}{_k * 13 % 10}q{_k * 3 % 10}w"
    _node = ("ip-10-0-2-21", "ip-10-0-2-23", "ip-10-0-2-21")[_k % 3]
    PODS[_pod] = ("report-cron", "reporting", _node, f"10.44.{1 if _node.endswith('21') else 3}.{80 + _k}", 0)
    CRON_RUNS[_pod] = (_minute * 60 + 8.0, _minute * 60 + 8.0 + 60.0 * (10 + _k * 3 % 5))
LATER = {CHECKOUT_NEW_A, CHECKOUT_NEW_B, CATALOG_NEW, ADMIN_NEW}  # exist only once a scenario starts them
KUBE_SYSTEM = {COREDNS_A, COREDNS_B}
DEPLOYMENTS = ("checkout", "payments", "catalog", "cart", "search", "order-worker", "thumbnailer", "admin-ui")
IMAGES = {"checkout": "2.3.1", "payments": "1.18.0", "catalog": "0.42.3", "cart": "3.7.2", "search": "1.9.0"}
CPU_LIMIT = {  # cores; thumbnailer, report-cron's runs and coredns have none
    "checkout": 2.0,
    "payments": 1.0,
    "catalog": 1.0,
    "catalog-db": 2.0,
    "cart": 1.0,
    "search": 0.5,
    "order-worker": 0.5,
    "rabbitmq": 1.0,
    "admin-ui": 0.2,
}
MEMORY_LIMIT = {"cart": 512 * 2**20, "coredns": 170 * 2**20}  # bytes; 1 GiB for the others
GiB = float(2**30)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
DB_MOUNT = "/mnt/disks/ssd0"  # catalog-db's local PersistentVolume on ip-10-0-2-23
PROBES = {"psp-api": "https://api.psp-payments.example/v1/health", "shop-web": "https://shop.example.com/"}
PREFETCH = 50.0  # the worker's basic.qos
KSM_INSTANCE = "10.44.1.4:8080"


def traffic_curve(rec: Recording) -> np.ndarray:
    """The shop's load: rising through the afternoon, the newsletter's 2.6x peak at 14:00 decaying."""
    g = rec.grid
    day = 0.7 + 0.5 * (g - START) / (END - START)
    since = (g - NEWSLETTER) / 60.0
    mail = np.where(since >= 0, 1.6 * np.exp(-np.clip(since, 0, None) / 25.0) * np.clip(since / 3, 0, 1), 0)
    return day + mail


def pod_labels(pod: str, endpoint: str = "http-metrics", container: str | None = None) -> dict[str, str]:
    """The labels the ServiceMonitor of the pod's Service gives its scrapes."""
    svc = PODS[pod][0]
    namespace = "kube-system" if pod in KUBE_SYSTEM else NAMESPACE
    if svc == "coredns":  # kube-prometheus-stack's coreDns ServiceMonitor relabels the job
        return service_monitor_labels(
            namespace, pod, PODS[pod], "kube-prometheus-stack-coredns", endpoint, container, job="coredns"
        )
    return service_monitor_labels(namespace, pod, PODS[pod], svc, endpoint, container)


class Shop(Injected):
    """The shop's series, built in dependency order: what each pod's node and calls do to it first."""

    def __init__(self, seed: int, inject: Mapping[str, Delta]) -> None:
        super().__init__(Recording(seed, PODS, NODES), inject)
        self.traffic = traffic_curve(self.rec)
        self.alive = {pod: self._lifetime(pod) for pod in PODS}

    def _lifetime(self, pod: str) -> np.ndarray | None:
        """The grid points the pod exists at (None: the whole window; all False: never)."""
        g = self.rec.grid
        start, stop = CRON_RUNS.get(pod) or (self.at(f"start.{pod}"), self.at(f"stop.{pod}"))
        if pod in LATER and start is None:
            return np.zeros(self.rec.n, bool)
        if start is None and stop is None:
            return None
        alive = np.ones(self.rec.n, bool)
        if start is not None:
            alive &= g >= start
        if stop is not None:
            alive &= g < stop
        return alive

    def exists(self, pod: str) -> bool:
        alive = self.alive[pod]
        return alive is None or bool(alive.any())

    def live(self, pod: str) -> np.ndarray:
        alive = self.alive[pod]
        return np.ones(self.rec.n, bool) if alive is None else alive

    def share(self, pods: list[str]) -> dict[str, np.ndarray]:
        """Each pod's share of its service's traffic (the live ones split it)."""
        live = {p: self.live(p).astype(float) for p in pods}
        total = np.maximum(np.sum(list(live.values()), axis=0), 1.0)
        return {p: v / total for p, v in live.items()}


def oom_lives(shop: Shop, pod: str, base: float, limit: float) -> tuple[list[tuple[int, int]], np.ndarray]:
    """A leaking container's lives (grid index ranges) and its working set: it grows by the leak until it
    reaches the limit, is OOM-killed, and restarts after the back-off (10 s, then 20 s, 40 s...)."""
    leak = shop.added(f"leak.{pod}")  # drawn from no generator: the kill times are the scenario's
    ws = np.full(shop.rec.n, np.nan)
    lives, start, used, backoff, i = [], 0, base, 10.0, 0
    n = shop.rec.n
    while i < n:
        used += leak[i] * 15.0
        ws[i] = used
        if used >= limit:
            lives.append((start, i + 1))
            i += 1 + int(np.ceil(backoff / 15.0))
            backoff *= 2
            start, used = i, base
            continue
        i += 1
    if start < n:
        lives.append((start, n))
    return lives, ws


def mask(n: int, span: tuple[int, int]) -> np.ndarray:
    out = np.zeros(n, bool)
    out[span[0] : span[1]] = True
    return out


def reset_counters(rec: Recording, target: str, lives: list[tuple[int, int]]) -> None:
    """A restarted process' counters start again from zero at each of its lives after the first."""
    for rows in rec.families.values():
        for row in rows:
            if row.target == target and row.counter:
                for begin, _ in lives[1:]:
                    row.values[begin:] -= row.values[begin]


def build_shop(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series in the shop, with each of `inject`'s deltas added where it is read."""
    shop = Shop(seed, inject)
    rec, added, traffic = shop.rec, shop.added, shop.traffic
    n = rec.n

    # ---------------- demand first: CPU per workload, then what each node's saturation does to its pods
    checkout_pods = [p for p in (CHECKOUT_A, CHECKOUT_B, CHECKOUT_NEW_A, CHECKOUT_NEW_B) if shop.exists(p)]
    catalog_pods = [p for p in (CATALOG, CATALOG_NEW) if shop.exists(p)]
    checkout_share = shop.share(checkout_pods)
    catalog_share = shop.share(catalog_pods)
    checkout_rps = 16 * traffic  # the service's
    browse_rps = 40 * traffic
    stuck_at = shop.at("worker.stuck")
    stuck = rec.grid >= stuck_at if stuck_at is not None else np.zeros(n, bool)
    search_rps = 15 * traffic
    search_demand = 0.6 * (0.05 + 0.012 * search_rps) * (shop.at("cpucost.search") or 1.0)
    throttled = np.clip((search_demand / CPU_LIMIT["search"] - 0.75) / 0.5, 0, 1)
    demand: dict[str, np.ndarray] = {}
    for pod, (svc, *_rest) in PODS.items():
        if svc == "checkout":
            d = 0.15 + 0.025 * checkout_rps * checkout_share.get(pod, 0.0)
        elif svc == "catalog":
            d = 0.1 + 0.004 * (browse_rps + 3 * checkout_rps) * catalog_share.get(pod, 0.0)
        elif svc == "search":
            d = np.minimum(search_demand, CPU_LIMIT["search"] * 0.98)
        elif svc == "payments":
            d = 0.05 + 0.01 * checkout_rps
        elif svc == "cart":
            d = 0.08 + 0.005 * 25 * traffic
        elif svc == "order-worker":
            d = np.where(stuck, 0.01, 0.05 + 0.015 * checkout_rps)
        elif svc == "coredns":
            d = 0.03 + 0.01 * traffic
        elif svc == "report-cron":
            d = np.full(n, 1.8)
        else:
            d = np.full(n, 0.05)
        d = d + added(f"cpu.{svc}") + added(f"cpu.{pod}")
        demand[pod] = np.clip(d + rec.noise(0.01), 0.005, None) * shop.live(pod)
    node_demand = {node: 0.3 + sum(demand[p] for p, s in PODS.items() if s[2] == node) for node in NODES}
    contention = {node: np.clip(node_demand[node] / CORES - 0.85, 0, None) for node in NODES}
    node_of = {pod: spec[2] for pod, spec in PODS.items()}

    def slow(pod: str) -> np.ndarray:
        """How much longer the pod's own work takes: its node's CPU contention, its own throttling."""
        extra = 10 * contention[node_of[pod]]
        if pod == SEARCH:
            extra = extra + 4 * throttled
        return 1 + extra

    def net(pod: str) -> np.ndarray:
        """Seconds retransmits add to a call to or from a pod on a node whose NIC drops packets."""
        return 0.0006 * added(f"nic.{node_of[pod]}")

    # ---------------- catalog-db (postgres_exporter sidecar): what a full data volume does to writes
    failing = np.clip(added("db.failing"), 0, 1)  # share of write transactions that fail
    db_lat = 0.004 * np.exp(rec.noise(0.05)) + 0.15 * failing

    # ---------------- catalog: FastAPI (prometheus-fastapi-instrumentator)
    catalog_lat = {
        p: 0.012 * (1 + 0.1 * traffic) * slow(p) + db_lat + added("lat.catalog") for p in catalog_pods
    }
    catalog_err = np.clip(0.001 + 0.6 * failing, 0, 1)
    for pod in catalog_pods:
        alive = shop.alive[pod]
        rec.target(pod, pod_labels(pod), alive=alive)
        rps = (browse_rps + 3 * checkout_rps) * catalog_share[pod]
        for handler, part in (("/products/{id}", 0.8), ("/categories", 0.2)):
            rec.histogram(
                pod,
                "http_request_duration_seconds",
                {"handler": handler, "method": "GET"},
                rps * part,
                catalog_lat[pod] * np.exp(rec.noise(0.04)),
                buckets=(0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10),
                alive=alive,
            )
            for status, share in (("2xx", 1 - catalog_err), ("5xx", catalog_err)):
                rec.counter(
                    pod,
                    "http_requests_total",
                    {"handler": handler, "method": "GET", "status": status},
                    rps * part * share,
                    alive=alive,
                )
        rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False, alive=alive)
        rec.gauge(pod, "process_resident_memory_bytes", {}, 2.1e8 + rec.noise(3e6), alive=alive)

    pod = "catalog-db-0"
    rec.target(pod, pod_labels(pod, container="postgres-exporter"), miss=0.02)
    writes = 6 * traffic * (1 + 0.2 * added("db.reads"))
    reads = (browse_rps + 3 * checkout_rps) * (1 + added("db.reads"))
    db = {"datid": "16384", "datname": "catalog"}
    rec.counter(pod, "pg_stat_database_xact_commit", db, reads + writes * (1 - failing))
    rec.counter(pod, "pg_stat_database_xact_rollback", db, 0.05 + writes * failing)
    rec.counter(pod, "pg_stat_database_blks_read", db, 200 * (1 + added("db.reads")))
    rec.counter(pod, "pg_stat_database_blks_hit", db, 9000 * traffic)
    rec.gauge(
        pod,
        "pg_stat_database_numbackends",
        db,
        np.round(12 + 2 * traffic + rec.noise(0.8) + 14 * failing),
    )
    for state, count in (("active", 2 + traffic + 12 * failing), ("idle", 10 + traffic)):
        rec.gauge(
            pod,
            "pg_stat_activity_count",
            {"datname": "catalog", "state": state, "usename": "catalog", "application_name": ""},
            np.clip(np.round(count + rec.noise(0.7)), 0, None),
        )
    rec.gauge(pod, "pg_settings_max_connections", {}, np.full(n, 100.0))
    rec.gauge(pod, "pg_database_size_bytes", {"datname": "catalog"}, 3.2e10 + np.cumsum(np.full(n, 2e4)))
    rec.gauge(pod, "pg_up", {}, np.ones(n))

    # ---------------- payments (Go, promhttp), calling the payment service provider
    cert_expiry = shop.at("cert.psp-api")
    expired = rec.grid >= cert_expiry if cert_expiry is not None else np.zeros(n, bool)
    payments_err = np.clip(0.002 + 0.97 * expired, 0, 1)
    payments_lat = {}
    for pod in (PAYMENTS_A, PAYMENTS_B):
        rec.target(pod, pod_labels(pod))
        lat = np.where(expired, 0.03, 0.16 * (1 + 0.05 * traffic) * slow(pod) * np.exp(rec.noise(0.04)))
        payments_lat[pod] = lat + added("lat.payments")
        rps = checkout_rps / 2
        for code, share in (("200", 1 - payments_err), ("502", payments_err)):
            rec.histogram(
                pod,
                "http_request_duration_seconds",
                {"handler": "/v1/charges", "method": "post", "code": code},
                rps * share,
                payments_lat[pod],
                sigma=0.35,
            )
        rec.gauge(pod, "go_goroutines", {}, np.round(40 + 8 * traffic + rec.noise(2)))
        rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False)
        rec.gauge(pod, "process_resident_memory_bytes", {}, 6e7 + rec.noise(1e6))

    # ---------------- checkout (Spring Boot, Micrometer): calls payments, catalog, an address API
    dns_fail = np.clip(added("dns.servfail"), 0, 1)
    pay_call = sum(payments_lat.values()) / 2
    for pod in checkout_pods:
        alive = shop.alive[pod]
        rec.target(pod, pod_labels(pod, "http"), alive=alive)
        rps = checkout_rps * checkout_share[pod]
        to_payments = pay_call + net(pod) + (net(PAYMENTS_A) + net(PAYMENTS_B)) / 2
        to_catalog = sum(catalog_lat[p] * catalog_share[p] for p in catalog_pods) + net(pod)
        validate_fail = 0.35 * dns_fail
        failures = {  # (status, exception): share of checkouts
            ("500", "NullPointerException"): added(f"err.{pod}"),
            ("502", "PaymentDeclinedException"): payments_err * 0.98,
            ("500", "UnknownHostException"): validate_fail + 0.001,
        }
        ok = np.clip(1 - np.sum(list(failures.values()), axis=0), 0, 1)
        own = 0.03 * slow(pod) * np.exp(rec.noise(0.04))
        lat = own + to_payments + 3 * to_catalog + net(pod)
        outcomes = [("200", "SUCCESS", "none", ok)]
        outcomes += [(status, "SERVER_ERROR", exc, share) for (status, exc), share in failures.items()]
        for status, outcome, exception, share in outcomes:
            rec.histogram(
                pod,
                "http_server_requests_seconds",
                {
                    "uri": "/api/checkout",
                    "method": "POST",
                    "status": status,
                    "outcome": outcome,
                    "exception": exception,
                },
                rps * np.clip(share, 0, 1),
                lat,
                sigma=0.35,
                buckets=HTTP_BUCKETS,
                alive=alive,
            )
        for client, uri, call, fail in (
            ("payments.shop.svc", "/v1/charges", to_payments, payments_err),
            ("catalog.shop.svc", "/products/{id}", to_catalog, catalog_err),
            ("api.addressy.example", "/v2/validate", 0.05 + 0 * traffic, validate_fail),
        ):
            calls = rps * (3 if client.startswith("catalog") else 1)
            rec.histogram(
                pod,
                "http_client_requests_seconds",
                {"client_name": client, "uri": uri, "method": "POST", "status": "200", "outcome": "SUCCESS"},
                calls * (1 - fail),
                call,
                sigma=0.35,
                buckets=HTTP_BUCKETS,
                alive=alive,
            )
            rec.counter(
                pod,
                "http_client_requests_seconds_count",
                {
                    "client_name": client,
                    "uri": uri,
                    "method": "POST",
                    "status": "CLIENT_ERROR",
                    "outcome": "UNKNOWN",
                    "exception": "UnknownHostException" if client.startswith("api.") else "IOException",
                },
                calls * fail,
                alive=alive,
            )
        rec.gauge(
            pod, "process_cpu_usage", {}, np.clip(demand[pod] / 2 + rec.noise(0.005), 0, 1), alive=alive
        )
        rec.gauge(pod, "process_start_time_seconds", {}, np.full(n, _started(shop, pod)), alive=alive)
        rec.gauge(
            pod,
            "jvm_memory_used_bytes",
            {"area": "heap", "id": "G1 Old Gen"},
            3e8 + 1e8 * ((rec.grid % 900) / 900) + rec.noise(1e7),
            alive=alive,
        )
        rec.gauge(
            pod, "jvm_memory_max_bytes", {"area": "heap", "id": "G1 Old Gen"}, np.full(n, 7.5e8), alive=alive
        )
        rec.gauge(
            pod,
            "jvm_threads_live_threads",
            {},
            np.round(60 + 3 * rps + rec.noise(2)),
            alive=alive,
        )
        rec.gauge(
            pod,
            "jvm_info",
            {
                "runtime": "OpenJDK Runtime Environment",
                "vendor": "Eclipse Adoptium",
                "version": "21.0.5+11-LTS",
            },
            np.ones(n),
            alive=alive,
        )

    # ---------------- cart (Node.js, prom-client + express-prom-bundle); a leak ends in OOM kills
    pod = CART
    rec.target(pod, pod_labels(pod, "http"))
    cart_limit = float(MEMORY_LIMIT["cart"])
    cart_lives, cart_ws = oom_lives(shop, pod, 1.8e8, cart_limit)
    cart_up = np.zeros(n, bool)
    for life in cart_lives:
        cart_up |= mask(n, life)
    heap = np.clip(cart_ws - 6e7, 0, None)
    pressure = np.clip((cart_ws / cart_limit - 0.8) / 0.2, 0, 1)  # GC thrashing near the limit
    cart_lat = 0.015 * (1 + 0.1 * traffic) * slow(pod) * (1 + 4 * pressure)
    rec.histogram(
        pod,
        "http_request_duration_seconds",
        {"method": "POST", "path": "/cart/items", "status_code": "200"},
        25 * traffic,
        cart_lat,
        buckets=(0.003, 0.03, 0.1, 0.3, 1.5, 10),
        alive=cart_up,
    )
    rec.gauge(pod, "nodejs_heap_size_used_bytes", {}, heap, alive=cart_up)
    rec.gauge(pod, "nodejs_heap_size_total_bytes", {}, heap * 1.15 + 1e7, alive=cart_up)
    rec.gauge(
        pod,
        "nodejs_eventloop_lag_seconds",
        {},
        0.002 + 0.05 * pressure + np.abs(rec.noise(0.0005)),
        alive=cart_up,
    )
    rec.gauge(pod, "process_resident_memory_bytes", {}, cart_ws * 0.97, alive=cart_up)
    starts = np.zeros(n)
    for begin, end in cart_lives:
        starts[begin:end] = rec.grid[begin] if begin > 0 else START - 86400 * 2
    rec.gauge(pod, "process_start_time_seconds", {}, starts, alive=cart_up)
    rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False, alive=cart_up)
    reset_counters(rec, pod, cart_lives)

    # ---------------- search (Go, promhttp), CPU-limited
    pod = SEARCH
    rec.target(pod, pod_labels(pod))
    rec.histogram(
        pod,
        "http_request_duration_seconds",
        {"handler": "/search", "method": "get", "code": "200"},
        search_rps,
        0.02 * slow(pod) * np.exp(rec.noise(0.04)),
    )
    rec.gauge(pod, "go_goroutines", {}, np.round(30 + 10 * traffic * slow(pod) + rec.noise(2)))
    rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False)

    # ---------------- RabbitMQ (rabbitmq_prometheus, per-object metrics) and the order worker
    pod = "rabbitmq-server-0"
    rec.target(pod, pod_labels(pod, "prometheus") | {"service": "rabbitmq", "job": "rabbitmq"}, miss=0.01)
    published = checkout_rps * (1 - payments_err)
    consumed = np.where(stuck, 0.0, published)
    backlog = np.cumsum((published - consumed) * 15.0)
    thumbs = 3 * traffic + added("thumbnails.published")
    thumbs_backlog = queue(thumbs, 10 + 40 * (added("cpu.thumbnailer") > 0.5))
    for qname, ready, unacked, consumers, rate in (
        (
            "orders",
            np.clip(np.round(2 + np.abs(rec.noise(1.5)) + backlog), 0, None),
            np.where(stuck, PREFETCH, np.clip(np.round(4 + rec.noise(1.5)), 0, None)),
            1.0,
            published,
        ),
        (
            "thumbnails",
            np.round(np.abs(rec.noise(2)) + thumbs_backlog),
            np.clip(np.round(2 + rec.noise(1)), 0, None),
            1.0,
            thumbs,
        ),
        (
            "emails",
            np.round(np.abs(rec.noise(3))),
            np.round(np.abs(rec.noise(0.5))),
            2.0,
            2 * traffic
            + 8 * np.exp(-np.clip(rec.grid - NEWSLETTER, 0, None) / 1500) * (rec.grid >= NEWSLETTER),
        ),
    ):
        q = {"vhost": "/", "queue": qname}
        rec.gauge(pod, "rabbitmq_queue_messages_ready", q, ready)
        rec.gauge(pod, "rabbitmq_queue_messages_unacked", q, unacked)
        rec.gauge(pod, "rabbitmq_queue_consumers", q, np.full(n, consumers))
        rec.counter(pod, "rabbitmq_queue_messages_published_total", q, rate)
    rec.gauge(
        pod,
        "rabbitmq_identity_info",
        {"rabbitmq_node": "rabbit@rabbitmq-server-0.rabbitmq-nodes.shop", "rabbitmq_cluster": "rabbitmq"},
        np.ones(n),
    )

    pod = WORKER
    rec.target(pod, pod_labels(pod))
    rec.counter(pod, "worker_messages_processed_total", {"queue": "orders", "outcome": "ok"}, consumed)
    rec.gauge(
        pod,
        "worker_messages_inflight",
        {"queue": "orders"},
        np.where(stuck, PREFETCH, np.clip(np.round(3 + rec.noise(1.5)), 0, None)),
    )
    rec.histogram(
        pod,
        "worker_message_processing_seconds",
        {"queue": "orders"},
        consumed,
        0.09 * np.exp(rec.noise(0.05)),
    )
    rec.gauge(
        pod,
        "python_info",
        {"implementation": "CPython", "major": "3", "minor": "12", "patchlevel": "7", "version": "3.12.7"},
        np.ones(n),
    )
    rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False)
    rec.gauge(pod, "process_resident_memory_bytes", {}, 1.4e8 + rec.noise(2e6))

    # ---------------- thumbnailer, admin-ui: process CPU
    for pod in (THUMBNAILER, ADMIN_OLD, ADMIN_NEW):
        if not shop.exists(pod):
            continue
        alive = shop.alive[pod]
        rec.target(pod, pod_labels(pod), alive=alive)
        rec.counter(pod, "process_cpu_seconds_total", {}, demand[pod], whole=False, alive=alive)
        rec.gauge(pod, "process_resident_memory_bytes", {}, 2e8 + rec.noise(4e6), alive=alive)

    # ---------------- CoreDNS (kube-system); the VPC resolver behind it
    for pod in (COREDNS_A, COREDNS_B):
        rec.target(pod, pod_labels(pod, "http-metrics"))
        qps = 220 * traffic / 2
        server = {"server": "dns://:53", "zone": "."}
        for qtype, part in (("A", 0.55), ("AAAA", 0.45)):
            rec.counter(
                pod,
                "coredns_dns_requests_total",
                server | {"proto": "udp", "family": "1", "type": qtype},
                qps * part,
            )
        external = 0.3 * qps
        for rcode, rate in (
            ("NOERROR", qps * 0.62 - external * dns_fail),
            ("NXDOMAIN", qps * 0.38),
            ("SERVFAIL", 0.001 + external * dns_fail),
        ):
            rec.counter(
                pod,
                "coredns_dns_responses_total",
                server | {"rcode": rcode, "plugin": ""},
                np.clip(rate, 0, None),
            )
        rec.histogram(
            pod,
            "coredns_dns_request_duration_seconds",
            server | {"type": "A"},
            qps * 0.55,
            0.0004 + 1.0 * dns_fail * 0.3,
            buckets=(
                0.00025,
                0.0005,
                0.001,
                0.002,
                0.004,
                0.008,
                0.016,
                0.032,
                0.064,
                0.128,
                0.256,
                0.512,
                1.024,
                2.048,
                4.096,
                8.192,
            ),
        )
        up = {"to": "10.0.0.2:53"}
        rec.counter(pod, "coredns_forward_requests_total", up, external)
        rec.counter(
            pod, "coredns_forward_responses_total", up | {"rcode": "NOERROR"}, external * (1 - dns_fail)
        )
        rec.histogram(
            pod,
            "coredns_forward_request_duration_seconds",
            up | {"rcode": "NOERROR"},
            external * (1 - dns_fail),
            0.002 + 0.4 * dns_fail,
            buckets=(
                0.00025,
                0.0005,
                0.001,
                0.002,
                0.004,
                0.008,
                0.016,
                0.032,
                0.064,
                0.128,
                0.256,
                0.512,
                1.024,
                2.048,
                4.096,
                8.192,
            ),
        )
        rec.counter(pod, "coredns_forward_healthcheck_failures_total", up, 0.5 * (dns_fail > 0.05))
        rec.counter(
            pod,
            "coredns_cache_hits_total",
            {"server": "dns://:53", "type": "success", "zones": "."},
            qps * 0.7,
        )
        rec.counter(pod, "coredns_cache_misses_total", {"server": "dns://:53", "zones": "."}, qps * 0.3)

    # ---------------- blackbox_exporter probes (prometheus-blackbox-exporter chart's ServiceMonitor)
    for name, url in PROBES.items():
        key = "probe-" + name
        rec.target(
            key,
            {
                "job": "prometheus-blackbox-exporter",
                "service": "prometheus-blackbox-exporter",
                "namespace": "monitoring",
                "endpoint": "http",
                "pod": "prometheus-blackbox-exporter-7c9d8f6b5-x4k2m",
                "container": "blackbox-exporter",
                "instance": url,
                "target": name,
            },
            miss=0.005,
        )
        bad = expired if name == "psp-api" else np.zeros(n, bool)
        rec.gauge(key, "probe_success", {}, np.where(bad, 0.0, 1.0))
        rec.gauge(key, "probe_http_status_code", {}, np.where(bad, 0.0, 200.0))
        rec.gauge(key, "probe_duration_seconds", {}, np.where(bad, 0.04, 0.12) + np.abs(rec.noise(0.01)))
        rec.gauge(key, "probe_dns_lookup_time_seconds", {}, 0.002 + np.abs(rec.noise(0.0005)))
        notafter = cert_expiry if name == "psp-api" and cert_expiry is not None else START + 61 * 86400
        rec.gauge(key, "probe_ssl_earliest_cert_expiry", {}, np.full(n, notafter), alive=~bad)
        rec.gauge(key, "probe_http_ssl", {}, np.ones(n), alive=~bad)

    # ---------------- cAdvisor (kubelet) and kube-state-metrics for every pod
    for node, ip in NODES.items():
        kubelet_target(rec, node, ip)
    ksm_target(rec, KSM_INSTANCE, "6d5c8b9f7-p2x7c")
    for pod, (svc, cont, node, _, _) in PODS.items():
        if not shop.exists(pod):
            continue
        namespace = "kube-system" if pod in KUBE_SYSTEM else NAMESPACE
        version = "2.4.0" if pod in (CHECKOUT_NEW_A, CHECKOUT_NEW_B) else IMAGES.get(svc, "1.0.0")
        image = f"registry.local/shop/{svc}:{version}"
        lives = cart_lives if pod == CART else [(0, n)]
        live = shop.live(pod)
        mem_limit = float(MEMORY_LIMIT.get(svc, GiB))
        cpu_limit = CPU_LIMIT.get(svc)
        for k, life in enumerate(lives):
            alive = mask(n, life) & live
            cid = stable(f"{pod}/{k}", 12)
            lab = {
                "namespace": namespace,
                "pod": pod,
                "container": cont,
                "image": image,
                "name": f"k8s_{cont}_{pod}_{namespace}_{k}",
                "id": f"/kubepods/burstable/pod{pod[-5:]}/{cid}",
            }
            usage = demand[pod] if cpu_limit is None else np.minimum(demand[pod], cpu_limit)
            rate = np.where(alive, usage, 0.0)
            key = "kubelet-" + node
            rec.counter(
                key,
                "container_cpu_usage_seconds_total",
                lab | {"cpu": "total"},
                rate,
                whole=False,
                alive=alive,
            )
            ws = (
                cart_ws if pod == CART else 1.5e8 + 2e7 * (svc in ("checkout", "catalog-db")) + rec.noise(3e6)
            )
            rec.gauge(key, "container_memory_working_set_bytes", lab, ws, alive=alive)
            rec.gauge(key, "container_memory_rss", lab, ws * 0.9, alive=alive)
            started = float(rec.grid[life[0]]) if life[0] > 0 else _started(shop, pod)
            rec.gauge(key, "container_start_time_seconds", lab, np.full(n, started), alive=alive)
            if cpu_limit is not None:
                periods = 10 * np.clip(demand[pod] * 4, 0, 1)
                frac = throttled if pod == SEARCH else np.clip((demand[pod] / cpu_limit - 0.75) / 0.5, 0, 1)
                rec.counter(key, "container_cpu_cfs_periods_total", lab, periods, alive=alive)
                rec.counter(
                    key,
                    "container_cpu_cfs_throttled_periods_total",
                    lab,
                    periods * (0.01 + frac),
                    alive=alive,
                )
        uid = {"uid": uid_of(pod)}
        subject = {"namespace": namespace, "pod": pod, "container": cont} | uid
        restarts = np.zeros(n)
        for begin, _ in lives[1:]:
            restarts[begin:] += 1
        rec.add(
            "ksm", "kube_pod_container_status_restarts_total", subject, restarts, counter=True, alive=live
        )
        if len(lives) > 1:
            rec.gauge(
                "ksm",
                "kube_pod_container_status_last_terminated_reason",
                subject | {"reason": "OOMKilled"},
                np.ones(n),
                alive=live & (restarts > 0),
            )
        for resource, unit, value in (("memory", "byte", mem_limit), ("cpu", "core", cpu_limit)):
            if value is not None:
                rec.gauge(
                    "ksm",
                    "kube_pod_container_resource_limits",
                    subject | {"node": node, "resource": resource, "unit": unit},
                    np.full(n, value),
                    alive=live,
                )
        rec.gauge(
            "ksm",
            "kube_pod_container_info",
            subject
            | {"image": image, "image_spec": image, "container_id": "containerd://" + stable(pod, 12)},
            np.ones(n),
            alive=live,
        )
        start = {"namespace": namespace, "pod": pod} | uid
        rec.gauge("ksm", "kube_pod_start_time", start, np.full(n, _started(shop, pod)), alive=live)
    for dep in DEPLOYMENTS:
        rec.gauge(
            "ksm",
            "kube_deployment_metadata_generation",
            {"namespace": NAMESPACE, "deployment": dep},
            12 + np.round(added(f"gen.{dep}")),
        )
        rec.gauge(
            "ksm",
            "kube_deployment_status_observed_generation",
            {"namespace": NAMESPACE, "deployment": dep},
            12 + np.round(added(f"gen.{dep}")),
        )
        replicas = 2 if dep in ("checkout", "payments") else 1
        rec.gauge(
            "ksm",
            "kube_deployment_spec_replicas",
            {"namespace": NAMESPACE, "deployment": dep},
            replicas + np.round(added(f"replicas.{dep}")),
        )

    # ---------------- node-exporter (namespace monitoring, as kube-prometheus-stack labels it)
    for j, (node, ip) in enumerate(NODES.items()):
        key = node_exporter_target(rec, node, ip, f"{'fgh'[j]}m4q7").key
        nic = added(f"nic.{node}")
        busy = np.clip(node_demand[node] / CORES, 0, 0.985)
        for cpu in range(int(CORES)):
            for mode, r in (
                ("user", 0.8 * busy),
                ("system", 0.17 * busy),
                ("softirq", 0.01 + 0.03 * busy + 0.0001 * nic),
                ("iowait", np.full(n, 0.01)),
                ("steal", np.full(n, 0.002)),
                ("idle", 1 - busy - 0.022 - 0.03 * busy - 0.0001 * nic),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(r + rec.noise(0.005), 0, 1),
                    whole=False,
                )
        rec.gauge(key, "node_load1", {}, np.clip(node_demand[node] * 1.1 + rec.noise(0.2), 0, None))
        rec.counter(
            key,
            "node_pressure_cpu_waiting_seconds_total",
            {},
            0.005 + 0.5 * np.clip(node_demand[node] - 0.8 * CORES, 0, None),
            whole=False,
        )
        rec.gauge(key, "node_memory_MemAvailable_bytes", {}, 9e9 + rec.noise(5e7))
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(n, 16e9))
        mounts = [("/dev/nvme0n1p1", "xfs", "/", 8e10, 3.1e10)]
        if node == "ip-10-0-2-23":
            mounts.append(("/dev/nvme1n1", "ext4", DB_MOUNT, 2e11, 5e10))
        for device, fstype, mountpoint, size, avail in mounts:
            fs = {"device": device, "fstype": fstype, "mountpoint": mountpoint}
            free = np.clip(avail + rec.noise(5e7) - added(f"disk.{node}.{mountpoint}"), 0, None)
            rec.gauge(
                key,
                "node_filesystem_avail_bytes",
                fs,
                np.clip(free - 0.05 * size * (fstype == "ext4"), 0, None),
            )
            rec.gauge(key, "node_filesystem_free_bytes", fs, free)
            rec.gauge(key, "node_filesystem_size_bytes", fs, np.full(n, size))
            rec.gauge(key, "node_filesystem_readonly", fs, np.zeros(n))
        rec.counter(
            key, "node_disk_io_time_seconds_total", {"device": "nvme0n1"}, 0.05 + 0.03 * busy, whole=False
        )
        rec.counter(key, "node_disk_written_bytes_total", {"device": "nvme0n1"}, 2e6 + 1e6 * busy)
        eth0 = {"device": "eth0"}
        packets = 4000 + 9000 * busy
        rec.counter(key, "node_network_receive_bytes_total", eth0, packets * 900)
        rec.counter(key, "node_network_receive_packets_total", eth0, packets)
        rec.counter(key, "node_network_receive_errs_total", eth0, nic)
        rec.counter(key, "node_network_receive_drop_total", eth0, 0.02 + 0.5 * nic)
        rec.counter(key, "node_network_transmit_bytes_total", eth0, packets * 700)
        rec.counter(key, "node_netstat_Tcp_OutSegs", {}, packets * 0.9)
        rec.counter(key, "node_netstat_Tcp_RetransSegs", {}, 0.3 + 1.5 * nic)
    rec.up()
    return rec


def stable(text: str, digits: int) -> str:
    """Hex digits derived from `text` alone (`hash` is salted per process)."""
    return f"{zlib.crc32(text.encode()):08x}{zlib.crc32(text[::-1].encode()):08x}"[:digits]


def uid_of(pod: str) -> str:
    return f"{stable(pod, 8)}-5c1e-4b7a-9d2f-{stable(pod + '/uid', 12)}"


def queue(inflow: np.ndarray, capacity: np.ndarray | float) -> np.ndarray:
    """Messages waiting when `inflow` per second arrives and at most `capacity` per second is consumed."""
    out = np.empty(len(inflow))
    cap = np.broadcast_to(np.asarray(capacity, float), inflow.shape)
    waiting = 0.0
    for i, rate in enumerate(inflow):
        waiting = max(0.0, waiting + (rate - cap[i]) * 15.0)
        out[i] = waiting
    return out


def _started(shop: Shop, pod: str) -> float:
    return shop.at(f"start.{pod}") or START - 86400 * 2


# --- The scenarios ---------------------------------------------------------------------------------------

CHECKOUT = {"namespace": NAMESPACE, "service": "checkout"}
CHECKOUT_P99 = (
    "histogram_quantile(0.99, sum by (le, namespace, service) (rate(http_server_requests_seconds_bucket"
    '{namespace="shop", service="checkout", uri="/api/checkout"}[5m]))) > 1'
)
CHECKOUT_ERRORS = (
    'sum by (namespace, service) (rate(http_server_requests_seconds_count{namespace="shop", '
    'service="checkout", outcome="SERVER_ERROR"}[5m]))\n  / sum by (namespace, service) '
    '(rate(http_server_requests_seconds_count{namespace="shop", service="checkout"}[5m])) > 0.05'
)


def rollout(old: str, new: str, at: float) -> dict[str, Delta]:
    """A Deployment's rollout: the new pod from `at`, the old one gone 45 s later, the generation bumped,
    the new pod's start-up CPU."""
    return {
        f"start.{new}": at,
        f"stop.{old}": at + 45,
        f"gen.{PODS[new][0]}": ramp(at, 1, 1),
        f"cpu.{new}": burst(at, 0.4, 90),
    }


def _disk_full() -> Scenario:
    on = hms(14, 36)
    return Scenario(
        "disk_full_db",
        {
            f"disk.ip-10-0-2-23.{DB_MOUNT}": climb(on - 40 * 60, on, 4.02e10),
            "db.failing": ramp(on, 0.9, 45),
            **rollout(ADMIN_OLD, ADMIN_NEW, on - 120),
        },
        Alert(
            "PostgresqlHighRollbackRate",
            'sum by (namespace,datname) ((rate(pg_stat_database_xact_rollback{datname!~"template.*|postgres",'
            'datid!="0"}[3m])) / ((rate(pg_stat_database_xact_rollback{datname!~"template.*|postgres",'
            'datid!="0"}[3m])) + (rate(pg_stat_database_xact_commit{datname!~"template.*|postgres",'
            'datid!="0"}[3m])))) > 0.02',
            {"namespace": NAMESPACE, "datname": "catalog"},
            starts=on + 6 * 60,
            active=on + 3 * 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("ip-10-0-2-23",),
            (
                f'node_filesystem_avail_bytes{{mountpoint="{DB_MOUNT}"}}',
                f'node_filesystem_free_bytes{{mountpoint="{DB_MOUNT}"}}',
            ),
            f"catalog-db's volume {DB_MOUNT} on ip-10-0-2-23 full (avail 0 of 200 GB)",
            categories=("resource.disk",),
        ),
        build=build_shop,
    )


def _oom_leak() -> Scenario:
    leak_from = hms(14, 5)
    return Scenario(
        "oom_leak",
        {
            f"leak.{CART}": ramp(leak_from, 2.5e5, 300),
            **rollout(ADMIN_OLD, ADMIN_NEW, hms(14, 27)),
        },
        Alert(
            "KubernetesContainerOomKiller",
            "(kube_pod_container_status_restarts_total - kube_pod_container_status_restarts_total offset 10m"
            " >= 1) and ignoring (reason) min_over_time(kube_pod_container_status_last_terminated_reason"
            '{reason="OOMKilled"}[10m]) == 1',
            {
                "container": "cart",
                "endpoint": "http",
                "instance": KSM_INSTANCE,
                "job": KSM_JOB,
                "namespace": NAMESPACE,
                "pod": CART,
                "service": KSM_SERVICE,
                "uid": uid_of(CART),
            },
            starts=0.0,  # set from the data: a minute after the first OOM kill
            active=0.0,
            extra={"severity": "warning"},
        ),
        Truth(
            ("cart",),
            (
                "container_memory_working_set_bytes",
                "container_memory_rss",
                "nodejs_heap_size_used_bytes",
                "nodejs_heap_size_total_bytes",
                "process_resident_memory_bytes",
            ),
            "cart leaks ~250 kB/s to its 512 MiB limit, OOMKilled",
            {"container": "cart"},
            categories=("resource.memory",),
        ),
        build=build_shop,
    )


def _cpu_throttle() -> Scenario:
    on = NEWSLETTER + 4 * 60
    return Scenario(
        "cpu_throttle",
        {
            "cpucost.search": 2.4,  # yesterday's ranking model: 2.4x the CPU per query, under a 500m limit
            **rollout(ADMIN_OLD, ADMIN_NEW, NEWSLETTER + 60),
        },
        Alert(
            "SearchLatencyHigh",
            "histogram_quantile(0.99, sum by (le, namespace, service) "
            '(rate(http_request_duration_seconds_bucket{namespace="shop", service="search"}[5m]))) > 0.25',
            {"namespace": NAMESPACE, "service": "search"},
            starts=on + 4 * 60,
            active=on + 60,
            extra={"severity": "critical", "team": "search"},
        ),
        Truth(
            ("search",),
            ("container_cpu_cfs_throttled_periods_total", "container_cpu_usage_seconds_total"),
            "search throttled at its 500m CPU limit under the newsletter's traffic",
            categories=("resource.cpu", "resource.limits"),
        ),
        build=build_shop,
    )


def _noisy_neighbour() -> Scenario:
    on = hms(14, 42)
    return Scenario(
        "noisy_neighbour",
        {
            "cpu.thumbnailer": ramp(on, 3.6, 60),
            "thumbnails.published": burst(on - 60, 45, 600),
            **rollout(ADMIN_OLD, ADMIN_NEW, on + 60),
        },
        Alert(
            "CheckoutLatencyHigh",
            CHECKOUT_P99,
            CHECKOUT,
            starts=on + 6 * 60,
            active=on + 2 * 60,
            extra={"severity": "critical", "team": "checkout"},
        ),
        Truth(
            ("thumbnailer", "ip-10-0-2-22"),
            (
                "container_cpu_usage_seconds_total",
                "process_cpu_seconds_total",
                "node_cpu_seconds_total",
                "node_load1",
                "node_pressure_cpu_waiting_seconds_total",
            ),
            "thumbnailer (no CPU limit) takes 3.6 of ip-10-0-2-22's 4 cores from checkout's, catalog's pods",
            categories=("resource.cpu",),
        ),
        build=build_shop,
    )


def _nic_errors() -> Scenario:
    on = hms(14, 47)
    return Scenario(
        "nic_errors",
        {
            "nic.ip-10-0-2-21": ramp(on, 400, 60),
            **rollout(ADMIN_OLD, ADMIN_NEW, on - 90),
        },
        Alert(
            "CheckoutLatencyHigh",
            CHECKOUT_P99,
            CHECKOUT,
            starts=on + 6 * 60,
            active=on + 2 * 60,
            extra={"severity": "critical", "team": "checkout"},
        ),
        Truth(
            ("ip-10-0-2-21",),
            (
                "node_network_receive_errs_total",
                "node_network_receive_drop_total",
                "node_netstat_Tcp_RetransSegs",
            ),
            "eth0 of ip-10-0-2-21 drops packets (400 rx errors/s), TCP retransmits",
            categories=("network",),
        ),
        build=build_shop,
    )


def _dns_servfail() -> Scenario:
    on = hms(14, 39)
    return Scenario(
        "dns_servfail",
        {
            "dns.servfail": ramp(on, 0.4, 60),
            **rollout(ADMIN_OLD, ADMIN_NEW, on - 60),
        },
        Alert(
            "CheckoutErrorRatioHigh",
            CHECKOUT_ERRORS,
            CHECKOUT,
            starts=on + 6 * 60,
            active=on + 3 * 60,
            extra={"severity": "critical", "team": "checkout"},
        ),
        Truth(
            ("coredns",),
            (
                'coredns_dns_responses_total{rcode="SERVFAIL"}',
                "coredns_forward_healthcheck_failures_total",
                "coredns_forward_request_duration_seconds",
                "coredns_dns_request_duration_seconds",
            ),
            "CoreDNS' upstream 10.0.0.2 throttled: SERVFAIL for 40 % of external names",
            categories=("network", "dependency.service"),
        ),
        build=build_shop,
    )


def _bad_deploy() -> Scenario:
    on = hms(14, 44)
    return Scenario(
        "bad_deploy",
        {
            f"start.{CHECKOUT_NEW_A}": on,
            f"stop.{CHECKOUT_A}": on + 50,
            f"start.{CHECKOUT_NEW_B}": on + 50,
            f"stop.{CHECKOUT_B}": on + 100,
            "gen.checkout": ramp(on, 1, 1),
            f"err.{CHECKOUT_NEW_A}": 0.12,
            f"err.{CHECKOUT_NEW_B}": 0.12,
            # a config-only change a minute before: the HPA scales catalog from 1 to 2 replicas
            f"start.{CATALOG_NEW}": on - 60,
            "gen.catalog": ramp(on - 60, 1, 1),
            "replicas.catalog": ramp(on - 60, 1, 1),
        },
        Alert(
            "CheckoutErrorRatioHigh",
            CHECKOUT_ERRORS,
            CHECKOUT,
            starts=on + 6 * 60,
            active=on + 3 * 60,
            extra={"severity": "critical", "team": "checkout"},
        ),
        Truth(
            ("checkout",),
            (
                "kube_deployment_metadata_generation",
                "kube_deployment_status_observed_generation",
                "kube_pod_container_info",
                "kube_pod_start_time",
                "container_start_time_seconds",
                "process_start_time_seconds",
            ),
            "checkout 2.3.1 -> 2.4.0 (new ReplicaSet), 12 % of checkouts fail after it",
            categories=("change.deployment",),
        ),
        build=build_shop,
    )


def _cert_expired() -> Scenario:
    on = hms(14, 40)
    return Scenario(
        "cert_expired",
        {"cert.psp-api": on, **rollout(ADMIN_OLD, ADMIN_NEW, on - 90)},
        Alert(
            "PaymentsErrorRatioHigh",
            'sum by (namespace, service) (rate(http_request_duration_seconds_count{namespace="shop", '
            'service="payments", code=~"5.."}[5m]))\n  / sum by (namespace, service) '
            '(rate(http_request_duration_seconds_count{namespace="shop", service="payments"}[5m])) > 0.05',
            {"namespace": NAMESPACE, "service": "payments"},
            starts=on + 5 * 60,
            active=on + 60,
            extra={"severity": "critical", "team": "payments"},
        ),
        Truth(
            ("psp-api",),
            ("probe_success", "probe_http_status_code", "probe_ssl_earliest_cert_expiry", "probe_http_ssl"),
            "the payment provider's TLS certificate expired at 14:40 (blackbox probe fails)",
            categories=("dependency.service",),
        ),
        build=build_shop,
    )


def _slow_dependency() -> Scenario:
    on = hms(14, 50)
    return Scenario(
        "slow_dependency",
        {
            "lat.catalog": ramp(on, 0.12, 60),  # a flag turned catalog's product cache off
            "db.reads": ramp(on, 4, 60),
            "cpu.catalog": ramp(on, 0.3, 60),
            **rollout(ADMIN_OLD, ADMIN_NEW, on + 30),
        },
        Alert(
            "CheckoutLatencyHigh",
            CHECKOUT_P99,
            CHECKOUT,
            starts=on + 6 * 60,
            active=on + 2 * 60,
            extra={"severity": "critical", "team": "checkout"},
        ),
        Truth(
            ("catalog",),
            ("http_request_duration_seconds",),
            "catalog's /products/{id} median 17 ms -> 140 ms (its cache off), checkout calls it 3x",
            {"handler": "/products/{id}"},
            categories=("dependency.service",),
        ),
        build=build_shop,
    )


def _queue_stuck() -> Scenario:
    on = hms(14, 33)
    return Scenario(
        "queue_stuck",
        {"worker.stuck": on, **rollout(ADMIN_OLD, ADMIN_NEW, on - 60)},
        Alert(
            "RabbitmqTooManyReadyMessages",
            "sum(rabbitmq_queue_messages_ready) by (queue) > 1000",
            {"queue": "orders"},
            starts=on + 3 * 60,
            active=on + 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("order-worker",),
            (
                "worker_messages_processed_total",
                "worker_messages_inflight",
                "worker_message_processing_seconds",
            ),
            "order-worker deadlocked: 50 prefetched messages held, none processed",
        ),
        build=build_shop,
    )


def _first_oom(scenario: Scenario) -> Scenario:
    """The OOM alert fires a minute after the first kill the generator's leak reaches (active: the kill)."""
    shop = Shop(scenario.seed, scenario.inject)
    lives, _ = oom_lives(shop, CART, 1.8e8, float(MEMORY_LIMIT["cart"]))
    killed = float(shop.rec.grid[lives[1][0]])
    return active_from(scenario, killed, starts=killed + 60)


INFRA_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _disk_full(),
        _first_oom(_oom_leak()),
        _cpu_throttle(),
        _noisy_neighbour(),
        _nic_errors(),
        _dns_servfail(),
        _bad_deploy(),
        _cert_expired(),
        _slow_dependency(),
        _queue_stuck(),
    )
}
