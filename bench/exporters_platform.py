"""Ten incidents on a web/API platform, as real exporters write them (the fourth set of `bench.exporters`,
`--set platform`, written without reading the analyst; held out until session 54 measured it).

Namespace `web` on three 8-core workers, a kubeadm control plane of three 4-core nodes, 2026-12-04
11:00-16:00Z on the grid, targets and noise of `bench.exporters_data.Recording`. ingress-nginx (namespace
`ingress-nginx`, two controllers) routes six Ingresses: a Spring Boot `api` (two pods, Tomcat, HikariCP to
the `catalog-mysql` MySQL behind the `catalog-memcached` cache), a Go `accounts` on a MongoDB replica set
(`accounts-mongodb-0..2`), a Go `feed` on Cassandra (`feed-cassandra-0..2`), a Python `media-api`
(FastAPI) storing uploads in MinIO (`media-minio-0..3`, one drive each) and queuing thumbnails for Celery
workers, a `legacy` path through HAProxy to two VMs, and the Next.js `storefront` and the `cms`.

The exporters as a kube-prometheus-stack installation scrapes them: ingress-nginx's controller metrics
(`nginx_ingress_controller_requests{ingress,status,...}`, the Ingress' namespace and service renamed
`exported_namespace`, `exported_service` by the ServiceMonitor, no upstream pod), Micrometer
(`http_server_requests_seconds{uri,status,outcome,error,exception}`, `tomcat_threads_*`, `hikaricp_*`,
`jvm_*`), client_golang (`http_request_duration_seconds{handler,method,code}`, `go_*` with
`go_gc_duration_seconds` a summary), prometheus-fastapi-instrumentator (`http_requests_total{handler,
method,status="5xx"}`, a three-bucket `http_request_duration_seconds`), memcached_exporter and
mysqld_exporter as sidecars (the pod's `container` is the exporter's), Percona's mongodb_exporter
(`mongodb_ss_wt_cache_*`, `mongodb_ss_wt_concurrentTransactions_*{txn_rw}`, counters without `_total`),
Cassandra through the JMX exporter's example rules, names and label names lowercased as the example sets
them (`cassandra_table_pendingcompactions{table,keyspace}`, `cassandra_threadpools_pendingtasks{threadpools,
path}`, `cassandra_clientrequest_timeouts_count{type}`), HAProxy's built-in exporter (`haproxy_server_*{proxy,
server}`, `haproxy_server_status{state}`; a reload starts a new process and its counters from zero),
MinIO's v2 metrics (`minio_node_drive_*{server,drive}`, `minio_s3_requests_*{api}`), celery-exporter as a
Deployment of its own (`celery_queue_length{queue_name}`, `celery_worker_up{hostname}`: series about the
workers that belong to the exporter's pod), etcd and the kube-apiserver as kube-prometheus-stack's
ServiceMonitors scrape them (`job="kube-etcd"`, `job="apiserver"` without a pod), cAdvisor under the
kubelet's labels, kube-state-metrics with honorLabels and node-exporter in `monitoring`.

The unrelated movers: the day's traffic (a lunchtime hump, the US morning from 14:00Z); the hourly
`sitemap-builder` CronJob (`5 * * * *`, 2.2 cores for 7 or 9 minutes, crawling the api); a rollout of `cms` a
few minutes from each incident; in three scenarios the storefront's HPA scaling it from 2 to 3 replicas;
now and then an exporter target down for a minute. Each scenario's truth names the component whose series
carry the cause (a workload or a node), the cause's metric families and the label values that single out
its series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from bench.exporters_data import (
    DAY0,
    END,
    START,
    STEP,
    Delta,
    Injected,
    PodSpec,
    Recording,
    ksm_target,
    kubelet_target,
    node_exporter_target,
    service_monitor_labels,
)
from bench.exporters_infra import queue, reset_counters, stable, uid_of
from bench.exporters_scenarios import Alert, Scenario, Truth, burst, climb, hms, ramp

NAMESPACE = "web"
MASTERS = {"ip-10-0-0-11": "10.0.0.11", "ip-10-0-0-12": "10.0.0.12", "ip-10-0-0-13": "10.0.0.13"}
WORKERS = {"ip-10-0-4-41": "10.0.4.41", "ip-10-0-4-42": "10.0.4.42", "ip-10-0-4-43": "10.0.4.43"}
NODES = {**MASTERS, **WORKERS}
M11, M12, M13 = MASTERS
W41, W42, W43 = WORKERS
CORES = {**dict.fromkeys(MASTERS, 4.0), **dict.fromkeys(WORKERS, 8.0)}
INGRESS = ("ingress-nginx-controller-6f7d8c9b5-2kxqp", "ingress-nginx-controller-6f7d8c9b5-v7mzt")
API_A, API_B = "api-7c9f8d6b5-4hq2x", "api-7c9f8d6b5-n8w5r"
ACCOUNTS_A, ACCOUNTS_B = "accounts-6b8d7f9c4-m3k7t", "accounts-6b8d7f9c4-z2p9v"
FEED_A, FEED_B = "feed-5d9c8b7f6-q4r8n", "feed-5d9c8b7f6-w6t3j"
MEDIA = "media-api-7f8b9c6d5-k9x2m"
WORKERS_CELERY = tuple(f"celery-worker-6d7c8b9f5-{s}" for s in ("b4k7n", "h2x9q", "p6m3w", "t8r5z"))
CELERY_EXPORTER = "celery-exporter-5b6c7d8f9-t4n2k"
MEMCACHED_OLD = ("catalog-memcached-7b8c9d6f5-h2j4k", "catalog-memcached-7b8c9d6f5-r5t7w")
MEMCACHED_NEW = ("catalog-memcached-6c9d8f7b4-b3n6m", "catalog-memcached-6c9d8f7b4-x8v2q")
MYSQL = "catalog-mysql-0"
MONGO = ("accounts-mongodb-0", "accounts-mongodb-1", "accounts-mongodb-2")
CASSANDRA = ("feed-cassandra-0", "feed-cassandra-1", "feed-cassandra-2")
HAPROXY = "legacy-haproxy-5c8d9b7f6-p7q3z"
MINIO = ("media-minio-0", "media-minio-1", "media-minio-2", "media-minio-3")
STOREFRONT = ("storefront-6c7b8d9f5-d5g8k", "storefront-6c7b8d9f5-l3q7v")
STOREFRONT_NEW = "storefront-6c7b8d9f5-r9w2c"  # the HPA's third replica
CMS_OLD, CMS_NEW = "cms-5f6d7c8b9-g4h8k", "cms-7d8c9b6f5-s2w9p"
ETCD = {m: f"etcd-{m}" for m in MASTERS}
APISERVER = {m: f"kube-apiserver-{m}" for m in MASTERS}
# pod: (workload/service, container, node, ip, port)
PODS: dict[str, PodSpec] = {
    INGRESS[0]: ("ingress-nginx-controller", "controller", W41, "10.48.1.10", 10254),
    INGRESS[1]: ("ingress-nginx-controller", "controller", W42, "10.48.2.10", 10254),
    API_A: ("api", "api", W41, "10.48.1.21", 8080),
    API_B: ("api", "api", W42, "10.48.2.21", 8080),
    ACCOUNTS_A: ("accounts", "accounts", W41, "10.48.1.31", 8080),
    ACCOUNTS_B: ("accounts", "accounts", W42, "10.48.2.31", 8080),
    FEED_A: ("feed", "feed", W41, "10.48.1.41", 8080),
    FEED_B: ("feed", "feed", W43, "10.48.3.41", 8080),
    MEDIA: ("media-api", "media-api", W41, "10.48.1.51", 8000),
    WORKERS_CELERY[0]: ("celery-worker", "worker", W41, "10.48.1.61", 0),
    WORKERS_CELERY[1]: ("celery-worker", "worker", W42, "10.48.2.61", 0),
    WORKERS_CELERY[2]: ("celery-worker", "worker", W43, "10.48.3.61", 0),
    WORKERS_CELERY[3]: ("celery-worker", "worker", W43, "10.48.3.62", 0),
    CELERY_EXPORTER: ("celery-exporter", "celery-exporter", W42, "10.48.2.65", 9808),
    MEMCACHED_OLD[0]: ("catalog-memcached", "memcached", W41, "10.48.1.71", 9150),
    MEMCACHED_OLD[1]: ("catalog-memcached", "memcached", W42, "10.48.2.71", 9150),
    MEMCACHED_NEW[0]: ("catalog-memcached", "memcached", W41, "10.48.1.77", 9150),
    MEMCACHED_NEW[1]: ("catalog-memcached", "memcached", W43, "10.48.3.77", 9150),
    MYSQL: ("catalog-mysql", "mysql", W42, "10.48.2.80", 9104),
    MONGO[0]: ("accounts-mongodb", "mongodb", W41, "10.48.1.90", 9216),
    MONGO[1]: ("accounts-mongodb", "mongodb", W42, "10.48.2.90", 9216),
    MONGO[2]: ("accounts-mongodb", "mongodb", W43, "10.48.3.90", 9216),
    CASSANDRA[0]: ("feed-cassandra", "cassandra", W41, "10.48.1.100", 7070),
    CASSANDRA[1]: ("feed-cassandra", "cassandra", W42, "10.48.2.100", 7070),
    CASSANDRA[2]: ("feed-cassandra", "cassandra", W43, "10.48.3.100", 7070),
    HAPROXY: ("legacy-haproxy", "haproxy", W42, "10.48.2.110", 8405),
    MINIO[0]: ("media-minio", "minio", W41, "10.48.1.120", 9000),
    MINIO[1]: ("media-minio", "minio", W42, "10.48.2.120", 9000),
    MINIO[2]: ("media-minio", "minio", W43, "10.48.3.120", 9000),
    MINIO[3]: ("media-minio", "minio", W41, "10.48.1.121", 9000),
    STOREFRONT[0]: ("storefront", "storefront", W41, "10.48.1.130", 3000),
    STOREFRONT[1]: ("storefront", "storefront", W43, "10.48.3.130", 3000),
    STOREFRONT_NEW: ("storefront", "storefront", W42, "10.48.2.131", 3000),
    CMS_OLD: ("cms", "cms", W43, "10.48.3.140", 3000),
    CMS_NEW: ("cms", "cms", W43, "10.48.3.141", 3000),
    **{pod: ("etcd", "etcd", m, MASTERS[m], 2381) for m, pod in ETCD.items()},
    **{pod: ("kube-apiserver", "kube-apiserver", m, MASTERS[m], 6443) for m, pod in APISERVER.items()},
}
# The sitemap-builder CronJob (`5 * * * *`): a Job and its pod per run, named after the scheduled minute,
# 7 or 9 minutes of 2.2 cores on the workers in turn; it crawls the api. No Service scrapes it.
SITEMAP_RUNS: dict[str, tuple[float, float]] = {}  # pod: (started, finished)
for _k, _minute in enumerate(range(int(START // 60) + 5, int(END // 60), 60)):
    _pod = f"sitemap-builder-{_minute}-{'cdfghjkmnpqrstvwxz'[_k * 5 % 18]}{_k * 7 % 10}s{_k * 3 % 10}m"
    _node = (W41, W43, W42)[_k % 3]
    PODS[_pod] = ("sitemap-builder", "sitemap", _node, f"10.48.{_node[-1]}.{150 + _k}", 0)
    SITEMAP_RUNS[_pod] = (_minute * 60 + 6.0, _minute * 60 + 6.0 + 60.0 * (7 + _k * 2 % 4))
LATER = {*MEMCACHED_NEW, STOREFRONT_NEW, CMS_NEW}  # exist only once a scenario starts them
NAMESPACES = {
    **dict.fromkeys(INGRESS, "ingress-nginx"),
    **dict.fromkeys([*ETCD.values(), *APISERVER.values()], "kube-system"),
}
DEPLOYMENTS = {  # name: (namespace, replicas)
    "ingress-nginx-controller": ("ingress-nginx", 2),
    "api": (NAMESPACE, 2),
    "accounts": (NAMESPACE, 2),
    "feed": (NAMESPACE, 2),
    "media-api": (NAMESPACE, 1),
    "celery-worker": (NAMESPACE, 4),
    "celery-exporter": (NAMESPACE, 1),
    "catalog-memcached": (NAMESPACE, 2),
    "legacy-haproxy": (NAMESPACE, 1),
    "storefront": (NAMESPACE, 2),
    "cms": (NAMESPACE, 1),
}
IMAGES = {
    "ingress-nginx-controller": "registry.k8s.io/ingress-nginx/controller:v1.11.3",
    "catalog-memcached": "bitnami/memcached:1.6.32",
    "catalog-mysql": "bitnami/mysql:8.0.40",
    "accounts-mongodb": "bitnami/mongodb:7.0.15",
    "feed-cassandra": "cassandra:4.1.7",
    "legacy-haproxy": "haproxy:2.8.11",
    "media-minio": "quay.io/minio/minio:RELEASE.2024-10-13T13-34-11Z",
    "etcd": "registry.k8s.io/etcd:3.5.15-0",
    "kube-apiserver": "registry.k8s.io/kube-apiserver:v1.30.6",
}
EXPORTER_CONTAINER = {  # a sidecar exposes the pod's metrics: the scrape's `container` is its own
    "catalog-memcached": "metrics",
    "catalog-mysql": "mysqld-exporter",
    "accounts-mongodb": "metrics",
}
CPU_LIMIT = {  # cores; sitemap-builder, the control plane and the databases' own have none
    "api": 2.0,
    "accounts": 1.0,
    "feed": 1.0,
    "media-api": 1.0,
    "celery-worker": 1.0,
    "catalog-memcached": 1.0,
    "legacy-haproxy": 1.0,
    "storefront": 1.0,
    "cms": 0.5,
}
GiB = float(2**30)
MiB = float(2**20)
MEMORY_LIMIT = {  # bytes; 512 MiB for the others
    "api": 3 * GiB,
    "accounts": 1 * GiB,
    "catalog-memcached": 2.5 * GiB,
    "catalog-mysql": 8 * GiB,
    "accounts-mongodb": 6 * GiB,
    "feed-cassandra": 16 * GiB,
    "media-minio": 4 * GiB,
    "celery-worker": 1.5 * GiB,
    "etcd": 4 * GiB,
    "kube-apiserver": 6 * GiB,
    "sitemap-builder": 2 * GiB,
}
KSM_INSTANCE = "10.48.2.4:8080"
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
NGINX_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
APISERVER_BUCKETS = (
    0.005,
    0.025,
    0.05,
    0.1,
    0.2,
    0.4,
    0.6,
    0.8,
    1,
    1.25,
    1.5,
    2,
    3,
    4,
    5,
    6,
    8,
    10,
    15,
    20,
    30,
    60,
)
ETCD_BUCKETS = tuple(0.001 * 2**k for k in range(14))  # 1 ms .. 8.192 s, etcd's own
INGRESSES = {  # ingress: (host, backend service, requests/s at traffic 1)
    "storefront": ("www.example.shop", "storefront", 220.0),
    "api": ("api.example.shop", "api", 120.0),
    "accounts": ("accounts.example.shop", "accounts", 70.0),
    "feed": ("api.example.shop", "feed", 55.0),
    "media": ("media.example.shop", "media-api", 6.0),
    "legacy": ("legacy.example.shop", "legacy-haproxy", 24.0),
}
TOMCAT_MAX_THREADS = 200.0
MEMCACHED_LIMIT = 2048 * MiB  # per pod, `-m 2048`
CATALOG_WORKING_SET = 1.7 * GiB  # the catalog's hot keys, spread over the servers
ITEM_BYTES = 16e3  # a cached product (its JSON)
MYSQL_CAPACITY = 190.0  # SELECTs/s the catalog's buffer pool serves before it queues
GOMEMLIMIT = 900 * MiB
CONNTRACK_MAX = 262144.0
CELERY_CONCURRENCY = 6.0  # tasks at once per worker, each ~1 s


def traffic_curve(rec: Recording) -> np.ndarray:
    """The platform's load: a lunchtime hump at 12:30 and the US morning from 14:00 (1.3x by 16:00)."""
    hours = (rec.grid - DAY0) / 3600.0
    lunch = 0.2 * np.exp(-(((hours - 12.5) / 0.55) ** 2))
    us = 0.45 / (1 + np.exp(-(hours - 14.6) / 0.4))
    return 0.85 + lunch + us


# --- Pods and what the scenario injects -------------------------------------------------------------------


class Web(Injected):
    """The platform's pods and what the scenario injects: which pods exist when, which targets are down."""

    def __init__(self, seed: int, inject: Mapping[str, Delta]) -> None:
        super().__init__(Recording(seed, PODS, NODES), inject)
        self.traffic = traffic_curve(self.rec)
        self.exists = {pod: self._existence(pod) for pod in PODS}
        self.down: dict[str, np.ndarray] = {}

    def noise(self, sd: float, ar: float = 0.6) -> np.ndarray:
        """AR(1) noise of standard deviation `sd`, as `Recording.noise` draws it but filtered in one pass."""
        return np.asarray(lfilter([math.sqrt(1 - ar * ar)], [1.0, -ar], self.rec.rng.normal(0, sd, self.n)))

    def index(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.grid, t), 0, self.n))

    def _existence(self, pod: str) -> np.ndarray:
        start, stop = SITEMAP_RUNS.get(pod) or (self.at(f"start.{pod}"), self.at(f"stop.{pod}"))
        if pod in LATER and start is None:
            return np.zeros(self.n, bool)
        alive = np.ones(self.n, bool)
        if start is not None:
            alive &= self.grid >= start
        if stop is not None:
            alive &= self.grid < stop
        return alive

    def started(self, pod: str) -> float:
        start = SITEMAP_RUNS.get(pod, (None,))[0] or self.at(f"start.{pod}")
        return start if start is not None else START - 86400 * 2 - 3600 * (len(pod) % 9)

    def live(self, pods: tuple[str, ...] | list[str]) -> list[str]:
        return [pod for pod in pods if self.exists[pod].any()]

    def share(self, pods: tuple[str, ...] | list[str]) -> dict[str, np.ndarray]:
        """Each pod's share of its service's traffic (the existing ones split it)."""
        live = {p: self.exists[p].astype(float) for p in pods}
        total = np.maximum(np.sum(list(live.values()), axis=0), 1.0)
        return {p: v / total for p, v in live.items()}

    def scrape(self, key: str, labels: Mapping[str, str], miss: float = 0.01, subject: str = "") -> None:
        """The pod's scrape target, listed while the pod exists; down (`up` 0) for the minute injected as
        `down.<key>`."""
        alive = self.exists.get(key)
        target = self.rec.target(key, labels, miss=miss, alive=alive, subject=subject)
        if (when := self.at(f"down.{key}")) is not None:
            down = (self.grid >= when) & (self.grid < when + 60.0)
            target.keep[down] = False
            self.down[key] = down


def monitor_labels(pod: str, endpoint: str, service: str | None = None) -> dict[str, str]:
    """What a ServiceMonitor of the pod's Service gives its scrapes (a sidecar exporter: its container)."""
    workload, container = PODS[pod][0], PODS[pod][1]
    namespace = NAMESPACES.get(pod, NAMESPACE)
    container = EXPORTER_CONTAINER.get(workload, container)
    return service_monitor_labels(namespace, pod, PODS[pod], service or workload, endpoint, container)


# --- What happens: each scenario's cause and what it does downstream -------------------------------------


@dataclass
class Effects:
    """The platform over the grid (pure numbers; the exporters below write them)."""

    sitemap: np.ndarray  # 0/1: a sitemap-builder run crawls the api
    api_rps: np.ndarray  # requests/s through the api ingress
    api_share: dict[str, np.ndarray]
    api_latency: dict[str, np.ndarray]  # median seconds of each api pod's own work
    blocked: dict[str, np.ndarray]  # 0..1 of an api pod's Tomcat threads deadlocked
    connect_fail: dict[str, np.ndarray]  # share of new connections from/to a pod dropped (conntrack)
    memcached_limit: dict[str, float]
    memcached_miss: np.ndarray  # the api's catalog reads missing the cache
    memcached_pod_miss: dict[str, np.ndarray]  # each memcached pod's get misses
    memcached_fill: dict[str, np.ndarray]  # bytes stored per memcached pod
    memcached_evictions: dict[str, np.ndarray]
    mysql_qps: np.ndarray
    mysql_latency: np.ndarray
    mongo: np.ndarray  # 0..1 WiredTiger cache pressure on the primary
    accounts_store: np.ndarray  # median seconds of a MongoDB op from accounts
    leak: dict[str, np.ndarray]  # leaked goroutines per accounts pod
    heap: dict[str, np.ndarray]  # live heap bytes per accounts pod
    gc: dict[str, np.ndarray]  # 0..1: GC thrashing at GOMEMLIMIT
    accounts_latency: dict[str, np.ndarray]
    compaction: np.ndarray  # 0..1 feed-cassandra-1's compaction backlog
    feed_errors: np.ndarray
    feed_latency: np.ndarray
    reload: float | None  # HAProxy reloaded its config
    legacy2_down: np.ndarray  # bool
    legacy_latency: np.ndarray
    legacy_errors: np.ndarray  # share of be_legacy's responses 5xx
    drive: np.ndarray  # 0..1 media-minio-2's drive hanging
    drive_offline: np.ndarray  # 0/1 MinIO has it offline (it flaps)
    upload_errors: np.ndarray
    upload_latency: np.ndarray
    celery_capacity: np.ndarray  # tasks/s the workers take
    celery_in: np.ndarray
    celery_backlog: np.ndarray
    conntrack_limit: dict[str, np.ndarray]
    conntrack_entries: dict[str, np.ndarray]
    conntrack_drops: dict[str, np.ndarray]
    disk: dict[str, np.ndarray]  # 0..1 a node's disk saturated (out of burst credits)
    fsync: dict[str, np.ndarray]  # etcd member's WAL fsync median, seconds
    leader: np.ndarray  # index of the etcd leader among MASTERS
    apiserver_write: dict[str, np.ndarray]  # median seconds of a mutating request per apiserver


def simulate(w: Web) -> Effects:
    n, t, g, noise = w.n, w.traffic, w.grid, w.noise
    sitemap = np.zeros(n)
    for pod in SITEMAP_RUNS:
        sitemap = np.maximum(sitemap, w.exists[pod].astype(float))
    api_rps = INGRESSES["api"][2] * t * (1 + 0.35 * sitemap)
    api_share = w.share([API_A, API_B])

    # ---- conntrack: a node's table limit lowered below its entries drops new connections
    limit, entries, drops, fail = {}, {}, {}, {}
    for k, node in enumerate(WORKERS):
        lowered = w.at(f"conntrack.limit.{node}")
        lim = (
            np.where(g >= lowered, 65536.0, CONNTRACK_MAX)
            if lowered is not None
            else np.full(n, CONNTRACK_MAX)
        )
        want = 52000.0 + 21000.0 * t + 2000 * k + noise(900)
        limit[node] = lim
        entries[node] = np.round(np.minimum(want, lim))
        over = np.clip(want - lim, 0, None)
        drops[node] = over / 60.0  # new flows per second that find the table full
        fail[node] = np.clip(over / np.maximum(want, 1), 0, 1)
    connect_fail = {pod: fail[spec[2]] for pod, spec in PODS.items() if spec[2] in WORKERS}

    # ---- the catalog cache: a lowered `-m` comes with new pods (a cold cache), then evicts
    new_limit = w.at("memcached.limit")
    cache_pods = w.live([*MEMCACHED_OLD, *MEMCACHED_NEW])
    cache_share = w.share(cache_pods)
    mem_limit = {
        pod: (new_limit if pod in MEMCACHED_NEW and new_limit else MEMCACHED_LIMIT) for pod in cache_pods
    }
    miss_of, fill, evictions = {}, {}, {}
    reads = 3.0 * api_rps
    for pod in cache_pods:
        since = np.clip(g - w.started(pod), 0, None)
        wanted = CATALOG_WORKING_SET * cache_share[pod] * (1 + 0.02 * noise(1))
        fits = np.clip(mem_limit[pod] / np.maximum(wanted, 1), 0, 1)
        steady = 0.035 + 0.9 * (1 - fits) ** 1.3
        miss_of[pod] = np.clip(steady + (1 - steady) * np.exp(-since / 150.0), 0, 1) * w.exists[pod]
        stored = np.minimum(
            np.minimum(wanted, mem_limit[pod]), ITEM_BYTES * np.cumsum(reads * miss_of[pod] * STEP / 2)
        )
        fill[pod] = np.where(w.exists[pod], stored, 0.0)
        sets = reads * cache_share[pod] * miss_of[pod]
        evictions[pod] = np.where(stored >= mem_limit[pod] * 0.999, sets * 0.97, 0.0)
    miss = np.clip(sum(miss_of[p] * cache_share[p] for p in cache_pods), 0, 1)
    mysql_qps = reads * miss + 4 + 3 * sitemap
    mysql_latency = 0.004 / np.clip(1 - mysql_qps / MYSQL_CAPACITY, 0.02, 1) * np.exp(noise(0.04))

    # ---- the api's pods: their own work, the catalog, a deadlock, a node that drops connections
    blocked = {pod: np.clip(w.added(f"deadlock.{pod}"), 0, 1) for pod in (API_A, API_B)}
    api_latency = {
        pod: 0.028 * (1 + 0.12 * t) * np.exp(noise(0.03))
        + 3 * (miss * mysql_latency + (1 - miss) * 0.0007)
        + 2.5 * connect_fail[pod]
        for pod in (API_A, API_B)
    }

    # ---- accounts and MongoDB: the primary's cache pressure, a goroutine leak near GOMEMLIMIT
    mongo = np.clip(w.added("mongo.pressure"), 0, 1)
    accounts_store = 0.0025 * (1 + 0.1 * t) + 0.09 * mongo**1.5 * np.exp(noise(0.05))
    leak, heap, gc, accounts_latency = {}, {}, {}, {}
    for pod in (ACCOUNTS_A, ACCOUNTS_B):
        leaked = np.cumsum(np.clip(w.added(f"leak.{pod}"), 0, None) * STEP)
        leak[pod] = leaked
        heap[pod] = 1.4e8 + 2.2e7 * t + 1.62e4 * leaked + noise(3e6)
        gc[pod] = np.clip((heap[pod] - 0.78 * GOMEMLIMIT) / (0.2 * GOMEMLIMIT), 0, 1)
        accounts_latency[pod] = (0.009 + 2 * accounts_store) * (1 + 7 * gc[pod] ** 1.5) * np.exp(noise(0.03))

    # ---- feed and Cassandra: feed-cassandra-1's compactions fall behind, reads it takes part in slow down
    compaction = np.clip(w.added("cassandra.backlog"), 0, 1)
    feed_errors = 0.001 + 0.09 * compaction**1.3
    feed_latency = 0.018 * (1 + 0.1 * t) + 0.35 * compaction**1.3

    # ---- legacy: HAProxy reloads; legacy-2's new check port fails, legacy-1 takes everything
    reload = w.at("haproxy.reload")
    legacy2_down = g >= reload + 8.0 if reload is not None else np.zeros(n, bool)
    legacy_rps = INGRESSES["legacy"][2] * t
    per_server = np.where(legacy2_down, legacy_rps, legacy_rps / 2)
    over = np.clip(per_server / 19.0 - 1, 0, None)  # legacy-1 serves ~19/s before it queues
    legacy_latency = 0.09 * (1 + 0.1 * t) * (1 + 30 * over) * np.exp(noise(0.04))
    legacy_errors = np.clip(0.002 + 0.9 * over, 0, 0.5)

    # ---- media uploads and MinIO: media-minio-2's drive hangs, MinIO marks it offline and back
    drive = np.clip(w.added("minio.drive"), 0, 1)
    flap = ((g - START) % 170.0) < 110.0
    drive_offline = ((drive > 0.5) & flap).astype(float)
    upload_errors = 0.003 + 0.22 * drive * (1 - 0.5 * drive_offline)
    upload_latency = 0.35 * (1 + 0.1 * t) * (1 + 12 * drive * (1 - 0.6 * drive_offline)) * np.exp(noise(0.05))

    # ---- thumbnails: queued per upload and per CMS image, Celery workers take them
    celery_in = (8.0 * t + 2.0 * np.sin((g - START) / 1300.0)) * np.exp(noise(0.05))
    workers = np.sum([w.exists[p].astype(float) for p in WORKERS_CELERY], axis=0)
    celery_capacity = workers * CELERY_CONCURRENCY / 1.0 * 0.95
    celery_backlog = queue(celery_in, celery_capacity)

    # ---- the control plane: a node's disk out of burst credits slows its etcd member's fsyncs
    disk = {node: np.clip(w.added(f"disk.{node}"), 0, 1) for node in NODES}
    fsync = {m: 0.0035 * np.exp(noise(0.08)) + 0.55 * disk[m] ** 1.2 for m in MASTERS}
    leader = np.full(n, 1.0)  # etcd-ip-10-0-0-12 leads
    if (moved := w.at("etcd.leader_moved")) is not None:
        leader[g >= moved] = 0.0
    lead_fsync = np.choose(leader.astype(int), [fsync[M11], fsync[M12], fsync[M13]])
    apiserver_write = {}
    for k, m in enumerate(MASTERS):
        own = fsync[m]  # its own member applies writes at its disk's pace (kubeadm: a local etcd)
        apiserver_write[m] = 0.012 * np.exp(noise(0.05)) + 2.2 * lead_fsync + 1.6 * own + 0.003 * k
    return Effects(
        sitemap,
        api_rps,
        api_share,
        api_latency,
        blocked,
        connect_fail,
        {pod: float(v) for pod, v in mem_limit.items()},
        miss,
        miss_of,
        fill,
        evictions,
        mysql_qps,
        mysql_latency,
        mongo,
        accounts_store,
        leak,
        heap,
        gc,
        accounts_latency,
        compaction,
        feed_errors,
        feed_latency,
        reload,
        legacy2_down,
        legacy_latency,
        legacy_errors,
        drive,
        drive_offline,
        upload_errors,
        upload_latency,
        celery_capacity,
        celery_in,
        celery_backlog,
        limit,
        entries,
        drops,
        disk,
        fsync,
        leader,
        apiserver_write,
    )


# --- The exporters ------------------------------------------------------------------------------------------


def ingress_outcomes(
    w: Web, e: Effects, controller: str
) -> dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]]:
    """Per Ingress, as one controller sees it: requests/s, the median upstream seconds of its successes, the
    share of each 5xx. A controller on a node that drops new connections fails its own upstream connects
    (proxy_connect_timeout, 5 s; most retried, some 502) to every backend."""
    t, n = w.traffic, w.n
    edge = e.connect_fail[controller]
    out: dict[str, tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]] = {}
    # api: a deadlocked pod's requests wait for proxy_read_timeout (60 s), then 504; a pod on a node that
    # drops new connections cannot be connected to
    api = (API_A, API_B)
    stalled = np.sum([e.api_share[p] * np.clip((e.blocked[p] - 0.9) / 0.1, 0, 1) for p in api], axis=0)
    stuck = np.concatenate([np.zeros(4), stalled[:-4]])  # answered 60 s after they arrived
    refused = np.clip(np.sum([e.api_share[p] * e.connect_fail[p] for p in api], axis=0) + edge, 0, 1)
    ok_latency = np.sum([e.api_share[p] * e.api_latency[p] for p in api], axis=0) + 3.0 * refused
    out["api"] = (e.api_rps, ok_latency, {"504": stuck, "502": 0.35 * refused})
    accounts = (e.accounts_latency[ACCOUNTS_A] + e.accounts_latency[ACCOUNTS_B]) / 2
    out["accounts"] = (INGRESSES["accounts"][2] * t, accounts, {"500": np.full(n, 0.0005)})
    out["feed"] = (INGRESSES["feed"][2] * t, e.feed_latency, {"500": e.feed_errors})
    out["media"] = (INGRESSES["media"][2] * t, e.upload_latency * 0.6 + 0.02, {"500": e.upload_errors * 0.5})
    legacy = {"504": e.legacy_errors * 0.8, "503": e.legacy_errors * 0.2}
    out["legacy"] = (INGRESSES["legacy"][2] * t, e.legacy_latency, legacy)
    out["storefront"] = (INGRESSES["storefront"][2] * t, 0.06 + 0.5 * ok_latency, {"500": np.full(n, 0.0003)})
    for ingress, (rps, latency, errors) in out.items():
        if ingress != "api":
            out[ingress] = (rps, latency + 3.0 * edge, errors | {"502": 0.35 * edge})
    return out


def write_ingress_nginx(w: Web, e: Effects) -> None:
    """ingress-nginx's controllers (the chart's ServiceMonitor: the Ingress' own namespace and service
    labels renamed `exported_*`), each taking half the requests."""
    rec = w.rec
    for pod in INGRESS:
        outcomes = ingress_outcomes(w, e, pod)
        w.scrape(pod, monitor_labels(pod, "metrics", "ingress-nginx-controller-metrics"))
        base = {
            "controller_class": "k8s.io/ingress-nginx",
            "controller_namespace": "ingress-nginx",
            "controller_pod": pod,
            "canary": "",
            "method": "GET",
            "path": "/",
        }
        for ingress, (host, service, _) in INGRESSES.items():
            rps, latency, errors = outcomes[ingress]
            half = rps / 2
            labels = base | {"ingress": ingress, "host": host, "exported_namespace": NAMESPACE}
            labels |= {"exported_service": service}
            bad = np.sum(list(errors.values()), axis=0)
            shares = {"404": np.full(w.n, 0.012), "499": np.full(w.n, 0.004), **errors}
            shares["200"] = np.clip(1 - bad - 0.016, 0, 1)
            for status in ("200", "404", "499", "500", "502", "503", "504"):
                rec.counter(
                    pod,
                    "nginx_ingress_controller_requests",
                    labels | {"status": status},
                    half * np.clip(shares.get(status, np.zeros(w.n)), 0, 1),
                )
            rec.histogram(
                pod,
                "nginx_ingress_controller_request_duration_seconds",
                labels | {"status": "200"},
                half * shares["200"],
                latency * 1.05 + 0.001,
                sigma=0.55,
                buckets=NGINX_BUCKETS,
            )
            slowest = max(errors, key=lambda code: float(np.max(errors[code])))
            timeout = 60.0 if slowest == "504" else 0.4
            rec.histogram(
                pod,
                "nginx_ingress_controller_request_duration_seconds",
                labels | {"status": slowest},
                half * errors[slowest],
                np.full(w.n, timeout),
                sigma=0.05,
                buckets=NGINX_BUCKETS,
            )
        rec.gauge(
            pod,
            "nginx_ingress_controller_nginx_process_connections",
            {"state": "active"},
            900 * w.traffic + w.noise(20),
        )
        rec.gauge(pod, "nginx_ingress_controller_config_last_reload_successful", {}, np.ones(w.n))
        rec.counter(
            pod,
            "nginx_ingress_controller_nginx_process_cpu_seconds_total",
            {},
            0.3 + 0.35 * w.traffic,
            whole=False,
        )


def write_api(w: Web, e: Effects) -> None:
    """The api's pods (Spring Boot 3, Micrometer): HTTP server timings, Tomcat's pool, HikariCP, the JVM."""
    rec, n, t = w.rec, w.n, w.traffic
    for pod in (API_A, API_B):
        w.scrape(pod, monitor_labels(pod, "http"))
        rps = e.api_rps * e.api_share[pod]
        jammed = np.clip((e.blocked[pod] - 0.9) / 0.1, 0, 1)  # no thread left: nothing completes
        served = rps * (1 - jammed)
        latency = e.api_latency[pod]
        for uri, part in (("/api/v1/products/{id}", 0.7), ("/api/v1/cart", 0.3)):
            for status, outcome, share in (("200", "SUCCESS", 0.999), ("500", "SERVER_ERROR", 0.001)):
                rec.histogram(
                    pod,
                    "http_server_requests_seconds",
                    {
                        "error": "none",
                        "exception": "none" if status == "200" else "DataAccessResourceFailureException",
                        "method": "GET",
                        "outcome": outcome,
                        "status": status,
                        "uri": uri,
                    },
                    served * part * share,
                    latency * (1.3 if uri.endswith("cart") else 1.0),
                    sigma=0.45,
                    buckets=HTTP_BUCKETS,
                )
        working = np.clip(rps * latency + np.abs(w.noise(1.5)), 1, None)
        busy = np.clip(np.maximum(working, TOMCAT_MAX_THREADS * e.blocked[pod]), 0, TOMCAT_MAX_THREADS)
        tomcat = {"name": "http-nio-8080"}
        rec.gauge(pod, "tomcat_threads_busy_threads", tomcat, np.round(busy))
        rec.gauge(pod, "tomcat_threads_current_threads", tomcat, np.round(np.maximum(busy + 8, 10)))
        rec.gauge(pod, "tomcat_threads_config_max_threads", tomcat, np.full(n, TOMCAT_MAX_THREADS))
        waiting = np.cumsum(rps * jammed * STEP)
        conns = np.clip(40 + 0.6 * rps + w.noise(3) + np.minimum(waiting, 8000), 0, 8192)
        rec.gauge(pod, "tomcat_connections_current_connections", tomcat, np.round(conns))
        rec.gauge(pod, "tomcat_connections_config_max_connections", tomcat, np.full(n, 8192.0))
        blocked_threads = np.round(TOMCAT_MAX_THREADS * e.blocked[pod] * 0.97 + np.abs(w.noise(0.6)))
        for state, count in (
            ("runnable", 14 + 0.2 * busy * (1 - e.blocked[pod])),
            ("blocked", blocked_threads),
            ("waiting", 30 + (TOMCAT_MAX_THREADS - busy) * 0.1 + 0 * t),
            ("timed-waiting", np.full(n, 22.0)),
        ):
            rec.gauge(pod, "jvm_threads_states_threads", {"state": state}, np.round(count + w.noise(0.8)))
        rec.gauge(pod, "jvm_threads_live_threads", {}, np.round(80 + busy + w.noise(1)))
        pool = {"pool": "HikariPool-1"}
        active = np.clip(e.mysql_qps * e.api_share[pod] * e.mysql_latency * 1.4 + np.abs(w.noise(0.5)), 0, 20)
        active *= 1 - jammed
        rec.gauge(pod, "hikaricp_connections_active", pool, np.round(active))
        rec.gauge(pod, "hikaricp_connections_idle", pool, np.round(20 - active))
        rec.gauge(pod, "hikaricp_connections_pending", pool, np.round(np.clip(active - 19, 0, None) * 3))
        rec.gauge(pod, "hikaricp_connections_max", pool, np.full(n, 20.0))
        old = {"area": "heap", "id": "G1 Old Gen"}
        rec.gauge(pod, "jvm_memory_used_bytes", old, 6e8 + 3e8 * ((w.grid % 1100) / 1100) + w.noise(1e7))
        rec.gauge(pod, "jvm_memory_max_bytes", old, np.full(n, 2.2e9))
        gc = {"action": "end of minor GC", "cause": "G1 Evacuation Pause", "gc": "G1 Young Generation"}
        young = 0.25 + 0.004 * served
        rec.counter(pod, "jvm_gc_pause_seconds_count", gc, young)
        rec.counter(pod, "jvm_gc_pause_seconds_sum", gc, young * 0.012, whole=False)
        rec.gauge(pod, "jvm_gc_pause_seconds_max", gc, 0.012 + np.abs(w.noise(0.004)))
        rec.gauge(pod, "process_cpu_usage", {}, np.clip(0.05 + 0.0016 * served + w.noise(0.004), 0, 1))
        rec.gauge(pod, "process_start_time_seconds", {}, np.full(n, w.started(pod)))


def write_memcached(w: Web, e: Effects) -> None:
    """catalog-memcached's pods with memcached_exporter as a sidecar (`container="metrics"`)."""
    rec, n = w.rec, w.n
    pods = w.live([*MEMCACHED_OLD, *MEMCACHED_NEW])
    share = w.share(pods)
    reads = 3.0 * e.api_rps
    for pod in pods:
        alive = w.exists[pod]
        w.scrape(pod, monitor_labels(pod, "metrics", "catalog-memcached-metrics"))
        gets = reads * share[pod]
        own_miss = np.clip(np.where(alive, e.memcached_pod_miss[pod], 0), 0, 1)
        rec.counter(
            pod, "memcached_commands_total", {"command": "get", "status": "hit"}, gets * (1 - own_miss)
        )
        rec.counter(pod, "memcached_commands_total", {"command": "get", "status": "miss"}, gets * own_miss)
        rec.counter(
            pod, "memcached_commands_total", {"command": "set", "status": "hit"}, gets * own_miss * 0.98
        )
        rec.counter(pod, "memcached_items_evicted_total", {}, e.memcached_evictions[pod])
        rec.gauge(pod, "memcached_current_bytes", {}, np.round(e.memcached_fill[pod]))
        rec.gauge(pod, "memcached_current_items", {}, np.round(e.memcached_fill[pod] / ITEM_BYTES))
        rec.gauge(pod, "memcached_limit_bytes", {}, np.full(n, e.memcached_limit[pod]))
        rec.gauge(pod, "memcached_current_connections", {}, np.round(42 + w.noise(2)))
        rec.gauge(pod, "memcached_uptime_seconds", {}, np.clip(w.grid - w.started(pod), 0, None))
        rec.gauge(pod, "memcached_up", {}, np.ones(n))
        rec.counter(pod, "memcached_read_bytes_total", {}, gets * 60 + gets * own_miss * ITEM_BYTES)
        rec.counter(pod, "memcached_written_bytes_total", {}, gets * (1 - own_miss) * ITEM_BYTES)


def write_mysql(w: Web, e: Effects) -> None:
    rec, n = w.rec, w.n
    w.scrape(MYSQL, monitor_labels(MYSQL, "metrics", "catalog-mysql-metrics"), miss=0.015)
    running = np.clip(np.round(e.mysql_qps * e.mysql_latency + np.abs(w.noise(0.8)) + 1), 1, None)
    rec.gauge(MYSQL, "mysql_global_status_threads_running", {}, running)
    rec.gauge(MYSQL, "mysql_global_status_threads_connected", {}, np.round(44 + running + w.noise(1)))
    rec.gauge(MYSQL, "mysql_global_variables_max_connections", {}, np.full(n, 151.0))
    rec.counter(MYSQL, "mysql_global_status_queries", {}, e.mysql_qps + 12)
    rec.counter(MYSQL, "mysql_global_status_commands_total", {"command": "select"}, e.mysql_qps)
    rec.counter(
        MYSQL,
        "mysql_global_status_slow_queries",
        {},
        0.002 + 0.05 * np.clip(e.mysql_latency - 0.05, 0, None) * e.mysql_qps,
    )
    rec.counter(MYSQL, "mysql_global_status_innodb_buffer_pool_reads", {}, 2 + 0.8 * e.mysql_qps)
    rec.gauge(MYSQL, "mysql_up", {}, np.ones(n))


def write_accounts(w: Web, e: Effects) -> None:
    """accounts (Go: promhttp, the Go collector, a store-op histogram of its own)."""
    rec, t = w.rec, w.traffic
    for pod in (ACCOUNTS_A, ACCOUNTS_B):
        w.scrape(pod, monitor_labels(pod, "http-metrics"))
        rps = INGRESSES["accounts"][2] * t / 2
        for handler, part in (("/v1/accounts/{id}", 0.75), ("/v1/sessions", 0.25)):
            for code, share in (("200", 0.9995), ("500", 0.0005)):
                rec.histogram(
                    pod,
                    "http_request_duration_seconds",
                    {"handler": handler, "method": "get" if part > 0.5 else "post", "code": code},
                    rps * part * share,
                    e.accounts_latency[pod],
                    sigma=0.5,
                )
        rec.histogram(
            pod,
            "accounts_store_op_duration_seconds",
            {"op": "find", "collection": "sessions"},
            rps * 2,
            e.accounts_store * np.exp(w.noise(0.04)),
            sigma=0.6,
        )
        routines = 310 + 45 * t + e.leak[pod] + w.noise(6)
        rec.gauge(pod, "go_goroutines", {}, np.round(routines))
        rec.gauge(pod, "go_threads", {}, np.round(14 + 6 * e.gc[pod] + np.abs(w.noise(0.5))))
        heap = e.heap[pod]
        rec.gauge(pod, "go_memstats_heap_alloc_bytes", {}, heap * (1 + 0.15 * ((w.grid % 45) / 45)))
        rec.gauge(pod, "go_memstats_heap_inuse_bytes", {}, heap * 1.12)
        rec.gauge(pod, "go_memstats_next_gc_bytes", {}, np.minimum(heap * 2, GOMEMLIMIT))
        rec.gauge(pod, "go_memstats_sys_bytes", {}, heap * 1.3 + 4e7)
        rec.gauge(pod, "go_memstats_stack_inuse_bytes", {}, 8192.0 * routines * 1.4)
        cycles = 0.07 + 0.0004 * rps + 3.5 * e.gc[pod] ** 1.2
        rec.counter(pod, "go_gc_duration_seconds_count", {}, cycles)
        pause = 0.00012 + 0.0035 * e.gc[pod] + np.abs(w.noise(0.00002))
        rec.counter(pod, "go_gc_duration_seconds_sum", {}, cycles * pause, whole=False)
        for q, f in (("0", 0.4), ("0.25", 0.7), ("0.5", 1.0), ("0.75", 1.4), ("1", 3.0)):
            rec.gauge(pod, "go_gc_duration_seconds", {"quantile": q}, pause * f)
        rec.gauge(pod, "process_resident_memory_bytes", {}, heap * 1.04 + 3.8e7)
        rec.counter(pod, "process_cpu_seconds_total", {}, cpu_demand_accounts(w, e, pod), whole=False)


def cpu_demand_accounts(w: Web, e: Effects, pod: str) -> np.ndarray:
    return np.minimum(0.12 + 0.004 * INGRESSES["accounts"][2] * w.traffic / 2 + 0.95 * e.gc[pod], 1.0)


def write_mongodb(w: Web, e: Effects) -> None:
    """Percona's mongodb_exporter as the pods' sidecar (serverStatus as `mongodb_ss_*`, no `_total`)."""
    rec, n, t = w.rec, w.n, w.traffic
    cache_max = 2.5 * GiB
    for k, pod in enumerate(MONGO):
        w.scrape(pod, monitor_labels(pod, "http-metrics", "accounts-mongodb-metrics"))
        primary = k == 0
        p = e.mongo if primary else np.zeros(n)
        reads = (190.0 if primary else 25.0) * t
        used = (0.79 + 0.17 * p) * cache_max * (1 + 0.004 * w.noise(1))
        dirty = (0.025 + 0.19 * p**1.2) * cache_max * np.exp(w.noise(0.05))
        rec.gauge(pod, "mongodb_ss_wt_cache_bytes_currently_in_the_cache", {}, used)
        rec.gauge(pod, "mongodb_ss_wt_cache_maximum_bytes_configured", {}, np.full(n, cache_max))
        rec.gauge(pod, "mongodb_ss_wt_cache_tracked_dirty_bytes_in_the_cache", {}, dirty)
        rec.counter(pod, "mongodb_ss_wt_cache_pages_read_into_cache", {}, 60 * t + 2600 * p)
        rec.counter(pod, "mongodb_ss_wt_cache_pages_requested_from_the_cache", {}, 9000 * t * (1 + 0.1 * p))
        rec.counter(pod, "mongodb_ss_wt_cache_pages_evicted_by_application_threads", {}, 900 * p**1.4)
        out_read = np.clip(
            np.round(1 + reads * e.accounts_store * (1 if primary else 0.3) + 125 * p**2), 0, 128
        )
        for rw, out in (
            ("read", out_read),
            ("write", np.round(np.clip(1 + 60 * p**2 + w.noise(0.4), 0, 128))),
        ):
            rec.gauge(pod, "mongodb_ss_wt_concurrentTransactions_out", {"txn_rw": rw}, out)
            rec.gauge(pod, "mongodb_ss_wt_concurrentTransactions_available", {"txn_rw": rw}, 128 - out)
            rec.gauge(
                pod, "mongodb_ss_wt_concurrentTransactions_totalTickets", {"txn_rw": rw}, np.full(n, 128.0)
            )
        for kind, count in (("readers", 45 * p**2), ("writers", 8 * p**2)):
            rec.gauge(
                pod,
                "mongodb_ss_globalLock_currentQueue",
                {"count_type": kind},
                np.round(np.clip(count + w.noise(0.3), 0, None)),
            )
        for op, rate in (
            ("query", reads),
            ("update", reads * 0.3),
            ("insert", reads * 0.05),
            ("command", 40 + reads),
        ):
            rec.counter(
                pod,
                "mongodb_ss_opcounters",
                {"legacy_op_type": op},
                rate if primary or op == "command" else rate * 0.1,
            )
        ops = reads * 1.3
        rec.counter(pod, "mongodb_ss_opLatencies_ops", {"op_type": "reads"}, ops)
        rec.counter(
            pod,
            "mongodb_ss_opLatencies_latency",
            {"op_type": "reads"},
            ops * 1e6 * (e.accounts_store if primary else 0.0015),
        )
        rec.gauge(pod, "mongodb_ss_connections", {"conn_type": "current"}, np.round(64 + 30 * p + w.noise(2)))
        rec.gauge(pod, "mongodb_rs_myState", {}, np.full(n, 1.0 if primary else 2.0))
        rec.gauge(pod, "mongodb_up", {}, np.ones(n))


def write_feed(w: Web, e: Effects) -> None:
    rec, t = w.rec, w.traffic
    for pod in (FEED_A, FEED_B):
        w.scrape(pod, monitor_labels(pod, "http-metrics"))
        rps = INGRESSES["feed"][2] * t / 2
        for code, share in (("200", 1 - e.feed_errors), ("500", e.feed_errors)):
            rec.histogram(
                pod,
                "http_request_duration_seconds",
                {"handler": "/v1/timeline", "method": "get", "code": code},
                rps * share,
                e.feed_latency if code == "200" else np.full(w.n, 1.2),
                sigma=0.55,
            )
        rec.counter(pod, "feed_store_errors_total", {"error": "timeout"}, rps * (e.feed_errors - 0.0008))
        rec.gauge(pod, "go_goroutines", {}, np.round(120 + 40 * t + 300 * e.compaction + w.noise(4)))
        rec.gauge(pod, "go_memstats_heap_inuse_bytes", {}, 6e7 + 1e7 * t + w.noise(1e6))
        rec.counter(pod, "process_cpu_seconds_total", {}, 0.08 + 0.004 * rps, whole=False)


def write_cassandra(w: Web, e: Effects) -> None:
    """Cassandra's JMX exporter agent with the example's rules (`cassandra_<type>_<name>` lowercased, the
    MBean's type and scope as odd labels)."""
    rec, n, t = w.rec, w.n, w.traffic
    for k, pod in enumerate(CASSANDRA):
        w.scrape(pod, service_monitor_labels(NAMESPACE, pod, PODS[pod], "feed-cassandra-metrics", "metrics"))
        b = e.compaction if k == 1 else np.zeros(n)
        streamed = np.clip(w.added("cassandra.stream"), 0, None) if k == 1 else np.zeros(n)
        reads = INGRESSES["feed"][2] * t * 2 / 3
        table = {"table": "timeline", "keyspace": "feed"}
        pending = np.round(np.clip(3 + 900 * b + np.abs(w.noise(1.5)), 0, None))
        rec.gauge(pod, "cassandra_table_pendingcompactions", table, pending)
        rec.gauge(pod, "cassandra_compaction_pendingtasks", {}, pending + np.round(np.abs(w.noise(1))))
        rec.gauge(pod, "cassandra_table_livesstablecount", table, np.round(14 + 1800 * b + w.noise(0.6)))
        rec.counter(pod, "cassandra_compaction_completedtasks", {}, 0.05 + 0.6 * b)
        rec.counter(pod, "cassandra_compaction_bytescompacted", {}, 4e6 * (1 + 8 * b), whole=False)
        pools = (("CompactionExecutor", "internal", 2 * b), ("ReadStage", "request", 30 * b**1.5))
        for pool, path, extra in pools:
            rec.gauge(
                pod,
                "cassandra_threadpools_pendingtasks",
                {"threadpools": pool, "path": path},
                np.round(
                    np.clip(extra + np.abs(w.noise(0.4)), 0, None)
                    * (1 if pool == "ReadStage" else pending / np.maximum(pending, 1))
                ),
            )
        rec.gauge(pod, "cassandra_streaming_totalincomingbytes", {}, 2.1e10 + np.cumsum(streamed * STEP))
        tbl = {"keyspace": "feed", "table": "timeline"}
        rec.gauge(
            pod,
            "cassandra_table_sstablesperreadhistogram_95thpercentile",
            tbl,
            np.round(3 + 17 * b + np.abs(w.noise(0.3))),
        )
        rec.gauge(
            pod,
            "cassandra_table_readlatency_95thpercentile",
            tbl,
            900 * (1 + 40 * b**1.2) * np.exp(w.noise(0.05)),
        )
        rec.counter(pod, "cassandra_table_readlatency_count", tbl, reads)
        for kind, rate in (("Read", reads), ("Write", 12 * t)):
            slow = e.compaction if kind == "Read" else np.zeros(n)
            rec.counter(pod, "cassandra_clientrequest_latency_count", {"type": kind}, rate)
            rec.gauge(
                pod,
                "cassandra_clientrequest_latency_95thpercentile",
                {"type": kind},
                1800 * (1 + 25 * slow**1.3 * (1.5 if k == 1 else 0.6)) * np.exp(w.noise(0.05)),
            )
            rec.counter(
                pod,
                "cassandra_clientrequest_timeouts_count",
                {"type": kind},
                rate * (0.14 * slow**1.3 if k == 1 else 0.02 * slow),
            )
        rec.gauge(pod, "cassandra_storage_load", {}, 3.1e11 + 2.0e9 * k + np.cumsum(streamed * STEP))
        rec.gauge(
            pod,
            "jvm_memory_bytes_used",
            {"area": "heap"},
            4.5e9 + 1.5e9 * ((w.grid % 700) / 700) + w.noise(5e7),
        )
        rec.counter(pod, "jvm_gc_collection_seconds_count", {"gc": "G1 Young Generation"}, 0.2 + 0.3 * b)
        rec.counter(
            pod, "jvm_gc_collection_seconds_sum", {"gc": "G1 Young Generation"}, 0.004 + 0.01 * b, whole=False
        )


def write_media(w: Web, e: Effects) -> None:
    """media-api (FastAPI, prometheus-fastapi-instrumentator's default metrics, two of its own)."""
    rec, n, t = w.rec, w.n, w.traffic
    w.scrape(MEDIA, monitor_labels(MEDIA, "http"))
    uploads = INGRESSES["media"][2] * t * 0.6
    views = INGRESSES["media"][2] * t * 0.4
    for handler, method, rps, errors, latency in (
        ("/v1/uploads", "POST", uploads, e.upload_errors, e.upload_latency),
        ("/v1/media/{id}", "GET", views, np.full(n, 0.001), 0.03 + 0 * t),
    ):
        for status, share in (("2xx", 1 - errors - 0.01), ("4xx", np.full(n, 0.01)), ("5xx", errors)):
            rec.counter(
                MEDIA,
                "http_requests_total",
                {"handler": handler, "method": method, "status": status},
                rps * share,
            )
        rec.histogram(
            MEDIA,
            "http_request_duration_seconds",
            {"handler": handler, "method": method},
            rps,
            latency,
            sigma=0.7,
            buckets=(0.1, 0.5, 1),
        )
    rec.histogram(
        MEDIA,
        "http_request_duration_highr_seconds",
        {},
        uploads + views,
        (uploads * e.upload_latency + views * 0.03) / (uploads + views),
        sigma=0.9,
        buckets=(0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 5, 7.5, 10, 30, 60),
    )
    rec.counter(
        MEDIA, "media_uploads_failed_total", {"reason": "storage"}, uploads * (e.upload_errors - 0.002)
    )
    rec.counter(MEDIA, "media_thumbnail_tasks_enqueued_total", {"queue": "thumbnails"}, e.celery_in)
    rec.gauge(MEDIA, "process_resident_memory_bytes", {}, 2.4e8 + w.noise(3e6))
    rec.counter(MEDIA, "process_cpu_seconds_total", {}, 0.1 + 0.02 * uploads, whole=False)


def write_minio(w: Web, e: Effects) -> None:
    """MinIO's v2 metrics (`/minio/v2/metrics/cluster`) per pod: its own drive, requests it served, and
    the cluster's drive counts every server reports."""
    rec, n, t = w.rec, w.n, w.traffic
    puts = INGRESSES["media"][2] * t * 0.6 * 3  # the original and two renditions
    gets = INGRESSES["media"][2] * t * 0.4 * 1.2 + 30 * t  # the CDN's misses too
    offline = e.drive_offline
    for k, pod in enumerate(MINIO):
        server = f"{pod}.media-minio-svc.{NAMESPACE}.svc.cluster.local:9000"
        w.scrape(
            pod,
            service_monitor_labels(NAMESPACE, pod, PODS[pod], "media-minio", "http-minio")
            | {"server": server},
        )
        hang = e.drive if k == 2 else np.zeros(n)
        drive = {"drive": "/export"}
        total = 4.0e12
        used = 1.62e12 + 2e10 * k + np.cumsum(puts * 1.2e6 / 4 * STEP)
        rec.gauge(pod, "minio_node_drive_total_bytes", drive, np.full(n, total))
        rec.gauge(pod, "minio_node_drive_used_bytes", drive, used)
        rec.gauge(pod, "minio_node_drive_free_bytes", drive, total - used)
        rec.counter(pod, "minio_node_drive_errors_timeout", drive, 0.8 * hang * (1 - 0.7 * offline))
        rec.counter(pod, "minio_node_drive_errors_availability", drive, 0.3 * hang * offline)
        for api, base in (
            ("storage.WriteAll", 900.0),
            ("storage.ReadFileStream", 400.0),
            ("storage.RenameData", 1500.0),
        ):
            rec.gauge(
                pod,
                "minio_node_drive_latency_us",
                drive | {"api": api},
                base * (1 + 900 * hang * (1 - offline)) * np.exp(w.noise(0.08)),
            )
        rec.gauge(pod, "minio_node_drive_online_total", {}, 1 - (offline if k == 2 else np.zeros(n)))
        rec.gauge(pod, "minio_node_drive_offline_total", {}, offline if k == 2 else np.zeros(n))
        rec.gauge(pod, "minio_cluster_drive_online_total", {}, 4 - offline)
        rec.gauge(pod, "minio_cluster_drive_offline_total", {}, offline)
        rec.gauge(pod, "minio_cluster_nodes_online_total", {}, np.full(n, 4.0))
        errors = e.upload_errors
        for api, rate, failing in (("putobject", puts / 4, errors), ("getobject", gets / 4, 0.1 * errors)):
            rec.counter(pod, "minio_s3_requests_total", {"api": api}, rate)
            rec.counter(pod, "minio_s3_requests_errors_total", {"api": api}, rate * (failing + 0.001))
            rec.counter(pod, "minio_s3_requests_5xx_errors_total", {"api": api}, rate * failing)
        rec.counter(pod, "minio_s3_traffic_received_bytes", {}, puts / 4 * 1.2e6)
        rec.gauge(pod, "minio_node_process_starttime_seconds", {}, np.full(n, w.started(pod)))


def write_haproxy(w: Web, e: Effects) -> None:
    """legacy-haproxy's built-in exporter (HAProxy 2.8): frontends, the backend and its two VMs; a reload
    starts a new worker whose counters begin at zero."""
    rec, n, t = w.rec, w.n, w.traffic
    w.scrape(HAPROXY, monitor_labels(HAPROXY, "stats"))
    rps = INGRESSES["legacy"][2] * t
    fe = {"proxy": "fe_legacy"}
    rec.counter(HAPROXY, "haproxy_frontend_http_requests_total", fe, rps)
    for code, share in (
        ("2xx", 1 - e.legacy_errors - 0.01),
        ("4xx", np.full(n, 0.01)),
        ("5xx", e.legacy_errors),
    ):
        rec.counter(HAPROXY, "haproxy_frontend_http_responses_total", fe | {"code": code}, rps * share)
    rec.gauge(HAPROXY, "haproxy_frontend_current_sessions", fe, np.round(rps * e.legacy_latency * 1.5 + 20))
    be = {"proxy": "be_legacy"}
    down = e.legacy2_down.astype(float)
    rec.gauge(HAPROXY, "haproxy_backend_active_servers", be, 2 - down)
    queued = np.round(np.clip(rps * e.legacy_latency - 50, 0, None) + np.abs(w.noise(0.3)) * down)
    rec.gauge(HAPROXY, "haproxy_backend_current_queue", be, queued)
    rec.gauge(HAPROXY, "haproxy_backend_response_time_average_seconds", be, e.legacy_latency * 1.1)
    rec.counter(HAPROXY, "haproxy_backend_http_responses_total", be | {"code": "5xx"}, rps * e.legacy_errors)
    rec.counter(
        HAPROXY, "haproxy_backend_http_responses_total", be | {"code": "2xx"}, rps * (1 - e.legacy_errors)
    )
    for k, server in enumerate(("legacy-1", "legacy-2")):
        s = be | {"server": server}
        is_down = down if k == 1 else np.zeros(n)
        served = rps * np.where(is_down > 0, 0.0, np.where(down > 0, 1.0, 0.5))
        errors = e.legacy_errors if k == 0 else np.where(down > 0, 0.0, e.legacy_errors)
        for code, share in (("2xx", 1 - errors), ("5xx", errors)):
            rec.counter(HAPROXY, "haproxy_server_http_responses_total", s | {"code": code}, served * share)
        for state in ("UP", "DOWN"):
            rec.gauge(
                HAPROXY,
                "haproxy_server_status",
                s | {"state": state},
                is_down if state == "DOWN" else 1 - is_down,
            )
        for state in ("L7OK", "L4CON"):
            rec.gauge(
                HAPROXY,
                "haproxy_server_check_status",
                s | {"state": state},
                is_down if state == "L4CON" else 1 - is_down,
            )
        rec.counter(HAPROXY, "haproxy_server_check_failures_total", s, 0.5 * is_down)
        rec.counter(
            HAPROXY,
            "haproxy_server_check_up_down_total",
            s,
            np.where(np.diff(is_down, prepend=0) > 0, 1 / STEP, 0),
        )
        rec.gauge(
            HAPROXY,
            "haproxy_server_current_sessions",
            s,
            np.round(served * e.legacy_latency + np.abs(w.noise(0.5))),
        )
        rec.gauge(HAPROXY, "haproxy_server_limit_sessions", s, np.full(n, 50.0))
        rec.gauge(
            HAPROXY,
            "haproxy_server_response_time_average_seconds",
            s,
            np.where(is_down > 0, 0.0, e.legacy_latency),
        )
        rec.gauge(
            HAPROXY,
            "haproxy_server_check_duration_seconds",
            s,
            np.where(is_down > 0, 0.0, 0.002 + np.abs(w.noise(0.0003))),
        )
    started = (
        np.where(w.grid >= e.reload, e.reload, START - 6 * 86400)
        if e.reload is not None
        else np.full(n, START - 6 * 86400)
    )
    rec.gauge(HAPROXY, "haproxy_process_start_time_seconds", {}, started)
    rec.gauge(HAPROXY, "haproxy_process_current_connections", {}, np.round(rps * e.legacy_latency * 2 + 30))
    if e.reload is not None:
        reset_counters(rec, HAPROXY, [(0, w.index(e.reload)), (w.index(e.reload), n)])


def write_celery(w: Web, e: Effects) -> None:
    """celery-exporter (its own Deployment: every series about the workers is its pod's), reading the
    broker's queue and the workers' events."""
    rec, n = w.rec, w.n
    pod = CELERY_EXPORTER
    w.scrape(pod, monitor_labels(pod, "metrics"))
    rec.gauge(
        pod,
        "celery_queue_length",
        {"queue_name": "thumbnails"},
        np.round(e.celery_backlog + np.abs(w.noise(2))),
    )
    rec.gauge(pod, "celery_queue_length", {"queue_name": "emails"}, np.round(np.abs(w.noise(1.5))))
    live = [p for p in WORKERS_CELERY if w.exists[p].any()]
    workers = np.sum([w.exists[p].astype(float) for p in live], axis=0)
    rec.gauge(pod, "celery_active_consumer_count", {"queue_name": "thumbnails"}, workers)
    rec.gauge(pod, "celery_active_worker_count", {"queue_name": "thumbnails"}, workers)
    done = np.minimum(e.celery_capacity, e.celery_in + e.celery_backlog / STEP)
    for p in live:
        hostname = f"celery@{p}"
        here = w.exists[p].astype(float)
        share = here / np.maximum(workers, 1)
        # the exporter keeps a worker it heard from: up 0 after its heartbeats stop, the series stay
        rec.gauge(pod, "celery_worker_up", {"hostname": hostname}, here)
        rec.gauge(pod, "celery_worker_tasks_active", {"hostname": hostname}, np.round(share * done * 1.0))
        task = {"name": "media.tasks.render_thumbnail", "hostname": hostname}
        rec.counter(pod, "celery_task_received_total", task, share * done)
        rec.counter(pod, "celery_task_succeeded_total", task, share * done * 0.997)
        rec.counter(pod, "celery_task_failed_total", task, share * done * 0.003)
        rec.histogram(
            pod,
            "celery_task_runtime",
            task,
            share * done,
            np.full(n, 0.95),
            sigma=0.3,
            buckets=(0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
    rec.counter(pod, "celery_task_sent_total", {"name": "media.tasks.render_thumbnail"}, e.celery_in)


def write_small(w: Web) -> None:
    """storefront and cms (Node.js, prom-client's default metrics)."""
    rec = w.rec
    for pod in (*STOREFRONT, STOREFRONT_NEW, CMS_OLD, CMS_NEW):
        if not w.exists[pod].any():
            continue
        w.scrape(pod, monitor_labels(pod, "http"))
        alive = w.exists[pod]
        rec.counter(pod, "process_cpu_seconds_total", {}, cpu_demand(w, pod), whole=False, alive=alive)
        rec.gauge(pod, "nodejs_heap_size_used_bytes", {}, 1.1e8 + w.noise(4e6), alive=alive)
        rec.gauge(pod, "nodejs_eventloop_lag_seconds", {}, 0.004 + np.abs(w.noise(0.001)), alive=alive)


def cpu_demand(w: Web, pod: str, e: Effects | None = None) -> np.ndarray:
    """Cores a pod's container uses while it exists."""
    t, n = w.traffic, w.n
    workload = PODS[pod][0]
    if workload == "storefront":
        sf = w.share([*STOREFRONT, STOREFRONT_NEW])
        d = 0.1 + 1.4 * t * sf[pod]
    elif workload == "cms":
        since = w.grid - w.started(pod)
        d = 0.05 + 0.45 * ((since >= 0) & (since < 150)) * (pod == CMS_NEW)
    elif workload == "sitemap-builder":
        d = np.full(n, 2.2)
    elif e is None:
        d = np.full(n, 0.05)
    elif workload == "api":
        d = 0.15 + 0.0055 * e.api_rps * e.api_share[pod] * (1 - np.clip((e.blocked[pod] - 0.9) / 0.1, 0, 1))
    elif workload == "accounts":
        d = cpu_demand_accounts(w, e, pod)
    elif workload == "ingress-nginx-controller":
        d = 0.3 + 0.35 * t
    elif workload == "catalog-mysql":
        d = 0.2 + 0.012 * e.mysql_qps
    elif workload == "accounts-mongodb":
        d = (0.3 + 0.4 * t + 2.4 * e.mongo) if pod == MONGO[0] else 0.15 + 0.1 * t
    elif workload == "feed-cassandra":
        d = 0.8 + 0.4 * t + (2.6 * e.compaction if pod == CASSANDRA[1] else 0)
    elif workload == "celery-worker":
        live = np.sum([w.exists[p].astype(float) for p in WORKERS_CELERY], axis=0)
        d = (
            np.minimum(e.celery_in + e.celery_backlog / 60, e.celery_capacity) / np.maximum(live, 1) * 0.16
            + 0.05
        )
    elif workload == "media-minio":
        d = 0.1 + 0.1 * t
    elif workload == "etcd":
        d = 0.12 + 0.05 * t
    elif workload == "kube-apiserver":
        d = 0.35 + 0.1 * t
    else:
        d = np.full(n, 0.06) + 0.02 * t
    return np.clip(d + w.noise(0.01), 0.002, None) * w.exists[pod]


def working_set(w: Web, e: Effects, pod: str) -> np.ndarray:
    workload = PODS[pod][0]
    if workload == "accounts":
        return e.heap[pod] * 1.05 + 4e7
    if workload == "catalog-memcached":
        return e.memcached_fill.get(pod, np.zeros(w.n)) * 1.08 + 6e7
    base = {
        "api": 1.9e9,
        "catalog-mysql": 5.6e9,
        "accounts-mongodb": 4.1e9,
        "feed-cassandra": 1.05e10,
        "media-minio": 1.3e9,
        "celery-worker": 6.5e8,
        "etcd": 1.2e9,
        "kube-apiserver": 2.8e9,
        "sitemap-builder": 9e8,
    }.get(workload, 1.6e8)
    return base + w.noise(base * 0.004 + 1e6)


def write_kubelet(w: Web, e: Effects, demand: dict[str, np.ndarray]) -> None:
    """cAdvisor as kube-prometheus-stack keeps it (no `container_spec_*`): one life per container."""
    rec, n = w.rec, w.n
    for node, ip in NODES.items():
        kubelet_target(rec, node, ip)
    for pod, (workload, cont, node, _, _) in PODS.items():
        alive = w.exists[pod]
        if not alive.any():
            continue
        namespace = NAMESPACES.get(pod, NAMESPACE)
        image = IMAGES.get(workload, f"registry.local/web/{workload}:{image_version(pod)}")
        lab = {
            "namespace": namespace,
            "pod": pod,
            "container": cont,
            "image": image,
            "name": f"k8s_{cont}_{pod}_{namespace}_0",
            "id": f"/kubepods/burstable/pod{uid_of(pod)[:8]}/{stable(pod + '/0', 12)}",
        }
        key = "kubelet-" + node
        limit = CPU_LIMIT.get(workload)
        usage = demand[pod] if limit is None else np.minimum(demand[pod], limit)
        rec.counter(
            key, "container_cpu_usage_seconds_total", lab | {"cpu": "total"}, usage, whole=False, alive=alive
        )
        ws = working_set(w, e, pod)
        rec.gauge(key, "container_memory_working_set_bytes", lab, ws, alive=alive)
        rec.gauge(key, "container_memory_rss", lab, ws * 0.9, alive=alive)
        rec.gauge(key, "container_start_time_seconds", lab, np.full(n, w.started(pod)), alive=alive)
        if limit is not None:
            periods = 10 * np.clip(demand[pod] * 4, 0, 1)
            throttled = np.clip((demand[pod] / limit - 0.8) / 0.3, 0, 1)
            rec.counter(key, "container_cpu_cfs_periods_total", lab, periods, alive=alive)
            rec.counter(
                key,
                "container_cpu_cfs_throttled_periods_total",
                lab,
                periods * (0.004 + throttled),
                alive=alive,
            )


def image_version(pod: str) -> str:
    return {"cms": "5.2.0" if pod == CMS_NEW else "5.1.3", "api": "4.18.2", "accounts": "2.9.1"}.get(
        PODS[pod][0], "1.0.0"
    )


def kind_of(pod: str) -> str:
    """What created the pod (kube_pod_info's created_by_kind)."""
    workload = PODS[pod][0]
    if workload in DEPLOYMENTS:
        return "ReplicaSet"
    if NAMESPACES.get(pod) == "kube-system":
        return "Node"
    return "Job" if pod in SITEMAP_RUNS else "StatefulSet"


def write_kube_state_metrics(w: Web) -> None:
    """kube-state-metrics with honorLabels: each pod's containers, limits, images, start; Deployments'
    generations and replicas; the storefront's HPA."""
    rec, n = w.rec, w.n
    ksm_target(rec, KSM_INSTANCE, "6d5c8b9f7-j7t4x")
    for pod, (workload, cont, node, ip, _) in PODS.items():
        live = w.exists[pod]
        if not live.any():
            continue
        namespace = NAMESPACES.get(pod, NAMESPACE)
        uid = uid_of(pod)
        subject = {"namespace": namespace, "pod": pod, "container": cont, "uid": uid}
        rec.add(
            "ksm", "kube_pod_container_status_restarts_total", subject, np.zeros(n), counter=True, alive=live
        )
        for resource, unit, value in (
            ("memory", "byte", MEMORY_LIMIT.get(workload, 512 * MiB)),
            ("cpu", "core", CPU_LIMIT.get(workload)),
        ):
            if value is not None:
                rec.gauge(
                    "ksm",
                    "kube_pod_container_resource_limits",
                    subject | {"node": node, "resource": resource, "unit": unit},
                    np.full(n, float(value)),
                    alive=live,
                )
        image = IMAGES.get(workload, f"registry.local/web/{workload}:{image_version(pod)}")
        rec.gauge(
            "ksm",
            "kube_pod_container_info",
            subject
            | {"image": image, "image_spec": image, "container_id": "containerd://" + stable(uid, 12)},
            np.ones(n),
            alive=live,
        )
        owner = {"ReplicaSet": "-".join(pod.split("-")[:-1]), "Job": pod.rsplit("-", 1)[0], "Node": node}
        pod_labels = {"namespace": namespace, "pod": pod, "uid": uid}
        rec.gauge("ksm", "kube_pod_start_time", pod_labels, np.full(n, w.started(pod)), alive=live)
        rec.gauge(
            "ksm",
            "kube_pod_info",
            pod_labels
            | {
                "node": node,
                "host_ip": NODES[node],
                "pod_ip": ip,
                "created_by_kind": kind_of(pod),
                "created_by_name": owner.get(kind_of(pod), workload),
                "host_network": "true" if namespace == "kube-system" else "false",
                "priority_class": "",
            },
            np.ones(n),
            alive=live,
        )
    for dep, (namespace, replicas) in DEPLOYMENTS.items():
        labels = {"namespace": namespace, "deployment": dep}
        generation = 21 + np.round(w.added(f"gen.{dep}"))
        rec.gauge("ksm", "kube_deployment_metadata_generation", labels, generation)
        rec.gauge("ksm", "kube_deployment_status_observed_generation", labels, generation)
        spec = replicas + np.round(w.added(f"replicas.{dep}"))
        rec.gauge("ksm", "kube_deployment_spec_replicas", labels, spec)
        pods = [p for p, s in PODS.items() if s[0] == dep]
        available = np.sum([w.exists[p].astype(float) for p in pods], axis=0) if pods else spec
        rec.gauge("ksm", "kube_deployment_status_replicas_available", labels, np.minimum(available, spec))
    hpa = {"namespace": NAMESPACE, "horizontalpodautoscaler": "storefront"}
    desired = 2 + np.round(w.added("replicas.storefront"))
    rec.gauge("ksm", "kube_horizontalpodautoscaler_status_desired_replicas", hpa, desired)
    rec.gauge("ksm", "kube_horizontalpodautoscaler_status_current_replicas", hpa, desired)
    rec.gauge("ksm", "kube_horizontalpodautoscaler_spec_max_replicas", hpa, np.full(n, 6.0))


def write_control_plane(w: Web, e: Effects) -> None:
    """etcd (kube-prometheus-stack's kubeEtcd ServiceMonitor, `job="kube-etcd"`) and the kube-apiserver
    (the `kubernetes` Service's endpoints: `job="apiserver"`, no pod)."""
    rec, n, t = w.rec, w.n, w.traffic
    for k, (m, pod) in enumerate(ETCD.items()):
        labels = service_monitor_labels(
            "kube-system", pod, PODS[pod], "kube-prometheus-stack-kube-etcd", "http-metrics"
        )
        w.scrape(pod, labels | {"job": "kube-etcd"}, miss=0.005)
        writes = 45 + 10 * t
        rec.histogram(
            pod,
            "etcd_disk_wal_fsync_duration_seconds",
            {},
            writes,
            e.fsync[m],
            sigma=0.45,
            buckets=ETCD_BUCKETS,
        )
        rec.histogram(
            pod,
            "etcd_disk_backend_commit_duration_seconds",
            {},
            writes / 4,
            e.fsync[m] * 2.2 + 0.004,
            sigma=0.45,
            buckets=ETCD_BUCKETS,
        )
        lead = (e.leader == k).astype(float)
        rec.gauge(pod, "etcd_server_is_leader", {}, lead)
        rec.gauge(pod, "etcd_server_has_leader", {}, np.ones(n))
        changes = np.where(np.diff(e.leader, prepend=e.leader[0]) != 0, 1 / STEP, 0.0)
        rec.counter(pod, "etcd_server_leader_changes_seen_total", {}, changes)
        rec.counter(pod, "etcd_server_proposals_committed_total", {}, writes * (1 - 0.3 * e.disk[m]))
        rec.counter(pod, "etcd_server_proposals_applied_total", {}, writes * (1 - 0.3 * e.disk[m]))
        rec.counter(pod, "etcd_server_proposals_failed_total", {}, changes * 3 + 0.0005)
        rec.gauge(
            pod,
            "etcd_server_proposals_pending",
            {},
            np.round(np.clip(writes * e.fsync[m] * 3 + w.noise(0.3), 0, None)),
        )
        rec.gauge(
            pod,
            "etcd_mvcc_db_total_size_in_bytes",
            {},
            1.45e8 + 1e6 * k + 2e6 * np.sin((w.grid - START) / 2400),
        )
        rec.histogram(
            pod,
            "etcd_network_peer_round_trip_time_seconds",
            {"To": stable(ETCD[list(MASTERS)[(k + 1) % 3]], 16)},
            np.full(n, 0.5),
            0.0012 * np.exp(w.noise(0.05)),
            sigma=0.3,
            buckets=ETCD_BUCKETS,
        )
    for m, pod in APISERVER.items():
        w.scrape(
            pod,
            {
                "job": "apiserver",
                "service": "kubernetes",
                "namespace": "default",
                "endpoint": "https",
                "instance": f"{MASTERS[m]}:6443",
            },
            miss=0.005,
        )
        common = {"component": "apiserver", "dry_run": "", "group": "", "subresource": "", "version": "v1"}
        for verb, resource, scope, rate, mutating in (
            ("GET", "pods", "resource", 14.0, False),
            ("LIST", "pods", "namespace", 3.0, False),
            ("PUT", "leases", "resource", 9.0, True),
            ("PATCH", "pods", "resource", 2.5, True),
            ("POST", "events", "namespace", 4.0, True),
        ):
            latency = e.apiserver_write[m] if mutating else 0.006 * np.exp(w.noise(0.05)) + 0.05 * e.fsync[m]
            labels = common | {"verb": verb, "resource": resource, "scope": scope}
            rate_t = rate * (0.9 + 0.2 * t) / 3
            rec.histogram(
                pod,
                "apiserver_request_duration_seconds",
                labels,
                rate_t,
                latency,
                sigma=0.5,
                buckets=APISERVER_BUCKETS,
            )
            code = "201" if verb == "POST" else "200"
            timeouts = np.clip((latency - 1.5) / 10, 0, 0.2) if mutating else np.zeros(n)
            rec.counter(pod, "apiserver_request_total", labels | {"code": code}, rate_t * (1 - timeouts))
            rec.counter(pod, "apiserver_request_total", labels | {"code": "504"}, rate_t * timeouts + 0.0001)
        rec.histogram(
            pod,
            "etcd_request_duration_seconds",
            {"operation": "update", "type": "coordination.k8s.io/Lease"},
            np.full(n, 3.0),
            e.apiserver_write[m] * 0.8,
            sigma=0.5,
            buckets=(
                0.005,
                0.025,
                0.05,
                0.1,
                0.2,
                0.4,
                0.6,
                0.8,
                1,
                1.25,
                1.5,
                2,
                3,
                4,
                5,
                6,
                8,
                10,
                15,
                20,
                30,
                45,
                60,
            ),
        )
        rec.gauge(
            pod,
            "apiserver_current_inflight_requests",
            {"request_kind": "mutating"},
            np.round(15 * e.apiserver_write[m] + np.abs(w.noise(0.5))),
        )


def write_node_exporter(w: Web, e: Effects, demand: dict[str, np.ndarray]) -> None:
    """node-exporter in `monitoring`: CPU by mode, load, memory, the root filesystem, each disk, eth0 and
    conntrack."""
    rec, n, t = w.rec, w.n, w.traffic
    for j, (node, ip) in enumerate(NODES.items()):
        key = node_exporter_target(rec, node, ip, f"{'bcdfgh'[j]}q7x{j}").key
        cores = CORES[node]
        used = 0.3 + sum(d for pod, d in demand.items() if PODS[pod][2] == node)
        busy = np.clip(used / cores, 0, 0.97)
        sat = e.disk[node]
        data_busy = (
            (e.compaction if node == W42 else 0)
            + (e.drive if node == W43 else 0)
            + (e.mongo * 0.6 if node == W41 else 0)
        )
        iowait = 0.008 + 0.18 * sat + 0.08 * np.clip(data_busy, 0, 1)
        for cpu in range(int(cores)):
            for mode, share in (
                ("user", 0.78 * busy),
                ("system", 0.16 * busy),
                ("iowait", iowait),
                ("softirq", 0.01 + 0.03 * busy),
                ("idle", 1 - 0.98 * busy - iowait - 0.01),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(share + w.noise(0.005), 0, 1),
                    whole=False,
                )
        rec.gauge(key, "node_load1", {}, np.clip(used * 1.05 + 6 * iowait + w.noise(0.2), 0, None))
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(n, 8 * cores * GiB / 2))
        resident = sum(working_set(w, e, pod) * w.exists[pod] for pod in PODS if PODS[pod][2] == node)
        rec.gauge(
            key,
            "node_memory_MemAvailable_bytes",
            {},
            np.clip(4 * cores * GiB - resident * 0.85 - 1.2e9 + w.noise(4e7), 3e8, None),
        )
        root = {"device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
        rec.gauge(key, "node_filesystem_avail_bytes", root, 6.1e10 - 3e9 * j + w.noise(3e7))
        rec.gauge(key, "node_filesystem_size_bytes", root, np.full(n, 1.07e11))
        disks = {"nvme0n1": (1.5e6 + 3e6 * (node in MASTERS), sat)} | (
            {"nvme1n1": (3e6 + 2.5e7 * data_busy, np.clip(data_busy, 0, 1))} if node in WORKERS else {}
        )
        for device, (written, queued) in disks.items():
            dev = {"device": device}
            writes = written / 3.2e4 * (1 - 0.6 * queued) + 20
            wait = 0.0008 * (1 + 45 * queued)
            rec.counter(key, "node_disk_written_bytes_total", dev, written * (1 - 0.5 * queued))
            rec.counter(key, "node_disk_writes_completed_total", dev, writes)
            rec.counter(
                key, "node_disk_reads_completed_total", dev, 30 + 900 * queued * (device == "nvme1n1")
            )
            rec.counter(key, "node_disk_write_time_seconds_total", dev, writes * wait, whole=False)
            util = np.clip(0.03 + written / 4e8 + 0.95 * queued, 0, 1)
            rec.counter(key, "node_disk_io_time_seconds_total", dev, util, whole=False)
            rec.counter(
                key, "node_disk_io_time_weighted_seconds_total", dev, util * (1 + 25 * queued), whole=False
            )
        eth0 = {"device": "eth0"}
        load = 3e7 * t if node in WORKERS else 4e6 * t
        rec.counter(key, "node_network_receive_bytes_total", eth0, load)
        rec.counter(key, "node_network_transmit_bytes_total", eth0, load * 1.2)
        if node in WORKERS:
            rec.gauge(key, "node_nf_conntrack_entries", {}, e.conntrack_entries[node])
            rec.gauge(key, "node_nf_conntrack_entries_limit", {}, e.conntrack_limit[node])
            rec.counter(key, "node_nf_conntrack_stat_drop", {}, e.conntrack_drops[node])
            rec.counter(key, "node_nf_conntrack_stat_early_drop", {}, e.conntrack_drops[node] * 0.8)
            rec.counter(key, "node_nf_conntrack_stat_insert_failed", {}, e.conntrack_drops[node] * 0.05)
            rec.counter(key, "node_netstat_Tcp_RetransSegs", {}, 0.5 + 0.2 * t + 3 * e.conntrack_drops[node])
        else:
            rec.gauge(key, "node_nf_conntrack_entries", {}, np.round(9000 + 800 * t + w.noise(100)))
            rec.gauge(key, "node_nf_conntrack_entries_limit", {}, np.full(n, 131072.0))


def build_web(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series on the platform, with each of `inject`'s deltas added where it is read."""
    w = Web(seed, inject)
    e = simulate(w)
    demand = {pod: cpu_demand(w, pod, e) for pod in PODS}
    write_ingress_nginx(w, e)
    write_api(w, e)
    write_memcached(w, e)
    write_mysql(w, e)
    write_accounts(w, e)
    write_mongodb(w, e)
    write_feed(w, e)
    write_cassandra(w, e)
    write_media(w, e)
    write_minio(w, e)
    write_haproxy(w, e)
    write_celery(w, e)
    write_small(w)
    write_control_plane(w, e)
    write_kubelet(w, e, demand)
    write_kube_state_metrics(w)
    write_node_exporter(w, e, demand)
    w.rec.up()
    for row in w.rec.families["up"]:  # a target that did not answer for its minute: up 0
        if (down := w.down.get(row.target)) is not None:
            row.values[down] = 0.0
    return w.rec


# --- The scenarios ---------------------------------------------------------------------------------------

INGRESS_5XX = (
    'sum by (exported_namespace, ingress) (rate(nginx_ingress_controller_requests{exported_namespace="web", '
    'status=~"5.."}[5m]))\n  / sum by (exported_namespace, ingress) '
    '(rate(nginx_ingress_controller_requests{exported_namespace="web"}[5m])) > 0.05'
)
ACCOUNTS_P99 = (
    "histogram_quantile(0.99, sum by (le, namespace, service) (rate(http_request_duration_seconds_bucket"
    '{namespace="web", service="accounts"}[5m]))) > 0.25'
)


def cms_rollout(at: float) -> dict[str, Delta]:
    """A rollout of cms (unrelated): the new pod from `at`, the old one gone 40 s later, its start-up CPU."""
    return {f"start.{CMS_NEW}": at, f"stop.{CMS_OLD}": at + 40, "gen.cms": ramp(at, 1, 1)}


def storefront_scale_up(at: float) -> dict[str, Delta]:
    """The storefront's HPA adds a third replica (unrelated)."""
    return {f"start.{STOREFRONT_NEW}": at, "replicas.storefront": ramp(at, 1, 1)}


def _tomcat_deadlock() -> Scenario:
    on = hms(14, 22)
    return Scenario(
        "tomcat_deadlock",
        {
            f"deadlock.{API_A}": ramp(on, 1.0, 240),
            **cms_rollout(on - 150),
            **storefront_scale_up(on + 90),
        },
        Alert(
            "IngressHighHttp5xxRatio",
            INGRESS_5XX,
            {"exported_namespace": NAMESPACE, "ingress": "api"},
            starts=on + 7 * 60 + 30,  # for: 2m
            active=on + 5 * 60 + 30,
            extra={"severity": "critical", "team": "web"},
        ),
        Truth(
            ("api",),
            (
                "tomcat_threads_busy_threads",
                "tomcat_threads_current_threads",
                "tomcat_connections_current_connections",
                'jvm_threads_states_threads{state="blocked"}',
                "jvm_threads_live_threads",
            ),
            "a lock-order deadlock in api pod 4hq2x: 200/200 Tomcat threads BLOCKED, ingress times out on it",
            {"pod": API_A},
        ),
        build=build_web,
    )


def _memcached_limit() -> Scenario:
    on = hms(14, 48)
    return Scenario(
        "memcached_limit",
        {
            "memcached.limit": 256 * MiB,
            f"start.{MEMCACHED_NEW[0]}": on,
            f"stop.{MEMCACHED_OLD[0]}": on + 35,
            f"start.{MEMCACHED_NEW[1]}": on + 40,
            f"stop.{MEMCACHED_OLD[1]}": on + 75,
            "gen.catalog-memcached": ramp(on, 1, 1),
            **cms_rollout(on + 100),
            f"down.{INGRESS[0]}": on - 20 * 60,
        },
        Alert(
            "ApiLatencyHigh",
            "histogram_quantile(0.99, sum by (le, namespace, service) "
            '(rate(http_server_requests_seconds_bucket{namespace="web", service="api"}[5m]))) > 0.5',
            {"namespace": NAMESPACE, "service": "api"},
            starts=on + 6 * 60,  # for: 5m
            active=on + 60,
            extra={"severity": "critical", "team": "web"},
        ),
        Truth(
            ("catalog-memcached",),
            (
                "memcached_limit_bytes",
                "memcached_items_evicted_total",
                'memcached_commands_total{command="get",status="miss"}',
                "kube_deployment_metadata_generation",
                "kube_deployment_status_observed_generation",
                "kube_pod_container_info",
                "kube_pod_start_time",
                "container_start_time_seconds",
            ),
            "catalog-memcached redeployed with -m 256 (was 2048): cold, then evicting; reads go to MySQL",
            categories=("change.deployment",),
        ),
        build=build_web,
    )


def _mongo_cache() -> Scenario:
    on = hms(14, 10)
    return Scenario(
        "mongo_cache_pressure",
        {
            "mongo.pressure": climb(on, on + 15 * 60, 1.0),
            **cms_rollout(on + 9 * 60),
            f"down.{MONGO[2]}": on + 4 * 60,
        },
        Alert(
            "AccountsLatencyHigh",
            ACCOUNTS_P99,
            {"namespace": NAMESPACE, "service": "accounts"},
            starts=on + 14 * 60 + 30,  # for: 5m
            active=on + 9 * 60 + 30,
            extra={"severity": "critical", "team": "identity"},
        ),
        Truth(
            ("accounts-mongodb",),
            (
                "mongodb_ss_wt_cache_bytes_currently_in_the_cache",
                "mongodb_ss_wt_cache_tracked_dirty_bytes_in_the_cache",
                "mongodb_ss_wt_cache_pages_read_into_cache",
                "mongodb_ss_wt_cache_pages_evicted_by_application_threads",
                "mongodb_ss_wt_concurrentTransactions_available",
                "mongodb_ss_wt_concurrentTransactions_out",
                "mongodb_ss_globalLock_currentQueue",
            ),
            "the MongoDB primary's WiredTiger cache 96 % full, 21 % dirty: app threads evict",
            {"pod": MONGO[0]},
            categories=("dependency.service",),
        ),
        build=build_web,
    )


def _cassandra_compaction() -> Scenario:
    on = hms(13, 35)
    return Scenario(
        "cassandra_compaction",
        {
            "cassandra.stream": burst(on - 12 * 60, 1.6e7, 14 * 60),
            "cassandra.backlog": climb(on, on + 18 * 60, 1.0),
            **cms_rollout(on + 3 * 60),
            f"down.{CASSANDRA[0]}": on + 7 * 60,
        },
        Alert(
            "FeedErrorRatioHigh",
            'sum by (namespace, service) (rate(http_request_duration_seconds_count{namespace="web", '
            'service="feed", code=~"5.."}[5m]))\n  / sum by (namespace, service) '
            '(rate(http_request_duration_seconds_count{namespace="web", service="feed"}[5m])) > 0.02',
            {"namespace": NAMESPACE, "service": "feed"},
            starts=on + 13 * 60 + 15,  # for: 5m
            active=on + 8 * 60 + 15,
            extra={"severity": "critical", "team": "feed"},
        ),
        Truth(
            ("feed-cassandra",),
            (
                "cassandra_table_pendingcompactions",
                "cassandra_compaction_pendingtasks",
                "cassandra_table_livesstablecount",
                "cassandra_table_sstablesperreadhistogram_95thpercentile",
                'cassandra_threadpools_pendingtasks{threadpools="CompactionExecutor"}',
                "cassandra_compaction_bytescompacted",
                "cassandra_compaction_completedtasks",
            ),
            "feed-cassandra-1's compactions behind a repair's streamed SSTables: 900 pending, 20 per read",
            {"pod": CASSANDRA[1]},
            categories=("dependency.service",),
        ),
        build=build_web,
    )


def _etcd_fsync() -> Scenario:
    on = hms(15, 5)
    etcd = f'pod="{ETCD[M12]}"'
    disk = 'device="nvme0n1"'
    return Scenario(
        "etcd_slow_fsync",
        {
            f"disk.{M12}": ramp(on, 1.0, 120),
            "etcd.leader_moved": on + 200,
            **cms_rollout(on - 4 * 60),
        },
        Alert(
            "KubeAPIMutatingLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job) (rate(apiserver_request_duration_seconds_bucket"
            '{job="apiserver", verb=~"POST|PUT|PATCH|DELETE"}[5m]))) > 1',
            {"job": "apiserver"},
            starts=on + 6 * 60 + 15,  # for: 5m
            active=on + 75,
            extra={"severity": "warning"},
        ),
        Truth(
            ("etcd", M12),
            (
                f"etcd_disk_wal_fsync_duration_seconds{{{etcd}}}",
                f"etcd_disk_backend_commit_duration_seconds{{{etcd}}}",
                f"node_disk_write_time_seconds_total{{{disk}}}",
                f"node_disk_io_time_seconds_total{{{disk}}}",
                f"node_disk_io_time_weighted_seconds_total{{{disk}}}",
                'node_cpu_seconds_total{mode="iowait"}',
            ),
            "ip-10-0-0-12's gp2 volume out of burst credits: etcd's WAL fsync p99 ~1.5 s, its apiserver slow",
            categories=("resource.disk",),
        ),
        build=build_web,
    )


def _goroutine_leak() -> Scenario:
    leak_from = hms(12, 50)
    return Scenario(
        "goroutine_leak",
        {
            f"leak.{ACCOUNTS_A}": ramp(leak_from, 4.2, 600),
            f"leak.{ACCOUNTS_B}": ramp(leak_from, 5.0, 600),
            **cms_rollout(hms(15, 24)),
            **storefront_scale_up(hms(15, 20)),
        },
        Alert(
            "AccountsLatencyHigh",
            ACCOUNTS_P99,
            {"namespace": NAMESPACE, "service": "accounts"},
            starts=hms(15, 30, 45),  # for: 5m
            active=hms(15, 25, 45),
            extra={"severity": "critical", "team": "identity"},
        ),
        Truth(
            ("accounts",),
            (
                "go_goroutines",
                "go_memstats_heap_alloc_bytes",
                "go_memstats_heap_inuse_bytes",
                "go_memstats_stack_inuse_bytes",
                "go_gc_duration_seconds",
                "process_resident_memory_bytes",
                "container_memory_working_set_bytes",
                "container_memory_rss",
            ),
            "accounts leaks goroutines (~5/s, a handler never returns): heap at GOMEMLIMIT, GC thrashes",
            categories=("resource.memory",),
        ),
        build=build_web,
    )


def _haproxy_check() -> Scenario:
    on = hms(13, 52)
    server = 'server="legacy-2"'
    return Scenario(
        "haproxy_check_port",
        {"haproxy.reload": on, **cms_rollout(on - 90)},
        Alert(
            "HaproxyHighHttp5xxErrorRateBackend",
            '((sum by (proxy) (rate(haproxy_server_http_responses_total{code="5xx"}[1m])) / sum by (proxy) '
            "(rate(haproxy_server_http_responses_total[1m]))) * 100) > 5",
            {"proxy": "be_legacy"},
            starts=on + 90,  # for: 1m
            active=on + 30,
            extra={"severity": "critical"},
        ),
        Truth(
            ("legacy-haproxy",),
            (
                f"haproxy_server_status{{{server}}}",
                f"haproxy_server_check_status{{{server}}}",
                f"haproxy_server_check_failures_total{{{server}}}",
                f"haproxy_server_check_up_down_total{{{server}}}",
                'haproxy_backend_active_servers{proxy="be_legacy"}',
            ),
            "a config reload gave legacy-2 a wrong check port: DOWN (L4CON), legacy-1 alone overloads",
        ),
        build=build_web,
    )


def _minio_drive() -> Scenario:
    on = hms(15, 20)
    minio = f'pod="{MINIO[2]}"'
    disk = 'device="nvme1n1"'
    return Scenario(
        "minio_drive_offline",
        {
            "minio.drive": ramp(on, 1.0, 60),
            **cms_rollout(on + 2 * 60),
            f"down.{MINIO[3]}": on - 9 * 60,
        },
        Alert(
            "MediaUploadErrorRatioHigh",
            'sum by (namespace, service) (rate(http_requests_total{namespace="web", service="media-api", '
            'handler="/v1/uploads", status="5xx"}[5m]))\n  / sum by (namespace, service) '
            '(rate(http_requests_total{namespace="web", service="media-api", '
            'handler="/v1/uploads"}[5m])) > 0.05',
            {"namespace": NAMESPACE, "service": "media-api"},
            starts=on + 7 * 60 + 45,  # for: 5m
            active=on + 2 * 60 + 45,
            extra={"severity": "critical", "team": "media"},
        ),
        Truth(
            ("media-minio", W43),
            (
                f"minio_node_drive_errors_timeout{{{minio}}}",
                f"minio_node_drive_errors_availability{{{minio}}}",
                f"minio_node_drive_latency_us{{{minio}}}",
                f"minio_node_drive_offline_total{{{minio}}}",
                f"minio_node_drive_online_total{{{minio}}}",
                "minio_cluster_drive_offline_total",
                "minio_cluster_drive_online_total",
                f"node_disk_io_time_seconds_total{{{disk}}}",
                f"node_disk_io_time_weighted_seconds_total{{{disk}}}",
                f"node_disk_write_time_seconds_total{{{disk}}}",
            ),
            "media-minio-2's drive (nvme1n1 on ip-10-0-4-43) hangs: I/O timeouts, MinIO flaps it offline",
            categories=("resource.disk",),
        ),
        build=build_web,
    )


def _celery_scaled_down() -> Scenario:
    on = hms(13, 15)
    return Scenario(
        "celery_scaled_down",
        {
            "replicas.celery-worker": ramp(on, -3, 1),
            "gen.celery-worker": ramp(on, 1, 1),
            **{f"stop.{pod}": on + 30 for pod in WORKERS_CELERY[1:]},
            **cms_rollout(on + 5 * 60),
        },
        Alert(
            "CeleryHighQueueLength",
            "sum by (job, queue_name) (celery_queue_length) > 1000",
            {"job": "celery-exporter", "queue_name": "thumbnails"},
            starts=on + 15 * 60,  # for: 5m
            active=on + 10 * 60,
            extra={"severity": "warning", "team": "media"},
        ),
        Truth(
            ("celery-worker",),
            (
                'kube_deployment_spec_replicas{deployment="celery-worker"}',
                'kube_deployment_status_replicas_available{deployment="celery-worker"}',
                'kube_deployment_metadata_generation{deployment="celery-worker"}',
                'kube_deployment_status_observed_generation{deployment="celery-worker"}',
                "container_cpu_usage_seconds_total",
                "container_cpu_cfs_throttled_periods_total",
            ),
            "celery-worker scaled from 4 replicas to 1 (a values change): 5.7 tasks/s taken of ~8 queued",
            categories=("change.deployment",),
        ),
        build=build_web,
    )


def _conntrack_full() -> Scenario:
    on = hms(14, 36)
    return Scenario(
        "conntrack_limit",
        {
            f"conntrack.limit.{W42}": on,
            **cms_rollout(on - 60),
            **storefront_scale_up(on - 3 * 60),
        },
        Alert(
            "IngressHighHttp5xxRatio",
            INGRESS_5XX,
            {"exported_namespace": NAMESPACE, "ingress": "api"},
            starts=on + 6 * 60 + 45,  # for: 2m
            active=on + 4 * 60 + 45,
            extra={"severity": "critical", "team": "web"},
        ),
        Truth(
            (W42,),
            (
                "node_nf_conntrack_entries_limit",
                "node_nf_conntrack_entries",
                "node_nf_conntrack_stat_drop",
                "node_nf_conntrack_stat_early_drop",
                "node_nf_conntrack_stat_insert_failed",
            ),
            "ip-10-0-4-42's nf_conntrack_max lowered to 65,536 (a sysctl DaemonSet): new flows dropped",
            categories=("network",),
        ),
        build=build_web,
    )


PLATFORM_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _tomcat_deadlock(),
        _memcached_limit(),
        _mongo_cache(),
        _cassandra_compaction(),
        _etcd_fsync(),
        _goroutine_leak(),
        _haproxy_check(),
        _minio_drive(),
        _celery_scaled_down(),
        _conntrack_full(),
    )
}
