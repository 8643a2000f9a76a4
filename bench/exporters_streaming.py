"""Ten incidents on a data/streaming platform, as real exporters write them (the third set of
`bench.exporters`, `--set streaming`).

Namespace `data` on three 8-core nodes, 2026-12-04 11:00-16:00Z on the grid, targets and noise of
`bench.exporters_data.Recording`. Events arrive at `ingest-api` (Spring Boot, Micrometer's Kafka producer
metrics), go to Kafka `events.raw`, are enriched by a Kafka Streams app (`enricher`, looking profiles up in
the Redis `feature-cache`) into `events.enriched`, which a Go `events-loader` inserts into ClickHouse (two
replicas of a ReplicatedMergeTree, coordinated by ZooKeeper) and a Flink job (`sessionizer`) turns into
sessions in Elasticsearch. A Kafka Connect cluster (`cdc-connect`) runs Debezium on the orders database
(`orders.public.*` topics) and a JDBC sink into the `analytics-pg` PostgreSQL.

The exporters as a kube-prometheus-stack installation scrapes them: the Kafka cluster `events` run by
Strimzi (KRaft, one node pool `kafka`: pods `events-kafka-0..2`, the JMX exporter with Strimzi's rules
behind the `kafka-resources-metrics` PodMonitor: `kafka_server_brokertopicmetrics_messagesin_total{topic}`,
`kafka_server_replicamanager_underreplicatedpartitions`, `kafka_log_log_size{topic,partition}`,
`strimzi_io_*` and `node_name` labels), Strimzi's kafka_exporter (`kafka_consumergroup_lag{consumergroup,
topic,partition}`, `kafka_topic_partition_in_sync_replica`), Kafka Connect's and Debezium's JMX metrics,
Flink's PrometheusReporter (`flink_jobmanager_job_lastCheckpointDuration{job_name,job_id}`,
`flink_taskmanager_job_task_backPressuredTimeMsPerSecond{task_name,subtask_index,...}`, counters written as
gauges), the prometheus-community elasticsearch_exporter as one Deployment reporting every Elasticsearch
node by its `name` (`elasticsearch_thread_pool_rejected_count{type}`, a counter without `_total`),
redis_exporter, ClickHouse's own endpoint (`ClickHouseProfileEvents_*` counters without `_total`,
`ClickHouseMetrics_*`, `ClickHouseAsyncMetrics_*`), ZooKeeper's Prometheus metrics provider (`znode_count`,
`fsynctime`, unprefixed), postgres_exporter, cAdvisor and the kubelet's volume stats
(`kubelet_volume_stats_available_bytes{persistentvolumeclaim}`) under the kubelet's labels,
kube-state-metrics with honorLabels, node-exporter in `monitoring` (its filesystem collector leaves the
kubelet's volume mounts out, as the chart configures it; the disks are `node_disk_*{device}`).

What Kubernetes and the processes do is written as they do it: a crash-looping container comes back with a
new container `id` and its process' counters from zero (`up` 0 while it is down), a pod that Strimzi rolls
is recreated under the same name with a new uid, a Deployment's rollout brings pods with new names.

The unrelated movers: the day's traffic, a lunchtime hump and the US morning (about 2x from 14:00Z); the
hourly `dbt-run` CronJob (`0 * * * *`, 1.6 cores for 8-12 minutes, heavy SELECTs on ClickHouse' second
replica); a rollout of `superset` a few minutes from each incident; in redis_backfill a rolling restart of a
Kafka broker. Each scenario's truth names the component whose series carry the cause (a workload or a
node), the cause's metric families and the label values that single out its series.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

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
from bench.exporters_infra import mask, reset_counters, stable, uid_of
from bench.exporters_scenarios import Alert, Scenario, Truth, active_from, hms, ramp

NAMESPACE = "data"
NODES = {"ip-10-0-3-31": "10.0.3.31", "ip-10-0-3-32": "10.0.3.32", "ip-10-0-3-33": "10.0.3.33"}
CORES = 8.0  # per node
N31, N32, N33 = NODES
BROKERS = ("events-kafka-0", "events-kafka-1", "events-kafka-2")
KAFKA_EXPORTER = "events-kafka-exporter-6c8d9f7b5-x7k2m"
CONNECT = "cdc-connect-0"
INGEST = ("ingest-api-5f8c7d9b6-k2m7p", "ingest-api-5f8c7d9b6-w9q4t")
ENRICHER_A, ENRICHER_B = "enricher-7b9d8c6f5-h4x2n", "enricher-7b9d8c6f5-r8v6c"
LOADER_A, LOADER_B = "events-loader-6d7f9b8c5-t5z8q", "events-loader-6d7f9b8c5-c3j9w"
LOADER_NEW_A, LOADER_NEW_B = "events-loader-84b6c7d9f-m2p6s", "events-loader-84b6c7d9f-x7r4d"
JOBMANAGER = "sessionizer-6f9d8b7c4-j5k8p"
TASKMANAGERS = ("sessionizer-taskmanager-1-1", "sessionizer-taskmanager-1-2")
ES_NODES = ("search-es-data-0", "search-es-data-1", "search-es-data-2")
ES_EXPORTER = "elasticsearch-exporter-7d5c9b8f6-q4n7r"
KIBANA = "search-kb-6c5d8b7f9-t2r5w"
REDIS = "feature-cache-master-0"
CLICKHOUSE = ("chi-events-main-0-0-0", "chi-events-main-0-1-0")
ZOOKEEPER = ("zookeeper-0", "zookeeper-1", "zookeeper-2")
PG = "analytics-pg-0"
SUPERSET_OLD, SUPERSET_NEW = "superset-6b7c8d9f5-f6g2k", "superset-79d8c6b4f-p3n8z"
BACKFILL = "profile-backfill-x8k2q"  # a one-off Job's pod (scenario redis_backfill)
MIGRATE = "analytics-migrate-5-j7w2d"  # a Helm pre-upgrade hook's Job pod (scenario pg_sink_lock)
# pod: (workload/service, container, node, ip, port)
PODS: dict[str, PodSpec] = {
    BROKERS[0]: ("events-kafka", "kafka", N31, "10.46.1.20", 9404),
    BROKERS[1]: ("events-kafka", "kafka", N32, "10.46.2.20", 9404),
    BROKERS[2]: ("events-kafka", "kafka", N33, "10.46.3.20", 9404),
    KAFKA_EXPORTER: ("events-kafka-exporter", "events-kafka-exporter", N32, "10.46.2.31", 9404),
    CONNECT: ("cdc-connect", "cdc-connect", N31, "10.46.1.35", 9404),
    INGEST[0]: ("ingest-api", "ingest-api", N31, "10.46.1.41", 8080),
    INGEST[1]: ("ingest-api", "ingest-api", N33, "10.46.3.41", 8080),
    ENRICHER_A: ("enricher", "enricher", N31, "10.46.1.52", 8080),
    ENRICHER_B: ("enricher", "enricher", N32, "10.46.2.52", 8080),
    LOADER_A: ("events-loader", "events-loader", N32, "10.46.2.61", 9102),
    LOADER_B: ("events-loader", "events-loader", N33, "10.46.3.61", 9102),
    LOADER_NEW_A: ("events-loader", "events-loader", N32, "10.46.2.77", 9102),
    LOADER_NEW_B: ("events-loader", "events-loader", N33, "10.46.3.79", 9102),
    JOBMANAGER: ("sessionizer", "flink-main-container", N31, "10.46.1.70", 9249),
    TASKMANAGERS[0]: ("sessionizer", "flink-main-container", N32, "10.46.2.71", 9249),
    TASKMANAGERS[1]: ("sessionizer", "flink-main-container", N33, "10.46.3.71", 9249),
    ES_NODES[0]: ("search-es-data", "elasticsearch", N31, "10.46.1.80", 9200),
    ES_NODES[1]: ("search-es-data", "elasticsearch", N32, "10.46.2.80", 9200),
    ES_NODES[2]: ("search-es-data", "elasticsearch", N33, "10.46.3.80", 9200),
    ES_EXPORTER: ("elasticsearch-exporter", "exporter", N33, "10.46.3.88", 9108),
    KIBANA: ("search-kb", "kibana", N31, "10.46.1.89", 5601),
    REDIS: ("feature-cache-master", "redis", N32, "10.46.2.90", 9121),
    CLICKHOUSE[0]: ("clickhouse", "clickhouse", N32, "10.46.2.100", 9363),
    CLICKHOUSE[1]: ("clickhouse", "clickhouse", N33, "10.46.3.100", 9363),
    ZOOKEEPER[0]: ("zookeeper", "zookeeper", N31, "10.46.1.110", 9141),
    ZOOKEEPER[1]: ("zookeeper", "zookeeper", N32, "10.46.2.110", 9141),
    ZOOKEEPER[2]: ("zookeeper", "zookeeper", N33, "10.46.3.110", 9141),
    PG: ("analytics-pg", "postgresql", N31, "10.46.1.120", 9187),
    SUPERSET_OLD: ("superset", "superset", N33, "10.46.3.130", 8088),
    SUPERSET_NEW: ("superset", "superset", N33, "10.46.3.131", 8088),
    BACKFILL: ("profile-backfill", "backfill", N31, "10.46.1.140", 0),
    MIGRATE: ("analytics-migrate", "flyway", N31, "10.46.1.141", 0),
}
# The dbt-run CronJob (`0 * * * *`): a Job and its pod per run, named after the scheduled minute, 8-12 minutes
# of 1.6 cores each, on the nodes in turn; no Service scrapes it.
DBT_RUNS: dict[str, tuple[float, float]] = {}  # pod: (started, finished)
for _k, _minute in enumerate(range(int(START // 60), int(END // 60), 60)):
    _pod = f"dbt-run-{_minute}-{'bcdfghjklmnpqrstvwxz'[_k * 7 % 20]}{_k * 3 % 10}t{_k * 7 % 10}k"
    _node = (N31, N33, N32)[_k % 3]
    PODS[_pod] = ("dbt-run", "dbt", _node, f"10.46.{_node[-1]}.{150 + _k}", 0)
    DBT_RUNS[_pod] = (_minute * 60 + 8.0, _minute * 60 + 8.0 + 60.0 * (8 + _k * 3 % 5))
LATER = {
    LOADER_NEW_A,
    LOADER_NEW_B,
    SUPERSET_NEW,
    BACKFILL,
    MIGRATE,
}  # exist only once a scenario starts them
DEPLOYMENTS = (
    "ingest-api",
    "enricher",
    "events-loader",
    "sessionizer",
    "elasticsearch-exporter",
    "events-kafka-exporter",
    "search-kb",
    "superset",
)
IMAGES = {
    "events-kafka": "quay.io/strimzi/kafka:0.45.0-kafka-3.9.0",
    "events-kafka-exporter": "quay.io/strimzi/kafka:0.45.0-kafka-3.9.0",
    "cdc-connect": "registry.local/data/cdc-connect:3.9.0-debezium-2.7.3",
    "events-loader": "registry.local/data/events-loader:3.4.0",
    "clickhouse": "clickhouse/clickhouse-server:24.8.6.70",
    "zookeeper": "bitnami/zookeeper:3.9.3",
    "search-es-data": "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
    "feature-cache-master": "bitnami/redis:7.4.1",
    "analytics-pg": "bitnami/postgresql:16.4.0",
    "superset": "apache/superset:4.0.2",
}
CPU_LIMIT = {  # cores; dbt-run, the backfill and the migration have none
    "events-kafka": 4.0,
    "cdc-connect": 2.0,
    "ingest-api": 1.0,
    "enricher": 2.0,
    "events-loader": 1.0,
    "sessionizer": 2.0,
    "search-es-data": 4.0,
    "clickhouse": 6.0,
    "zookeeper": 1.0,
    "analytics-pg": 2.0,
    "feature-cache-master": 1.0,
    "superset": 1.0,
}
GiB = float(2**30)
MEMORY_LIMIT = {  # bytes; 1 GiB for the others
    "events-kafka": 12 * GiB,
    "cdc-connect": 4 * GiB,
    "enricher": 3 * GiB,
    "sessionizer": 6 * GiB,
    "search-es-data": 16 * GiB,
    "clickhouse": 24 * GiB,
    "feature-cache-master": 5 * GiB,
    "analytics-pg": 8 * GiB,
    "superset": 2 * GiB,
    "dbt-run": 4 * GiB,
}
KSM_INSTANCE = "10.46.2.4:8080"
EVENTS = 1500.0  # events/s into events.raw at traffic 1
TOPICS = {  # topic: (partitions, bytes per message on disk, steady log size per partition)
    "events.raw": (8, 220.0, 4.1e9),
    "events.enriched": (8, 340.0, 6.3e9),
    "orders.public.orders": (3, 900.0, 3.9e9),
    "orders.public.order_items": (3, 650.0, 9.6e9),
    "events.dlq": (1, 800.0, 2.2e8),
}
SEGMENT = float(2**30)
KAFKA_VOLUME = 150 * GiB
KAFKA_USED = {BROKERS[0]: 0.705, BROKERS[1]: 0.774, BROKERS[2]: 0.712}  # share of the volume at 11:00
ENRICHER_CAPACITY = 1800.0  # events/s per pod, all its partitions' tasks
BATCH_MAX = 5000.0  # rows per ClickHouse insert, the loader's cap
PARTS_TO_DELAY, PARTS_TO_THROW = 150.0, 300.0  # the events table's MergeTree settings
CH_TABLES = 6.0  # replicated tables per ClickHouse replica
ZK_VOLUME = 8 * GiB
SNAPSHOT_BYTES = 1.6e8  # a ZooKeeper snapshot and its transaction log
CHECKPOINT_INTERVAL, CHECKPOINT_TIMEOUT = 60.0, 600.0  # the sessionizer's
ES_HEAP = 8 * GiB
REDIS_MAXMEMORY = 4 * GiB
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


def traffic_curve(rec: Recording) -> np.ndarray:
    """The platform's load: a lunchtime hump at 12:20 and the US morning from 14:00 (about 2x by 15:00)."""
    hours = (rec.grid - DAY0) / 3600.0
    lunch = 0.25 * np.exp(-(((hours - 12.33) / 0.6) ** 2))
    us = 0.95 / (1 + np.exp(-(hours - 14.2) / 0.35))
    return 0.8 + lunch + us


# --- Pods: what exists when, and each container's lives --------------------------------------------------


class Platform(Injected):
    """The namespace's pods and what the scenario injects; each container's lives (a restart ends one)."""

    def __init__(self, seed: int, inject: Mapping[str, Delta]) -> None:
        super().__init__(Recording(seed, PODS, NODES), inject)
        self.traffic = traffic_curve(self.rec)
        self.exists = {pod: self._existence(pod) for pod in PODS}
        self.lives: dict[str, list[tuple[int, int]]] = {pod: self._first_life(pod) for pod in PODS}
        self.recreated: set[str] = set()  # deleted and created again under the same name (a new uid)
        self.down: dict[str, np.ndarray] = {}  # scrape targets whose container is not running

    def index(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.grid, t), 0, self.n))

    def _existence(self, pod: str) -> np.ndarray:
        start, stop = DBT_RUNS.get(pod) or (self.at(f"start.{pod}"), self.at(f"stop.{pod}"))
        if pod in LATER and start is None:
            return np.zeros(self.n, bool)
        alive = np.ones(self.n, bool)
        if start is not None:
            alive &= self.grid >= start
        if stop is not None:
            alive &= self.grid < stop
        return alive

    def _first_life(self, pod: str) -> list[tuple[int, int]]:
        where = np.flatnonzero(self.exists[pod])
        return [(int(where[0]), int(where[-1]) + 1)] if len(where) else []

    def running(self, pod: str) -> np.ndarray:
        """The grid points its container runs at."""
        out = np.zeros(self.n, bool)
        for life in self.lives[pod]:
            out |= mask(self.n, life)
        return out

    def started(self, pod: str, life: int = 0) -> float:
        """When the container's `life` began (the pod's first container: days before the window)."""
        begin = self.lives[pod][life][0] if self.lives[pod] else 0
        return float(self.grid[begin]) if begin > 0 else START - 86400 * 3 - 3600 * (len(pod) % 7)

    def recreate(self, pod: str, at: float, gone: float) -> None:
        """Strimzi rolls the pod: deleted at `at`, running again `gone` seconds later under a new uid."""
        i, j = self.index(at), self.index(at + gone)
        self.exists[pod][i:j] = False
        self.lives[pod] = [(0, i), (j, self.n)]
        self.recreated.add(pod)

    def scrape(self, pod: str, labels: Mapping[str, str], miss: float = 0.01, subject: str = "") -> None:
        """The pod's scrape target: listed while the pod exists, failing while its container is down."""
        target = self.rec.target(pod, labels, miss=miss, alive=self.exists[pod], subject=subject)
        down = self.exists[pod] & ~self.running(pod)
        if down.any():
            target.keep[down] = False
            self.down[pod] = down


def crash_lives(p: Platform, first_ends: int, life: float) -> list[tuple[int, int]]:
    """A container that dies at grid index `first_ends` and `life` seconds after each restart, in
    CrashLoopBackOff (10 s doubling to 300 s): its lives as grid index ranges."""
    lives, i, backoff = [(0, first_ends)], first_ends, 10.0
    while True:
        begin = i + max(1, math.ceil(backoff / STEP))
        if begin >= p.n:
            return lives
        end = min(p.n, begin + max(1, round(life / STEP)))
        lives.append((begin, end))
        i, backoff = end, min(300.0, backoff * 2)


def drain(inflow: np.ndarray, capacity: np.ndarray, waiting: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """What waits (messages) and what is taken per second when `inflow` arrives and `capacity` is taken."""
    backlog, taken = np.empty(len(inflow)), np.empty(len(inflow))
    for i, (rate, cap) in enumerate(zip(inflow, capacity, strict=True)):
        take = min(cap * STEP, waiting + rate * STEP)
        waiting += rate * STEP - take
        backlog[i], taken[i] = waiting, take / STEP
    return backlog, taken


# --- The flows: what each stage takes, holds back and writes ---------------------------------------------

Partition = tuple[str, str]  # topic, partition


@dataclass
class Flows:
    """The pipeline over the grid, per second unless said (pure numbers; the exporters below write them)."""

    raw: np.ndarray  # events produced to events.raw
    enriched: np.ndarray  # events the enricher took from events.raw and produced to events.enriched
    enricher_backlog: np.ndarray  # messages
    enricher_b: np.ndarray  # enricher B's share of the group's work
    enricher_ws: np.ndarray  # enricher B's working set, bytes
    redis_used: np.ndarray  # bytes
    backfilled: np.ndarray  # keys the backfill SET (no TTL), cumulative
    evictions: np.ndarray
    miss_ratio: np.ndarray  # of the enricher's profile lookups
    loaded: np.ndarray  # rows the loader inserted into ClickHouse
    loader_backlog: np.ndarray
    inserts_ok: np.ndarray
    inserts_rejected: np.ndarray  # TOO_MANY_PARTS
    inserts_failed: np.ndarray  # TABLE_IS_READ_ONLY
    insert_seconds: np.ndarray
    delay_ms: np.ndarray
    parts: np.ndarray  # the events table's largest partition's active parts
    merges: np.ndarray  # parts merged away
    mutation: np.ndarray  # 0..1: an ALTER ... UPDATE mutation holds the merge pool
    readonly: np.ndarray  # 0/1: ClickHouse without a ZooKeeper session
    sessions_in: np.ndarray  # records the sessionizer read
    sessionizer_backlog: np.ndarray
    backpressure: np.ndarray  # 0..1
    es_pressure: np.ndarray  # 0..1, heap pressure on search-es-data-1
    orders: np.ndarray  # CDC messages
    items: np.ndarray
    snapshot: np.ndarray  # Debezium's incremental snapshot of order_items
    sink: np.ndarray  # rows the JDBC sink wrote
    sink_backlog: dict[str, np.ndarray]  # per topic
    blocked: np.ndarray  # 0/1: the sink's upserts wait on a lock
    producer_ms: np.ndarray  # ingest-api's producer request latency
    reassign: np.ndarray  # 0..1: an unthrottled partition reassignment
    slow_disk: np.ndarray  # 0..1: ip-10-0-3-33's nvme1n1 (events-kafka-2's volume) saturated
    out_of_sync: dict[Partition, np.ndarray]  # bool: a replica out of the ISR
    leader: dict[Partition, np.ndarray]  # the broker index leading it
    zk_free: dict[str, np.ndarray]  # bytes free on each ZooKeeper volume
    zk_lost: float | None  # when the quorum was lost


def partitions(topic: str) -> list[str]:
    return [str(k) for k in range(TOPICS[topic][0])]


def preferred_leader(topic: str, partition: str) -> int:
    return (int(partition) + len(topic)) % 3


def simulate(p: Platform) -> Flows:
    """Every stage of the pipeline over the grid, in the order data flows through it."""
    n, t, noise = p.n, p.traffic, p.rec.noise
    raw = EVENTS * t * np.exp(noise(0.02))

    # ---- the feature cache: keys SET without a TTL fill it to maxmemory, then it evicts
    backfill = np.clip(p.added("redis.backfill"), 0, None)
    backfilled = np.cumsum(backfill * STEP)
    want = 2.62e9 + 38e6 * np.sin((p.grid - START) / 5400) + 690.0 * backfilled + noise(4e6)
    redis_used = np.minimum(want, REDIS_MAXMEMORY - np.abs(noise(2e5)))
    evictions = np.where(want >= REDIS_MAXMEMORY, backfill * 1.15 + np.abs(noise(20)), 0.0)
    evicted = np.cumsum(evictions * STEP)
    miss_ratio = np.clip(0.03 + 0.3 * evicted / (evicted + 4e5) + np.abs(noise(0.003)), 0, 1)

    # ---- the enricher: B's RocksDB grows with a leak to its 3 GiB limit, and every restart restores it
    per_pod = ENRICHER_CAPACITY / (1 + 3 * (miss_ratio - 0.03))
    state = np.cumsum(p.added(f"leak.{ENRICHER_B}") * STEP)
    ws = 1.72e9 + state + noise(6e6)
    over = np.flatnonzero(ws >= MEMORY_LIMIT["enricher"])
    serving = np.ones(n, bool)
    cap = 2 * per_pod
    if len(over):
        kill = int(over[0]) + 1
        p.lives[ENRICHER_B] = crash_lives(p, kill, 45.0)
        for begin, end in p.lives[ENRICHER_B][1:]:
            ws[begin:end] = np.minimum(
                0.95e9 + 4e7 * STEP * np.arange(1, end - begin + 1), MEMORY_LIMIT["enricher"]
            )
        serving[kill:] = False
        # B's tasks stall for the session timeout (45 s), A restores their state (2 min), then runs all 8
        cap[kill : kill + 3] = per_pod[kill : kill + 3]
        cap[kill + 3 : kill + 11] = per_pod[kill + 3 : kill + 11] * 1.05
        cap[kill + 11 :] = per_pod[kill + 11 :]
    ws[~p.running(ENRICHER_B)] = np.nan
    enricher_backlog, enriched = drain(raw, cap, 900.0)

    # ---- ZooKeeper: a full volume ends a server (it crash-loops); two of three end the quorum
    full = {pod: p.at(f"zk.full.{pod}") for pod in ZOOKEEPER}
    ends = sorted(when for when in full.values() if when is not None)
    zk_lost = ends[1] + 10.0 if len(ends) >= 2 else None
    readonly = (p.grid >= zk_lost + 20.0).astype(float) if zk_lost is not None else np.zeros(n)
    zk_free = {}
    for k, pod in enumerate(ZOOKEEPER):
        when = full[pod]
        if when is None:  # autopurge keeps three snapshots: a sawtooth
            zk_free[pod] = 5.1e9 - 0.3e9 * k - SNAPSHOT_BYTES * (((p.grid + 311 * k) % 1020) / 1020)
            continue
        p.lives[pod] = crash_lives(p, p.index(when), 30.0)
        period = 1020.0 - 45 * k  # a snapshot each 50,000 transactions, none purged
        snapshots = np.floor(np.clip(when - p.grid, 0, None) / period)
        zk_free[pod] = SNAPSHOT_BYTES * snapshots + np.where(p.grid < when, 3.1e7, 0.0)

    # ---- the loader and ClickHouse: each insert makes a part, merges take parts away
    mutation = np.clip(p.added("ch.mutation"), 0, 1)
    loaders = [pod for pod in (LOADER_A, LOADER_B, LOADER_NEW_A, LOADER_NEW_B) if p.exists[pod].any()]
    flush = {pod: 0.5 if pod in (LOADER_NEW_A, LOADER_NEW_B) else 2.0 for pod in loaders}
    parts, waiting, backoff = 33.0, 3000.0, 0
    keys = ("loaded", "backlog", "ok", "rejected", "failed", "seconds", "delay", "parts", "merged")
    out = {key: np.zeros(n) for key in keys}
    merge_noise = np.exp(noise(0.1))
    for i in range(n):
        live = [pod for pod in loaders if p.exists[pod][i]]
        over_delay = (parts - PARTS_TO_DELAY + 1) / (PARTS_TO_THROW - PARTS_TO_DELAY)
        delay = 1000.0**over_delay if parts > PARTS_TO_DELAY else 0.0
        seconds = 0.22 + 1.1 * mutation[i] + delay / 1000.0
        ok = rejected = failed = 0.0
        if readonly[i]:
            failed = len(live) / 10.0  # each loader retries every 10 s
        elif backoff > 0:
            backoff -= 1
        elif parts >= PARTS_TO_THROW - 1:
            rejected, backoff = len(live) / STEP, 2  # one insert each, then 30 s of back-off
        else:
            ok = sum(1 / (flush[pod] + seconds) for pod in live)
        arrived = enriched[i] * STEP
        loaded = min(waiting + arrived, ok * STEP * BATCH_MAX)
        waiting += arrived - loaded
        capacity = 1.4 * (1 - 0.75 * mutation[i]) * merge_noise[i] * (1 - readonly[i])
        merged = capacity * float(np.clip((parts - 8) / 40, 0, 1))
        parts = float(np.clip(parts + (ok - merged) * STEP, 1, PARTS_TO_THROW))
        values = (loaded / STEP, waiting, ok, rejected, failed, seconds, delay, parts, merged)
        for key, value in zip(keys, values, strict=True):
            out[key][i] = value

    # ---- Elasticsearch and the sessionizer (Flink) whose sink writes sessions into it
    es_pressure = np.clip(p.added("es.fielddata") / 2.6e9, 0, 1)
    sink_cap = 4200.0 * (1 - 0.8 * np.clip((es_pressure - 0.55) / 0.35, 0, 1))
    sessionizer_backlog, sessions_in = drain(enriched, sink_cap, 2000.0)
    backpressure = np.clip(3 * ((enriched + sessionizer_backlog / 60.0) / sink_cap - 0.85), 0, 1)

    # ---- Debezium and the JDBC sink into analytics-pg (three tasks, each with partitions of both topics)
    orders = 150 * (0.7 + 0.3 * t) * np.exp(noise(0.05))
    items = 80 * (0.7 + 0.3 * t) * np.exp(noise(0.05))
    snapshot = np.clip(p.added("cdc.snapshot"), 0, None)
    blocked = np.clip(p.added("pg.index_build"), 0, 1)
    inflow = orders + items + snapshot
    sink_backlog_all, sink = drain(inflow, 900.0 * (1 - blocked), 60.0)
    share = (orders + 1e-9) / inflow
    backlog_orders, _ = drain(orders, 900.0 * (1 - blocked) * share, 40.0)
    sink_backlog = {
        "orders.public.orders": backlog_orders,
        "orders.public.order_items": np.clip(sink_backlog_all - backlog_orders, 0, None),
    }

    # ---- the brokers: who leads each partition, which replicas fall out of the ISR, produce latency
    reassign = np.clip(p.added("kafka.reassign"), 0, 1)
    slow_disk = np.clip(p.added(f"disk.{N33}.nvme1n1"), 0, 1)
    producer_ms = 4.0 * (1 + 0.15 * t) + 450 * reassign + 28 * slow_disk + np.abs(noise(0.4))
    behind = slow_disk > 0.6
    lagging = np.concatenate([np.zeros(3, bool), behind[:-3]])  # replica.lag.time.max.ms, 30 s
    lagging &= (np.arange(n) % 29) != 0  # it catches up now and then, and falls out again
    out_of_sync, leader = {}, {}
    roll = p.at(f"roll.{BROKERS[1]}")
    for topic in TOPICS:
        for q in partitions(topic):
            preferred = preferred_leader(topic, q)
            lead = np.full(n, float(preferred))
            lost = np.zeros(n, bool)
            if topic in ("events.raw", "events.enriched") and preferred != 2:
                lost |= lagging  # events-kafka-2 cannot keep up on its saturated volume
            if roll is not None:
                i, j = p.index(roll), p.index(roll + 75.0)
                lost[i : min(n, j + 12 + int(q) % 5)] = True  # down, then catching up
                if preferred == 1:
                    lead[i : min(n, j + 20)] = 0.0 if len(topic) % 2 else 2.0  # until the preferred election
            out_of_sync[(topic, q)] = lost
            leader[(topic, q)] = lead
    if roll is not None:
        p.recreate(BROKERS[1], roll, 75.0)
        i = p.index(roll)
        producer_ms[i : i + 2] += 60.0
    return Flows(
        raw,
        enriched,
        enricher_backlog,
        np.where(serving, 0.5, 0.0),
        ws,
        redis_used,
        backfilled,
        evictions,
        miss_ratio,
        out["loaded"],
        out["backlog"],
        out["ok"],
        out["rejected"],
        out["failed"],
        out["seconds"],
        out["delay"],
        out["parts"],
        out["merged"],
        mutation,
        readonly,
        sessions_in,
        sessionizer_backlog,
        backpressure,
        es_pressure,
        orders,
        items,
        snapshot,
        sink,
        sink_backlog,
        blocked,
        producer_ms,
        reassign,
        slow_disk,
        out_of_sync,
        leader,
        zk_free,
        zk_lost,
    )


@dataclass
class Checkpoints:
    """The sessionizer's checkpoints over the grid: what its JobManager reports, what it commits."""

    last_ms: np.ndarray  # lastCheckpointDuration
    last_size: np.ndarray
    completed: np.ndarray  # cumulative
    failed: np.ndarray
    in_progress: np.ndarray
    committed: np.ndarray  # records read up to the last completed checkpoint's barrier, cumulative


def checkpoints(p: Platform, f: Flows) -> Checkpoints:
    """Every 60 s a checkpoint; its barrier waits behind backpressured buffers (aligned checkpoints), so its
    duration grows with backpressure; the source commits offsets when one completes."""
    read = np.cumsum(f.sessions_in * STEP)
    draws = np.exp(p.rec.noise(0.25, ar=0.0))
    last_ms, last_size, completed, failed, in_progress, committed = (np.zeros(p.n) for _ in range(6))
    trigger, done, fails, last, size, mark, k = START - 41.0, 0, 0, 4200.0, 2.3e8, 0.0, 0
    events: list[tuple[float, float, bool, float, float]] = []  # (trigger, end, ok, duration, committed)
    while trigger < END:
        i = p.index(trigger) if trigger >= START else 0
        duration = (3.6 + 1.8 * draws[(k * 7) % p.n]) * (1 + 0.2 * p.traffic[i]) + 240 * f.backpressure[i]
        duration *= 1 + 0.3 * f.backpressure[i] * (draws[(k * 11) % p.n] - 1)
        ok = duration < CHECKPOINT_TIMEOUT
        end = trigger + (duration if ok else CHECKPOINT_TIMEOUT)
        events.append((trigger, end, ok, duration, float(np.interp(trigger, p.grid, read))))
        trigger = max(trigger + CHECKPOINT_INTERVAL, end)
        k += 1
    j = 0
    for i, now in enumerate(p.grid):
        while j < len(events) and events[j][1] <= now:
            _, _, ok, duration, upto = events[j]
            if ok:
                done, last, mark = done + 1, duration * 1000.0, upto
                size = 2.3e8 * (0.8 + 0.4 * draws[(j * 5) % p.n]) * (1 + 0.6 * f.backpressure[i])
            else:
                fails += 1
            j += 1
        running = j < len(events) and events[j][0] <= now
        last_ms[i], last_size[i], completed[i], failed[i] = last, size, 17420 + done, 3 + fails
        in_progress[i], committed[i] = float(running), mark
    return Checkpoints(last_ms, last_size, completed, failed, in_progress, committed)


# --- Scrape labels ----------------------------------------------------------------------------------------


def service_monitor(pod: str, service: str, endpoint: str, container: str | None = None) -> dict[str, str]:
    """The labels a ServiceMonitor of the pod's Service gives its scrapes."""
    return service_monitor_labels(NAMESPACE, pod, PODS[pod], service, endpoint, container)


def pod_monitor(
    pod: str, monitor: str, endpoint: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The labels a PodMonitor gives its scrapes (`job` is `<namespace>/<monitor>`, no `service`)."""
    _, cont, _, ip, port = PODS[pod]
    labels = {
        "namespace": NAMESPACE,
        "job": f"{NAMESPACE}/{monitor}",
        "pod": pod,
        "container": cont,
        "endpoint": endpoint,
        "instance": f"{ip}:{port}",
    }
    return labels | dict(extra or {})


def strimzi(pod: str, name: str, kind: str, component: str) -> dict[str, str]:
    """Strimzi's kafka-resources-metrics PodMonitor: the pod's `strimzi.io/*` labels mapped, its node."""
    node = PODS[pod][2]
    extra = {
        "kubernetes_pod_name": pod,
        "node_name": node,
        "node_ip": NODES[node],
        "strimzi_io_cluster": "events" if kind == "Kafka" else name.removesuffix("-connect"),
        "strimzi_io_kind": kind,
        "strimzi_io_name": name,
        "strimzi_io_component_type": component,
    }
    if component == "kafka":
        extra |= {"strimzi_io_pool_name": "kafka", "strimzi_io_pod_name": pod}
        extra |= {"strimzi_io_broker_role": "true", "strimzi_io_controller_role": "true"}
    return pod_monitor(pod, "kafka-resources-metrics", "tcp-prometheus", extra)


def flink_label(value: str) -> str:
    """Flink's PrometheusReporter filters label values to [a-zA-Z0-9:_]."""
    return "".join(c if c.isalnum() or c in ":_" else "_" for c in value)


# --- The exporters ------------------------------------------------------------------------------------------


def topic_rates(f: Flows) -> dict[str, np.ndarray]:
    """Messages per second into each topic."""
    return {
        "events.raw": f.raw,
        "events.enriched": f.enriched,
        "orders.public.orders": f.orders,
        "orders.public.order_items": f.items + f.snapshot,
        "events.dlq": 0.002 * f.raw,
    }


def write_brokers(p: Platform, f: Flows) -> None:
    """The brokers' JMX exporter with Strimzi's rules: per-topic rates where they lead, replication and
    reassignment traffic, partition state, the controller, the pools' idle time, log sizes, the JVM."""
    rec, n = p.rec, p.n
    rates = topic_rates(f)
    for b, broker in enumerate(BROKERS):
        p.scrape(broker, strimzi(broker, "events-kafka", "Kafka", "kafka"))
        messages, bytes_in = np.zeros(n), np.zeros(n)
        urp = np.zeros(n)
        for topic, (count, size, _) in TOPICS.items():
            share = sum((f.leader[(topic, q)] == b).astype(float) for q in partitions(topic)) / count
            msgs = rates[topic] * share
            messages, bytes_in = messages + msgs, bytes_in + msgs * size
            urp += sum((f.leader[(topic, q)] == b) & f.out_of_sync[(topic, q)] for q in partitions(topic))
            readers = {"events.raw": 1, "events.enriched": 2, "events.dlq": 0}.get(topic, 2)
            topic_labels = {"topic": topic}
            rec.counter(broker, "kafka_server_brokertopicmetrics_messagesin_total", topic_labels, msgs)
            rec.counter(broker, "kafka_server_brokertopicmetrics_bytesin_total", topic_labels, msgs * size)
            rec.counter(
                broker, "kafka_server_brokertopicmetrics_bytesout_total", topic_labels, msgs * size * readers
            )
        moving_in = f.reassign * (1.8e8 if b != 1 else 0.0)
        moving_out = f.reassign * (3.6e8 if b == 1 else 0.0)
        total_bytes = sum(rates[topic] * size for topic, (_, size, _) in TOPICS.items())
        follower = total_bytes - bytes_in
        rec.counter(broker, "kafka_server_brokertopicmetrics_messagesin_total", {}, messages)
        rec.counter(broker, "kafka_server_brokertopicmetrics_bytesin_total", {}, bytes_in)
        rec.counter(broker, "kafka_server_brokertopicmetrics_bytesout_total", {}, bytes_in * 2.2)
        rec.counter(
            broker, "kafka_server_brokertopicmetrics_replicationbytesin_total", {}, follower + moving_in
        )
        rec.counter(
            broker, "kafka_server_brokertopicmetrics_replicationbytesout_total", {}, bytes_in * 2 + moving_out
        )
        rec.counter(broker, "kafka_server_brokertopicmetrics_reassignmentbytesin_total", {}, moving_in)
        rec.counter(broker, "kafka_server_brokertopicmetrics_reassignmentbytesout_total", {}, moving_out)
        rec.counter(
            broker, "kafka_server_brokertopicmetrics_totalproducerequests_total", {}, 30 + 60 * p.traffic
        )
        rec.counter(
            broker, "kafka_server_brokertopicmetrics_totalfetchrequests_total", {}, 260 + 150 * p.traffic
        )
        rec.counter(
            broker,
            "kafka_server_brokertopicmetrics_failedproducerequests_total",
            {},
            0.002 + 0.6 * f.slow_disk * (b == 2),
        )
        rec.gauge(broker, "kafka_server_replicamanager_underreplicatedpartitions", {}, urp)
        rec.gauge(broker, "kafka_server_replicamanager_underminisrpartitioncount", {}, np.zeros(n))
        rec.gauge(broker, "kafka_server_replicamanager_offlinereplicacount", {}, np.zeros(n))
        rec.gauge(broker, "kafka_server_replicamanager_partitioncount", {}, np.full(n, 23.0))
        leaders = sum((f.leader[key] == b).astype(float) for key in f.leader)
        rec.gauge(broker, "kafka_server_replicamanager_leadercount", {}, leaders)
        rec.gauge(
            broker, "kafka_server_replicamanager_reassigningpartitions", {}, np.round(8 * (f.reassign > 0.05))
        )
        step = np.diff(urp, prepend=urp[0])
        rec.counter(broker, "kafka_server_replicamanager_isrshrinks_total", {}, np.clip(step, 0, None) / STEP)
        rec.counter(
            broker, "kafka_server_replicamanager_isrexpands_total", {}, np.clip(-step, 0, None) / STEP
        )
        rec.gauge(
            broker, "kafka_controller_kafkacontroller_activecontrollercount", {}, np.full(n, float(b == 0))
        )
        rec.gauge(broker, "kafka_controller_kafkacontroller_offlinepartitionscount", {}, np.zeros(n))
        rec.gauge(broker, "kafka_controller_kafkacontroller_globalpartitioncount", {}, np.full(n, 23.0))
        idle = 0.84 - 0.07 * p.traffic - 0.55 * f.reassign * (b != 1) - 0.6 * f.slow_disk * (b == 2)
        rec.gauge(
            broker,
            "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent",
            {},
            np.clip(idle + rec.noise(0.02), 0.02, 1),
        )
        network = 0.9 - 0.05 * p.traffic - 0.45 * f.reassign * (b != 1)
        rec.gauge(
            broker,
            "kafka_network_socketserver_networkprocessoravgidle_percent",
            {},
            np.clip(network + rec.noise(0.015), 0.02, 1),
        )
        fetcher = np.abs(rec.noise(40)) + (b == 2) * f.slow_disk * 2.4e5 + (b != 1) * f.reassign * 9e5
        rec.gauge(
            broker, "kafka_server_replicafetchermanager_maxlag", {"clientId": "Replica"}, np.round(fetcher)
        )
        for topic, (count, size, steady) in TOPICS.items():
            per_partition = rates[topic] / count
            snap = f.snapshot / count if topic == "orders.public.order_items" else 0.0
            for q in partitions(topic):
                written = np.cumsum((per_partition - snap) * size * STEP)
                phase = rec.rng.uniform(0, SEGMENT)
                grown = np.cumsum(snap * 1000.0 * STEP)  # snapshot records have keys never seen: kept
                size_now = steady * (1 + 0.04 * b) + np.mod(written + phase, SEGMENT) + grown
                rec.gauge(broker, "kafka_log_log_size", {"topic": topic, "partition": q}, np.round(size_now))
        heap = 1.6e9 + 1.4e9 * ((p.grid + 97 * b) % 240) / 240 + rec.noise(4e7)
        rec.gauge(broker, "jvm_memory_used_bytes", {"area": "heap"}, heap)
        rec.gauge(broker, "jvm_memory_max_bytes", {"area": "heap"}, np.full(n, 6 * GiB))
        young = {"gc": "G1 Young Generation"}
        rec.counter(broker, "jvm_gc_collection_seconds_count", young, 0.25 * p.traffic)
        rec.counter(broker, "jvm_gc_collection_seconds_sum", young, 0.005 * p.traffic, whole=False)
        rec.counter(broker, "process_cpu_seconds_total", {}, broker_cpu(p, f, b), whole=False)
        rec.gauge(broker, "process_open_fds", {}, np.round(1900 + 40 * p.traffic + rec.noise(8)))
        reset_counters(p.rec, broker, p.lives[broker])


def broker_cpu(p: Platform, f: Flows, b: int) -> np.ndarray:
    """A broker's cores: its traffic, a reassignment's replica fetches; on a saturated disk its request
    handlers wait in I/O (busy, not on CPU) and take in less."""
    return (
        0.45
        + 0.45 * p.traffic
        + 1.6 * f.reassign * (b != 1)
        + 0.00012 * f.snapshot
        - 0.1 * f.slow_disk * (b == 2)
    )


def write_kafka_exporter(p: Platform, f: Flows, cp: Checkpoints) -> None:
    """Strimzi's kafka_exporter: brokers, each partition's offsets, leader and replicas, each group's
    committed offsets and lag (the sessionizer's Flink source commits only on a completed checkpoint)."""
    rec, n, pod = p.rec, p.n, KAFKA_EXPORTER
    p.scrape(pod, strimzi(pod, "events-kafka-exporter", "Kafka", "kafka-exporter"), miss=0.015)
    rec.gauge(pod, "kafka_brokers", {}, 3.0 - (~p.exists[BROKERS[1]]).astype(float))
    rates = topic_rates(f)
    produced = {topic: np.cumsum(rates[topic] * STEP) for topic in TOPICS}
    for topic, (count, size, steady) in TOPICS.items():
        rec.gauge(pod, "kafka_topic_partitions", {"topic": topic}, np.full(n, float(count)))
        for q in partitions(topic):
            part = {"topic": topic, "partition": q}
            start = float(rec.rng.integers(10**8, 10**10))
            offset = start + produced[topic] / count
            rec.add(pod, "kafka_topic_partition_current_offset", part, np.round(offset), counter=True)
            retained = steady / size
            rec.add(
                pod, "kafka_topic_partition_oldest_offset", part, np.round(offset - retained), counter=True
            )
            lost = f.out_of_sync[(topic, q)].astype(float)
            rec.gauge(pod, "kafka_topic_partition_replicas", part, np.full(n, 3.0))
            rec.gauge(pod, "kafka_topic_partition_in_sync_replica", part, 3.0 - lost)
            rec.gauge(pod, "kafka_topic_partition_under_replicated_partition", part, lost)
            rec.gauge(pod, "kafka_topic_partition_leader", part, f.leader[(topic, q)])
            preferred = (f.leader[(topic, q)] == preferred_leader(topic, q)).astype(float)
            rec.gauge(pod, "kafka_topic_partition_leader_is_preferred", part, preferred)
    sessionizer_lag = produced["events.enriched"] - cp.committed + 2000.0  # committed at checkpoints
    groups = {  # group: ({topic: lag}, members)
        "enricher": ({"events.raw": f.enricher_backlog + 0.4 * f.raw}, 1.0 + (f.enricher_b > 0)),
        "events-loader": ({"events.enriched": f.loader_backlog + 1.2 * f.enriched}, np.full(n, 2.0)),
        "sessionizer": ({"events.enriched": np.clip(sessionizer_lag, 0, None)}, np.zeros(n)),
        "connect-analytics-pg-sink": (f.sink_backlog, np.full(n, 3.0)),
    }
    for group, (lags, members) in groups.items():
        rec.gauge(pod, "kafka_consumergroup_members", {"consumergroup": group}, members)
        for topic, lag in lags.items():
            count = TOPICS[topic][0]
            total = np.zeros(n)
            for q in partitions(topic):
                part = {"consumergroup": group, "topic": topic, "partition": q}
                mine = np.round(np.clip(lag / count * np.exp(rec.noise(0.08)), 0, None))
                total += mine
                start = float(rec.rng.integers(10**8, 10**10))
                consumed = start + produced[topic] / count - mine
                rec.add(pod, "kafka_consumergroup_current_offset", part, np.round(consumed), counter=True)
                rec.gauge(pod, "kafka_consumergroup_lag", part, mine)
            rec.gauge(pod, "kafka_consumergroup_lag_sum", {"consumergroup": group, "topic": topic}, total)


def write_connect(p: Platform, f: Flows) -> None:
    """The Kafka Connect worker (Strimzi's JMX rules): Debezium's source task and its snapshot, the JDBC
    sink's three tasks, their clients."""
    rec, n, pod = p.rec, p.n, CONNECT
    p.scrape(pod, strimzi(pod, "cdc-connect", "KafkaConnect", "kafka-connect"))
    source = {"connector": "orders-cdc", "task": "0"}
    polled = f.orders + f.items + f.snapshot
    rec.counter(pod, "kafka_connect_source_task_source_record_poll_total", source, polled)
    rec.counter(pod, "kafka_connect_source_task_source_record_write_total", source, polled)
    rec.gauge(
        pod,
        "kafka_connect_source_task_poll_batch_avg_time_ms",
        source,
        np.clip(2.5 + 0.0012 * f.snapshot + rec.noise(0.3), 0.2, None),
    )
    running = (f.snapshot > 1).astype(float)
    debezium = {"plugin": "postgres", "name": "orders"}
    rec.gauge(pod, "debezium_metrics_snapshotrunning", debezium | {"context": "snapshot"}, running)
    rec.gauge(
        pod,
        "debezium_metrics_rowsscanned",
        debezium | {"context": "snapshot", "table": "public.order_items"},
        np.cumsum(f.snapshot * STEP),
    )
    rec.counter(
        pod,
        "debezium_metrics_totalnumberofeventsseen",
        debezium | {"context": "streaming"},
        f.orders + f.items,
    )
    rec.gauge(
        pod,
        "debezium_metrics_millisecondsbehindsource",
        debezium | {"context": "streaming"},
        np.clip(180 + 40 * p.traffic + rec.noise(30) + 0.02 * f.snapshot, 0, None),
    )
    for topic, rate in (
        ("orders.public.orders", f.orders),
        ("orders.public.order_items", f.items + f.snapshot),
    ):
        client = {"clientId": "connector-producer-orders-cdc-0", "topic": topic}
        rec.counter(pod, "kafka_producer_topic_record_send_total", client, rate)
        rec.counter(pod, "kafka_producer_topic_byte_total", client, rate * TOPICS[topic][1])
    waiting = sum(f.sink_backlog.values())
    for task in range(3):
        sink = {"connector": "analytics-pg-sink", "task": str(task)}
        rec.counter(pod, "kafka_connect_sink_task_sink_record_read_total", sink, f.sink / 3)
        rec.counter(pod, "kafka_connect_sink_task_sink_record_send_total", sink, f.sink / 3)
        put = 38 + 6 * p.traffic + np.abs(rec.noise(4)) + 29000 * f.blocked
        rec.gauge(pod, "kafka_connect_sink_task_put_batch_avg_time_ms", sink, put)
        rec.gauge(pod, "kafka_connect_sink_task_put_batch_max_time_ms", sink, put * 2.4)
        rec.counter(
            pod, "kafka_connect_sink_task_offset_commit_completion_total", sink, 1 / 60 * (1 - f.blocked)
        )
        rec.counter(pod, "kafka_connect_sink_task_offset_commit_skip_total", sink, 1 / 60 * f.blocked)
        client = {"clientId": f"connector-consumer-analytics-pg-sink-{task}"}
        rec.gauge(pod, "kafka_consumer_fetch_manager_records_lag_max", client, np.round(waiting / 6))
    for name in ("orders-cdc-0", *(f"analytics-pg-sink-{k}" for k in range(3))):
        connector, _, number = name.rpartition("-")
        labels = {"connector": connector, "task": number, "status": "running"}
        rec.gauge(pod, "kafka_connect_connector_task_status", labels, np.ones(n))
    heap = 9e8 + 6e8 * ((p.grid % 300) / 300) + 8e4 * f.snapshot + rec.noise(2e7)
    rec.gauge(pod, "jvm_memory_used_bytes", {"area": "heap"}, heap)
    rec.gauge(pod, "jvm_memory_max_bytes", {"area": "heap"}, np.full(n, 3 * GiB))
    rec.counter(pod, "process_cpu_seconds_total", {}, connect_cpu(p, f), whole=False)


def connect_cpu(p: Platform, f: Flows) -> np.ndarray:
    return 0.25 + 0.05 * p.traffic + 0.00016 * f.snapshot + 0.0004 * f.sink


def write_ingest(p: Platform, f: Flows) -> None:
    """ingest-api (Spring Boot, Micrometer): its endpoint's latency and its Kafka producer's metrics."""
    rec, n = p.rec, p.n
    for k, pod in enumerate(INGEST):
        p.scrape(pod, service_monitor(pod, "ingest-api", "http"))
        rps = f.raw / 20 / 2  # 20 events a request, two pods
        latency = (0.004 + 0.55 * f.producer_ms / 1000) * np.exp(rec.noise(0.03))
        rec.histogram(
            pod,
            "http_server_requests_seconds",
            {
                "uri": "/v1/events",
                "method": "POST",
                "status": "202",
                "outcome": "SUCCESS",
                "exception": "none",
            },
            rps,
            latency,
            sigma=0.45,
            buckets=HTTP_BUCKETS,
        )
        rec.counter(
            pod,
            "http_server_requests_seconds_count",
            {
                "uri": "/v1/events",
                "method": "POST",
                "status": "400",
                "outcome": "CLIENT_ERROR",
                "exception": "none",
            },
            0.004 * rps,
        )
        client = {
            "client_id": "producer-1",
            "kafka_version": "3.7.1",
            "spring_id": "kafkaProducerFactory.producer-1",
        }
        rec.counter(pod, "kafka_producer_record_send_total", client, f.raw / 2)
        rec.counter(pod, "kafka_producer_record_retry_total", client, 0.01 + 40 * (f.producer_ms > 50))
        rec.counter(pod, "kafka_producer_record_error_total", client, 0.0005 * p.traffic)
        rec.gauge(pod, "kafka_producer_request_latency_avg", client, f.producer_ms * np.exp(rec.noise(0.05)))
        rec.gauge(
            pod,
            "kafka_producer_record_queue_time_avg",
            client,
            np.clip(2 + 0.8 * f.producer_ms + rec.noise(0.3), 0, None),
        )
        used = np.clip(1.2e6 * p.traffic + 6e4 * f.producer_ms, 0, 3.3e7)
        rec.gauge(pod, "kafka_producer_buffer_available_bytes", client, 33554432 - used)
        rec.gauge(pod, "process_cpu_usage", {}, np.clip(0.06 + 0.05 * p.traffic + rec.noise(0.005), 0, 1))
        old_gen = {"area": "heap", "id": "G1 Old Gen"}
        rec.gauge(pod, "jvm_memory_used_bytes", old_gen, 2.1e8 + 8e7 * ((p.grid + 131 * k) % 700) / 700)
        rec.gauge(pod, "jvm_memory_max_bytes", old_gen, np.full(n, 7.5e8))
        rec.gauge(pod, "process_start_time_seconds", {}, np.full(n, p.started(pod)))


def write_enricher(p: Platform, f: Flows) -> None:
    """The enricher (Kafka Streams, Micrometer): its stream thread, consumer and producer, its profile
    lookups in the feature cache; B's container restarts (its process' counters from zero)."""
    rec, n = p.rec, p.n
    for pod, share in ((ENRICHER_A, 1 - f.enricher_b), (ENRICHER_B, f.enricher_b)):
        p.scrape(pod, service_monitor(pod, "enricher", "http"))
        done = f.enriched * share
        thread = {"thread_id": f"enricher-{stable(pod, 8)}-StreamThread-1", "kafka_version": "3.7.1"}
        rec.gauge(pod, "kafka_stream_thread_process_rate", thread, done * np.exp(rec.noise(0.04)))
        rec.gauge(pod, "kafka_stream_thread_commit_latency_avg", thread, 9 + np.abs(rec.noise(2)))
        consumer = {"client_id": thread["thread_id"] + "-consumer", "kafka_version": "3.7.1"}
        rec.counter(pod, "kafka_consumer_fetch_manager_records_consumed_total", consumer, done)
        rec.gauge(
            pod,
            "kafka_consumer_fetch_manager_records_lag_max",
            consumer,
            np.round(f.enricher_backlog * np.where(share > 0, share, 0.5) / 4 + np.abs(rec.noise(30))),
        )
        producer = {"client_id": thread["thread_id"] + "-producer", "kafka_version": "3.7.1"}
        rec.counter(pod, "kafka_producer_record_send_total", producer, done)
        rec.counter(pod, "enricher_profile_lookups_total", {"result": "hit"}, done * (1 - f.miss_ratio))
        rec.counter(pod, "enricher_profile_lookups_total", {"result": "miss"}, done * f.miss_ratio)
        lettuce = {
            "command": "GET",
            "local": "ANY",
            "remote": "feature-cache-master.data.svc/10.46.2.90:6379",
        }
        rec.counter(pod, "lettuce_command_completion_seconds_count", lettuce, done)
        rec.counter(pod, "lettuce_command_completion_seconds_sum", lettuce, done * 0.0004, whole=False)
        rec.gauge(pod, "lettuce_command_completion_seconds_max", lettuce, 0.002 + np.abs(rec.noise(0.0008)))
        old_gen = {"area": "heap", "id": "G1 Old Gen"}  # the state lives in RocksDB, off the heap
        rec.gauge(
            pod, "jvm_memory_used_bytes", old_gen, 4.1e8 + 1.8e8 * ((p.grid % 900) / 900) + rec.noise(1e7)
        )
        rec.gauge(pod, "jvm_memory_max_bytes", old_gen, np.full(n, 1.2e9))
        pause = {"action": "end of minor GC", "cause": "G1 Evacuation Pause"}
        rec.counter(pod, "jvm_gc_pause_seconds_count", pause, 0.15 + done / 4000)
        rec.counter(pod, "jvm_gc_pause_seconds_sum", pause, (0.15 + done / 4000) * 0.007, whole=False)
        rec.gauge(pod, "process_cpu_usage", {}, np.clip(0.02 + done / 1800 * 0.42 + rec.noise(0.01), 0, 1))
        starts = np.zeros(n)
        for life, (begin, end) in enumerate(p.lives[pod]):
            starts[begin:end] = p.started(pod, life)
        rec.gauge(pod, "process_start_time_seconds", {}, starts)
        reset_counters(p.rec, pod, p.lives[pod])


def write_loader(p: Platform, f: Flows) -> None:
    """events-loader (Go): rows and batches it inserted into ClickHouse, by outcome, insert durations."""
    rec, n = p.rec, p.n
    pods = [pod for pod in (LOADER_A, LOADER_B, LOADER_NEW_A, LOADER_NEW_B) if p.exists[pod].any()]
    live = np.maximum(sum(p.exists[pod].astype(float) for pod in pods), 1.0)
    for pod in pods:
        alive = p.exists[pod]
        p.scrape(pod, service_monitor(pod, "events-loader", "metrics"))
        share = alive / live
        table = {"table": "events"}
        rec.counter(pod, "loader_rows_inserted_total", table, f.loaded * share, alive=alive)
        for status, rate in (
            ("ok", f.inserts_ok),
            ("too_many_parts", f.inserts_rejected),
            ("readonly", f.inserts_failed),
        ):
            rec.counter(
                pod, "loader_insert_batches_total", table | {"status": status}, rate * share, alive=alive
            )
        rec.histogram(
            pod,
            "loader_insert_duration_seconds",
            table,
            f.inserts_ok * share,
            f.insert_seconds * np.exp(rec.noise(0.05)),
            sigma=0.3,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            alive=alive,
        )
        rows = np.where(f.inserts_ok > 0, f.loaded / np.maximum(f.inserts_ok, 1e-9), 0.0)
        rec.gauge(pod, "loader_batch_rows", table, np.round(rows), alive=alive)
        version = "3.5.0" if pod in (LOADER_NEW_A, LOADER_NEW_B) else "3.4.0"
        rec.gauge(
            pod, "loader_build_info", {"version": version, "goversion": "go1.23.4"}, np.ones(n), alive=alive
        )
        rec.gauge(pod, "go_goroutines", {}, np.round(42 + 6 * p.traffic + rec.noise(2)), alive=alive)
        rec.counter(
            pod,
            "process_cpu_seconds_total",
            {},
            0.05 + 0.05 * p.traffic * share * 2,
            whole=False,
            alive=alive,
        )
        rec.gauge(pod, "process_resident_memory_bytes", {}, 9e7 + rec.noise(2e6), alive=alive)
        rec.gauge(pod, "process_start_time_seconds", {}, np.full(n, p.started(pod)), alive=alive)


def write_flink(p: Platform, f: Flows, cp: Checkpoints) -> None:
    """The sessionizer's JobManager and TaskManagers (Flink's PrometheusReporter: counters as gauges)."""
    rec, n = p.rec, p.n
    job_id = "a3f9c2e17b4d4e8f9c0d2b6a7e5f1c38"
    p.scrape(JOBMANAGER, pod_monitor(JOBMANAGER, "flink-metrics", "metrics"))
    job = {"job_id": job_id, "job_name": "sessionizer", "host": flink_label(PODS[JOBMANAGER][3])}
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_lastCheckpointDuration", job, np.round(cp.last_ms))
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_lastCheckpointSize", job, np.round(cp.last_size))
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_numberOfCompletedCheckpoints", job, cp.completed)
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_numberOfFailedCheckpoints", job, cp.failed)
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_numberOfInProgressCheckpoints", job, cp.in_progress)
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_numRestarts", job, np.full(n, 2.0))
    rec.gauge(JOBMANAGER, "flink_jobmanager_job_uptime", job, (p.grid - START + 5.2e5) * 1000)
    jm = {"host": job["host"]}
    rec.gauge(JOBMANAGER, "flink_jobmanager_numRunningJobs", jm, np.ones(n))
    rec.gauge(JOBMANAGER, "flink_jobmanager_numRegisteredTaskManagers", jm, np.full(n, 2.0))
    rec.gauge(JOBMANAGER, "flink_jobmanager_taskSlotsAvailable", jm, np.zeros(n))
    rec.gauge(JOBMANAGER, "flink_jobmanager_taskSlotsTotal", jm, np.full(n, 4.0))
    rec.gauge(JOBMANAGER, "flink_jobmanager_Status_JVM_Memory_Heap_Used", jm, 3.1e8 + rec.noise(1e7))
    tasks = (
        ("Source:_events_enriched_->_ParseEvent", "cbc357ccb763df2852fee8c4fc7d55f2"),
        ("SessionWindow_->_Sink:_es_sessions", "90bea66de1c231edf33913ecd54406c1"),
    )
    for t, tm in enumerate(TASKMANAGERS):
        p.scrape(tm, pod_monitor(tm, "flink-metrics", "metrics"))
        host = {"host": flink_label(PODS[tm][3]), "tm_id": flink_label(tm)}
        busy_jvm = 0.3 + 0.25 * p.traffic + 0.1 * f.backpressure
        rec.gauge(
            tm, "flink_taskmanager_Status_JVM_CPU_Load", host, np.clip(busy_jvm + rec.noise(0.02), 0, 1)
        )
        rec.gauge(
            tm, "flink_taskmanager_Status_JVM_Memory_Heap_Used", host, 1.1e9 + 5e8 * ((p.grid % 420) / 420)
        )
        rec.gauge(tm, "flink_taskmanager_Status_JVM_Memory_Heap_Max", host, np.full(n, 2.4e9))
        gc_ms = np.cumsum((6 + 4 * p.traffic) * STEP) + float(rec.rng.integers(10**6, 10**7))
        rec.gauge(tm, "flink_taskmanager_Status_JVM_GarbageCollector_G1_Young_Generation_Time", host, gc_ms)
        for name, task_id in tasks:
            sink = name.startswith("SessionWindow")
            for subtask in (2 * t, 2 * t + 1):
                labels = host | {
                    "job_id": job_id,
                    "job_name": "sessionizer",
                    "task_id": task_id,
                    "task_name": name,
                    "subtask_index": str(subtask),
                    "task_attempt_num": "0",
                }
                records = f.sessions_in / 4 * np.exp(rec.noise(0.05))
                bp = f.backpressure * (0.0 if sink else 1.0)
                busy = (0.2 + 0.15 * p.traffic) * (1 - f.backpressure) + f.backpressure * (
                    0.97 if sink else 0.03
                )
                rec.gauge(
                    tm,
                    "flink_taskmanager_job_task_backPressuredTimeMsPerSecond",
                    labels,
                    np.round(1000 * np.clip(bp + rec.noise(0.01), 0, 1)),
                )
                rec.gauge(
                    tm,
                    "flink_taskmanager_job_task_busyTimeMsPerSecond",
                    labels,
                    np.round(1000 * np.clip(busy + rec.noise(0.01), 0, 1)),
                )
                rec.gauge(tm, "flink_taskmanager_job_task_isBackPressured", labels, (bp > 0.5).astype(float))
                rec.gauge(tm, "flink_taskmanager_job_task_numRecordsInPerSecond", labels, records)
                rec.gauge(
                    tm,
                    "flink_taskmanager_job_task_numRecordsOutPerSecond",
                    labels,
                    records * (0.25 if sink else 1.0),
                )
                if not sink:
                    operator = labels | {
                        "operator_id": "bc764cd8ddf7a0cff126f51c16239658",
                        "operator_name": "Source:_events_enriched",
                    }
                    lag = (f.sessionizer_backlog + 1.5 * f.enriched) / 8 * np.exp(rec.noise(0.1))
                    rec.gauge(
                        tm,
                        "flink_taskmanager_job_task_operator_KafkaSourceReader_KafkaConsumer_records_lag_max",
                        operator,
                        np.round(lag),
                    )


def write_elasticsearch(p: Platform, f: Flows) -> None:
    """elasticsearch_exporter (one Deployment, `--es.all`): every Elasticsearch node's series under its
    `name`, the cluster's health; its scrapes time out while a node stalls in GC."""
    rec, n, pod = p.rec, p.n, ES_EXPORTER
    p.scrape(pod, service_monitor(pod, "elasticsearch-exporter", "http"), subject="name")
    stalled = rec.rng.random(n) < 0.45 * np.clip((f.es_pressure - 0.6) / 0.3, 0, 1)
    rec.targets[pod].keep[stalled] = False
    indexed = np.clip(
        f.sessions_in * 0.25, 0, None
    )  # session documents the sink writes, primaries and replicas
    for k, node in enumerate(ES_NODES):
        es = {
            "cluster": "search",
            "name": node,
            "host": PODS[node][3],
            "es_master_node": "true",
            "es_data_node": "true",
            "es_ingest_node": "true",
            "es_client_node": "true",
        }
        pressure = f.es_pressure if k == 1 else np.zeros(n)
        fielddata = (p.added("es.fielddata") if k == 1 else p.zero) + 2.1e7 + np.abs(rec.noise(1e6))
        floor = 2.8e9 + fielddata
        heap = np.clip(floor + rec.rng.uniform(0, 2.6e9, n) * (1 - 0.7 * pressure), 0, ES_HEAP * 0.985)
        gc_trouble = np.clip((floor / ES_HEAP - 0.55) / 0.3, 0, 1)
        rec.gauge(pod, "elasticsearch_jvm_memory_used_bytes", es | {"area": "heap"}, heap)
        rec.gauge(
            pod, "elasticsearch_jvm_memory_used_bytes", es | {"area": "non-heap"}, 2.3e8 + rec.noise(2e6)
        )
        rec.gauge(pod, "elasticsearch_jvm_memory_max_bytes", es | {"area": "heap"}, np.full(n, ES_HEAP))
        young, old = es | {"gc": "young"}, es | {"gc": "old"}
        rec.counter(pod, "elasticsearch_jvm_gc_collection_seconds_count", young, 0.25 + indexed / 3000)
        rec.counter(
            pod,
            "elasticsearch_jvm_gc_collection_seconds_sum",
            young,
            (0.25 + indexed / 3000) * 0.012,
            whole=False,
        )
        rec.counter(pod, "elasticsearch_jvm_gc_collection_seconds_count", old, 0.0004 + 0.22 * gc_trouble)
        rec.counter(
            pod, "elasticsearch_jvm_gc_collection_seconds_sum", old, 0.0004 + 0.31 * gc_trouble, whole=False
        )
        rejected = 55 * np.clip((pressure - 0.6) / 0.3, 0, 1)
        kibana = 24 * (fielddata > 1e8)
        for pool, queue, rate in (
            ("write", 2 + 180 * np.clip(pressure - 0.5, 0, 1), rejected),
            ("search", 0.2 + 3 * pressure, np.zeros(n)),
        ):
            labels = es | {"type": pool}
            rec.counter(pod, "elasticsearch_thread_pool_rejected_count", labels, rate)
            rec.gauge(
                pod, "elasticsearch_thread_pool_queue_count", labels, np.round(np.abs(queue + rec.noise(1)))
            )
            rec.gauge(
                pod,
                "elasticsearch_thread_pool_active_count",
                labels,
                np.round(np.clip(2 + 3 * p.traffic * (pool == "write") + rec.noise(0.8), 0, 8)),
            )
        rec.gauge(pod, "elasticsearch_indices_fielddata_memory_size_bytes", es, np.round(fielddata))
        rec.counter(pod, "elasticsearch_indices_fielddata_evictions", es, np.zeros(n))
        rec.gauge(
            pod,
            "elasticsearch_breakers_estimated_size_bytes",
            es | {"breaker": "fielddata"},
            np.round(fielddata),
        )
        rec.gauge(
            pod,
            "elasticsearch_breakers_limit_size_bytes",
            es | {"breaker": "fielddata"},
            np.full(n, 0.4 * ES_HEAP),
        )
        rec.counter(
            pod,
            "elasticsearch_breakers_tripped",
            es | {"breaker": "fielddata"},
            0.05 * (fielddata > 0.38 * ES_HEAP),
        )
        rec.counter(
            pod,
            "elasticsearch_breakers_tripped",
            es | {"breaker": "parent"},
            0.3 * np.clip(pressure - 0.8, 0, 1),
        )
        written = indexed * 2 / 3 - (rejected * 40 if k == 1 else 0)  # a rejected shard bulk: ~40 documents
        rec.counter(pod, "elasticsearch_indices_indexing_index_total", es, np.clip(written, 0, None))
        rec.counter(
            pod,
            "elasticsearch_indices_indexing_index_time_seconds_total",
            es,
            np.clip(written, 0, None) * 0.0004 * (1 + 3 * pressure),
            whole=False,
        )
        searches = 3 + 2 * p.traffic + kibana
        rec.counter(pod, "elasticsearch_indices_search_query_total", es, searches)
        rec.counter(
            pod,
            "elasticsearch_indices_search_query_time_seconds",
            es,
            searches * (0.012 + 0.9 * pressure),
            whole=False,
        )
        rec.gauge(
            pod,
            "elasticsearch_process_cpu_percent",
            es,
            np.clip(np.round(14 + 8 * p.traffic + 70 * gc_trouble + rec.noise(3)), 0, 100),
        )
        fs = es | {
            "mount": "/usr/share/elasticsearch/data (/dev/nvme2n1)",
            "path": "/usr/share/elasticsearch/data/indices",
        }
        rec.gauge(
            pod,
            "elasticsearch_filesystem_data_available_bytes",
            fs,
            6.1e10 - 1.2e9 * k - np.cumsum(indexed * 900 * STEP / 3),
        )
        rec.gauge(pod, "elasticsearch_filesystem_data_size_bytes", fs, np.full(n, 1.07e11))
    cluster = {"cluster": "search"}
    for color in ("green", "yellow", "red"):
        rec.gauge(
            pod,
            "elasticsearch_cluster_health_status",
            cluster | {"color": color},
            np.full(n, float(color == "green")),
        )
    rec.gauge(pod, "elasticsearch_cluster_health_number_of_nodes", cluster, np.full(n, 3.0))
    rec.gauge(pod, "elasticsearch_cluster_health_number_of_data_nodes", cluster, np.full(n, 3.0))
    rec.gauge(pod, "elasticsearch_cluster_health_active_shards", cluster, np.full(n, 64.0))
    rec.gauge(pod, "elasticsearch_cluster_health_unassigned_shards", cluster, np.zeros(n))
    rec.gauge(
        pod,
        "elasticsearch_cluster_health_number_of_pending_tasks",
        cluster,
        np.round(np.clip(rec.noise(0.3) + 4 * f.es_pressure, 0, None)),
    )


def write_redis(p: Platform, f: Flows) -> None:
    """redis_exporter as the Bitnami chart's sidecar: memory to maxmemory, keys with and without a TTL,
    commands by name (the enricher's SETEX, a backfill's SET), hits, misses, evictions."""
    rec, n, pod = p.rec, p.n, REDIS
    p.scrape(pod, service_monitor(pod, "feature-cache-metrics", "http-metrics", container="metrics"))
    lookups = f.enriched
    misses = lookups * f.miss_ratio
    backfill = np.diff(f.backfilled, prepend=0) / STEP
    rec.gauge(pod, "redis_up", {}, np.ones(n))
    rec.gauge(pod, "redis_memory_used_bytes", {}, np.round(f.redis_used))
    rec.gauge(pod, "redis_memory_max_bytes", {}, np.full(n, REDIS_MAXMEMORY))
    rec.gauge(pod, "redis_memory_used_rss_bytes", {}, np.round(f.redis_used * 1.07 + rec.noise(3e6)))
    rec.gauge(pod, "redis_mem_fragmentation_ratio", {}, np.round(1.07 + rec.noise(0.004), 2))
    rec.counter(pod, "redis_evicted_keys_total", {}, f.evictions)
    rec.counter(pod, "redis_expired_keys_total", {}, misses * 0.98 + 3)
    rec.counter(pod, "redis_keyspace_hits_total", {}, lookups - misses)
    rec.counter(pod, "redis_keyspace_misses_total", {}, misses)
    db = {"db": "db0"}
    with_ttl = 2.93e6 + 4e4 * np.sin((p.grid - START) / 4000) + rec.noise(3e3)
    evicted = np.cumsum(f.evictions * STEP)
    rec.gauge(pod, "redis_db_keys", db, np.round(with_ttl + 5.1e4 + f.backfilled - evicted))
    rec.gauge(pod, "redis_db_keys_expiring", db, np.round(with_ttl - 0.9 * evicted))
    rec.gauge(pod, "redis_db_avg_ttl_seconds", db, np.round(41800 + rec.noise(400)))
    for cmd, rate, cost in (
        ("get", lookups, 1.6e-6),
        ("setex", misses, 3.1e-6),
        ("set", backfill + 0.02, 2.9e-6),
        ("ping", np.full(n, 0.2), 5e-7),
    ):
        rec.counter(pod, "redis_commands_total", {"cmd": cmd}, rate)
        rec.counter(pod, "redis_commands_duration_seconds_total", {"cmd": cmd}, rate * cost, whole=False)
    rec.gauge(pod, "redis_connected_clients", {}, np.round(24 + rec.noise(0.5) + 8 * (backfill > 0)))
    rec.counter(pod, "redis_net_input_bytes_total", {}, lookups * 60 + misses * 700 + backfill * 720)
    rec.counter(pod, "redis_net_output_bytes_total", {}, lookups * 650)


def write_clickhouse(p: Platform, f: Flows) -> None:
    """ClickHouse' own endpoint on both replicas: queries and inserts, parts and merges, mutations,
    delayed and rejected inserts, the ZooKeeper session and read-only replicas."""
    rec = p.rec
    dbt = sum(mask_of(p, run) for run in DBT_RUNS)
    for r, pod in enumerate(CLICKHOUSE):
        p.scrape(pod, pod_monitor(pod, "clickhouse", "metrics"))
        half = 0.5
        selects = 1.2 + 0.6 * p.traffic + (6.0 * dbt if r == 1 else 0)
        inserts = (f.inserts_ok + f.inserts_rejected + f.inserts_failed) * half
        rec.counter(pod, "ClickHouseProfileEvents_Query", {}, selects + inserts)
        rec.counter(pod, "ClickHouseProfileEvents_SelectQuery", {}, selects)
        rec.counter(pod, "ClickHouseProfileEvents_InsertQuery", {}, inserts)
        rec.counter(
            pod,
            "ClickHouseProfileEvents_FailedInsertQuery",
            {},
            (f.inserts_rejected + f.inserts_failed) * half,
        )
        rec.counter(pod, "ClickHouseProfileEvents_InsertedRows", {}, f.loaded * half)
        rec.counter(pod, "ClickHouseProfileEvents_InsertedBytes", {}, f.loaded * half * 410)
        delayed = f.inserts_ok * half * (f.delay_ms > 0)
        rec.counter(pod, "ClickHouseProfileEvents_DelayedInserts", {}, delayed)
        rec.counter(pod, "ClickHouseProfileEvents_DelayedInsertsMilliseconds", {}, delayed * f.delay_ms)
        rec.counter(pod, "ClickHouseProfileEvents_RejectedInserts", {}, f.inserts_rejected * half)
        rec.counter(pod, "ClickHouseProfileEvents_Merge", {}, f.merges / 4)
        rec.counter(pod, "ClickHouseProfileEvents_MergedRows", {}, f.merges / 4 * 2.6e4)
        rec.counter(pod, "ClickHouseProfileEvents_MutatedRows", {}, f.mutation * 3.1e5)
        rec.counter(pod, "ClickHouseProfileEvents_ReplicatedPartFetches", {}, f.inserts_ok * half)
        zk = (1 - f.readonly) * (6 + 14 * f.inserts_ok + 3 * f.merges)
        rec.counter(pod, "ClickHouseProfileEvents_ZooKeeperTransactions", {}, zk)
        rec.counter(pod, "ClickHouseProfileEvents_ZooKeeperHardwareExceptions", {}, 0.0002 + 0.5 * f.readonly)
        rec.gauge(
            pod,
            "ClickHouseMetrics_Query",
            {},
            np.round(np.clip(1 + (3 * dbt if r == 1 else 0) + rec.noise(0.6), 0, None)),
        )
        rec.gauge(
            pod,
            "ClickHouseMetrics_Merge",
            {},
            np.round(np.clip(1.5 * (1 - f.mutation) + rec.noise(0.7), 0, None)),
        )
        rec.gauge(pod, "ClickHouseMetrics_PartMutation", {}, np.round(f.mutation))
        rec.gauge(
            pod,
            "ClickHouseMetrics_BackgroundMergesAndMutationsPoolTask",
            {},
            np.round(np.clip(2 + 14 * f.mutation + rec.noise(0.8), 0, 16)),
        )
        rec.gauge(pod, "ClickHouseMetrics_DelayedInserts", {}, np.round(delayed * f.delay_ms / 1000))
        rec.gauge(pod, "ClickHouseMetrics_ReadonlyReplica", {}, CH_TABLES * f.readonly)
        rec.gauge(pod, "ClickHouseMetrics_ZooKeeperSession", {}, 1 - f.readonly)
        rec.gauge(
            pod, "ClickHouseMetrics_ZooKeeperRequest", {}, np.round(np.abs(rec.noise(0.4)) * (1 - f.readonly))
        )
        rec.gauge(
            pod, "ClickHouseMetrics_TCPConnection", {}, np.round(6 + 3 * (r == 1) * dbt + rec.noise(0.5))
        )
        rec.gauge(
            pod,
            "ClickHouseMetrics_MemoryTracking",
            {},
            2.2e9 + 4.5e9 * (r == 1) * dbt + 1.5e9 * f.mutation + rec.noise(5e7),
        )
        parts = np.round(f.parts + rec.noise(1.5))
        rec.gauge(
            pod, "ClickHouseAsyncMetrics_MaxPartCountForPartition", {}, np.clip(parts, 1, PARTS_TO_THROW)
        )
        rec.gauge(
            pod,
            "ClickHouseAsyncMetrics_ReplicasMaxQueueSize",
            {},
            np.round(np.abs(rec.noise(1.5)) + 20 * f.readonly),
        )
        rec.gauge(
            pod, "ClickHouseAsyncMetrics_ReplicasMaxAbsoluteDelay", {}, np.round(np.abs(rec.noise(0.8)))
        )
        used = 2.1e11 + 1.3e11 * r * 0.02 + np.cumsum(f.loaded * half * 95 * STEP)
        rec.gauge(pod, "ClickHouseAsyncMetrics_DiskUsed_default", {}, used)
        rec.gauge(pod, "ClickHouseAsyncMetrics_DiskAvailable_default", {}, 5.37e11 - used)


def write_zookeeper(p: Platform, f: Flows) -> None:
    """ZooKeeper's Prometheus metrics provider (unprefixed names) behind the chart's ServiceMonitor; a
    server whose volume is full exits on its next write and crash-loops."""
    rec, n = p.rec, p.n
    leader = ZOOKEEPER[1]
    serving = np.ones(n) if f.zk_lost is None else (p.grid < f.zk_lost).astype(float)
    txns = (6 + 14 * f.inserts_ok + 3 * f.merges) * 2 * serving
    for k, pod in enumerate(ZOOKEEPER):
        p.scrape(pod, service_monitor(pod, "zookeeper-metrics", "tcp-metrics"))
        running = p.running(pod)
        up = serving * running
        rec.gauge(pod, "znode_count", {}, np.round(3.12e5 + np.cumsum(txns * STEP) * 0.002))
        rec.gauge(pod, "approximate_data_size", {}, np.round(9.5e7 + np.cumsum(txns * STEP) * 0.6))
        rec.gauge(pod, "ephemerals_count", {}, np.full(n, 14.0))
        rec.gauge(pod, "watch_count", {}, np.round(1800 + rec.noise(10)))
        rec.gauge(pod, "num_alive_connections", {}, np.round(up * (2 + (k == 0))))
        rec.gauge(pod, "outstanding_requests", {}, np.round(np.abs(rec.noise(0.3)) * up))
        rec.gauge(pod, "avg_latency", {}, np.round(0.4 + np.abs(rec.noise(0.2)), 4) * up)
        rec.gauge(pod, "max_latency", {}, np.round(9 + np.abs(rec.noise(4))) * up)
        rec.gauge(pod, "quorum_size", {}, np.full(n, 3.0))
        rec.counter(pod, "fsynctime_count", {}, txns * (k == 1 or 0.5) + 0.05)
        rec.counter(pod, "fsynctime_sum", {}, (txns * (k == 1 or 0.5) + 0.05) * 1.7, whole=False)
        rec.counter(pod, "election_time_count", {}, np.zeros(n))
        rec.gauge(pod, "open_file_descriptor_count", {}, np.round(60 + 2 * up + rec.noise(0.5)))
        rec.gauge(
            pod,
            "jvm_memory_bytes_used",
            {"area": "heap"},
            1.9e8 + 1.1e8 * ((p.grid % 600) / 600) + rec.noise(4e6),
        )
        if pod == leader:
            rec.gauge(pod, "learners", {}, np.full(n, 2.0), alive=serving > 0)
            rec.gauge(pod, "synced_followers", {}, np.full(n, 2.0), alive=serving > 0)
        reset_counters(p.rec, pod, p.lives[pod])


def write_postgres(p: Platform, f: Flows) -> None:
    """postgres_exporter as the Bitnami chart's sidecar: sessions and their longest transaction by user
    and state, locks by mode, the database's counters (no `_total`)."""
    rec, n, pod = p.rec, p.n, PG
    p.scrape(
        pod, service_monitor(pod, "analytics-pg-metrics", "http-metrics", container="metrics"), miss=0.02
    )
    building = np.clip(p.added("pg.index_build"), 0, 1)
    migrating = p.exists[MIGRATE].astype(float)
    held = np.cumsum(building * STEP) * building  # the index build's transaction, seconds
    waited = np.cumsum(f.blocked * STEP) * f.blocked  # the sink's upserts waiting on its lock
    working = 0.6 * p.traffic * (1 - f.blocked)
    sessions = (  # user, state, sessions, longest transaction
        ("connect", "active", working + 3 * f.blocked, 0.05 + 0.04 * p.traffic + waited),
        ("connect", "idle", 3 - working - 3 * f.blocked, np.zeros(n)),
        ("superset", "idle", np.full(n, 4.0), np.zeros(n)),
        ("superset", "active", np.full(n, 0.3), np.full(n, 0.8)),
        ("flyway", "active", migrating, held + 0.2 * migrating),
    )
    for user, state, count, longest in sessions:
        labels = {"datname": "analytics", "state": state, "usename": user, "application_name": ""}
        rec.gauge(pod, "pg_stat_activity_count", labels, np.clip(np.round(count + rec.noise(0.3)), 0, None))
        rec.gauge(
            pod,
            "pg_stat_activity_max_tx_duration",
            labels,
            np.clip(longest + np.abs(rec.noise(0.05)), 0, None),
        )
    locks = {
        "accesssharelock": 3 + 2 * p.traffic + building,
        "rowexclusivelock": 1 + 0.8 * p.traffic + 3 * f.blocked,
        "sharelock": building,
        "shareupdateexclusivelock": np.full(n, 0.1),
        "accessexclusivelock": np.zeros(n),
        "exclusivelock": np.zeros(n),
        "sharerowexclusivelock": np.zeros(n),
    }
    for mode, count in locks.items():
        rec.gauge(
            pod,
            "pg_locks_count",
            {"datname": "analytics", "mode": mode},
            np.clip(
                np.round(count + rec.noise(0.3) * (mode in ("accesssharelock", "rowexclusivelock"))), 0, None
            ),
        )
    db = {"datid": "16402", "datname": "analytics"}
    rec.counter(pod, "pg_stat_database_xact_commit", db, f.sink / 40 + 6 * p.traffic)
    rec.counter(pod, "pg_stat_database_xact_rollback", db, np.full(n, 0.01))
    rec.counter(pod, "pg_stat_database_tup_inserted", db, f.sink * 0.3)
    rec.counter(pod, "pg_stat_database_tup_updated", db, f.sink * 0.7)
    rec.counter(pod, "pg_stat_database_blks_read", db, 120 + 9000 * building)
    rec.counter(pod, "pg_stat_database_blks_hit", db, 2.2e4 * p.traffic)
    rec.gauge(
        pod, "pg_stat_database_numbackends", db, np.round(12 + 3 * f.blocked + migrating + rec.noise(0.4))
    )
    rec.gauge(pod, "pg_settings_max_connections", {}, np.full(n, 200.0))
    rec.gauge(
        pod,
        "pg_database_size_bytes",
        {"datname": "analytics"},
        4.1e11 + np.cumsum(f.sink * 310 * STEP) + 2.4e10 * np.clip(np.cumsum(building * STEP) / 1500, 0, 1),
    )
    rec.gauge(pod, "pg_up", {}, np.ones(n))


def mask_of(p: Platform, pod: str) -> np.ndarray:
    return p.exists[pod].astype(float)


def cpu_demand(p: Platform, f: Flows) -> dict[str, np.ndarray]:
    """Cores each pod's container uses while it runs."""
    t, n = p.traffic, p.n
    demand: dict[str, np.ndarray] = {}
    for pod, (workload, *_rest) in PODS.items():
        if pod in BROKERS:
            d = broker_cpu(p, f, BROKERS.index(pod))
        elif pod == CONNECT:
            d = connect_cpu(p, f)
        elif workload == "ingest-api":
            d = 0.1 + 0.12 * t
        elif pod == ENRICHER_A:
            d = 0.05 + f.enriched * (1 - f.enricher_b) / ENRICHER_CAPACITY * 1.5
        elif pod == ENRICHER_B:
            d = 0.05 + f.enriched * f.enricher_b / ENRICHER_CAPACITY * 1.5 + 1.2 * (f.enricher_b == 0)
        elif workload == "events-loader":
            d = 0.05 + 0.06 * t
        elif pod == JOBMANAGER:
            d = np.full(n, 0.15)
        elif pod in TASKMANAGERS:
            d = 0.3 + 0.35 * t + 0.3 * f.backpressure
        elif pod in ES_NODES:
            heavy = f.es_pressure if pod == ES_NODES[1] else 0.0
            d = 0.5 + 0.3 * t + 2.6 * np.clip((heavy - 0.5) * 2, 0, 1)
        elif workload == "clickhouse":
            dbt = sum(mask_of(p, run) for run in DBT_RUNS) if pod == CLICKHOUSE[1] else 0.0
            d = 0.5 + 0.3 * t + 0.3 * f.merges + 2.6 * f.mutation + 2.2 * dbt
        elif pod == REDIS:
            d = 0.08 + 0.05 * t + 0.00008 * np.diff(f.backfilled, prepend=0) / STEP
        elif workload == "zookeeper":
            d = np.full(n, 0.04)
        elif pod == PG:
            d = 0.15 + 0.1 * t + 0.95 * np.clip(p.added("pg.index_build"), 0, 1)
        elif pod == KIBANA:
            d = 0.08 + 0.25 * (p.added("es.fielddata") > 1e8)
        elif workload == "dbt-run":
            d = np.full(n, 1.6)
        elif pod == BACKFILL:
            d = np.full(n, 0.85)
        elif workload == "superset":
            d = 0.06 + 0.7 * np.clip(1 - (p.grid - (p.at(f"start.{pod}") or START)) / 120, 0, 1) * (
                pod == SUPERSET_NEW
            )
        else:
            d = np.full(n, 0.03)
        demand[pod] = np.clip(d + p.rec.noise(0.01), 0.002, None) * p.running(pod)
    return demand


def working_set(p: Platform, f: Flows, pod: str) -> np.ndarray:
    workload = PODS[pod][0]
    if pod == ENRICHER_B:
        return f.enricher_ws
    base = {
        "events-kafka": 9.4e9,  # the broker's heap and the page cache it counts
        "cdc-connect": 2.2e9,
        "enricher": 1.74e9,
        "search-es-data": 1.21e10,
        "clickhouse": 6.5e9,
        "feature-cache-master": 0.0,
        "analytics-pg": 3.1e9,
        "sessionizer": 3.9e9 if pod != JOBMANAGER else 1.1e9,
        "dbt-run": 1.4e9,
    }.get(workload, 2.2e8)
    if workload == "feature-cache-master":
        return f.redis_used * 1.07 + 1.2e7
    return base + p.rec.noise(base * 0.004 + 1e6)


PVCS = {  # claim: (its pod, capacity)
    **{f"data-0-{b}": (b, KAFKA_VOLUME) for b in BROKERS},
    **{f"data-{z}": (z, ZK_VOLUME) for z in ZOOKEEPER},
    **{f"elasticsearch-data-{e}": (e, 100 * GiB) for e in ES_NODES},
    **{f"data-volume-template-{c}": (c, 500 * GiB) for c in CLICKHOUSE},
    f"data-{PG}": (PG, 500 * GiB),
    f"redis-data-{REDIS}": (REDIS, 8 * GiB),
}


def volume_free(p: Platform, f: Flows, claim: str) -> np.ndarray:
    """Bytes free on a claim's volume, as the kubelet reports it."""
    pod, capacity = PVCS[claim]
    if pod in BROKERS:  # segments rolled and deleted: a wobble; what the snapshot writes stays
        wobble = 2.5e8 * np.sin((p.grid - START) / 1900 + BROKERS.index(pod))
        grown = np.cumsum(f.snapshot * 1000.0 * STEP)
        return capacity * (1 - KAFKA_USED[pod]) + wobble - grown + p.rec.noise(5e7)
    if pod in ZOOKEEPER:
        return f.zk_free[pod]
    used = {"search-es-data": 0.43, "clickhouse": 0.41, "analytics-pg": 0.83, "feature-cache-master": 0.22}
    return capacity * (1 - used[PODS[pod][0]]) + p.rec.noise(capacity * 2e-4)


def write_kubelet(p: Platform, f: Flows, demand: dict[str, np.ndarray]) -> None:
    """cAdvisor (each container life its own `id`, kube-prometheus-stack's relabelings: no
    `container_spec_*`) and the kubelet's own endpoint with each claim's volume stats."""
    rec, n = p.rec, p.n
    for node, ip in NODES.items():
        kubelet_target(rec, node, ip)
    for pod, (workload, cont, node, _, _) in PODS.items():
        if not p.exists[pod].any():
            continue
        version = "3.5.0" if pod in (LOADER_NEW_A, LOADER_NEW_B) else None
        image = IMAGES.get(workload, f"registry.local/data/{workload}:1.0.0")
        if version:
            image = image.replace("3.4.0", version)
        if workload == "superset" and pod == SUPERSET_NEW:
            image = "apache/superset:4.1.1"
        cpu_limit = CPU_LIMIT.get(workload)
        for k, life in enumerate(p.lives[pod]):
            alive = mask(n, life) & p.exists[pod]
            pod_uid = uid_of(pod + "/" + str(k)) if pod in p.recreated else uid_of(pod)
            lab = {
                "namespace": NAMESPACE,
                "pod": pod,
                "container": cont,
                "image": image,
                "name": f"k8s_{cont}_{pod}_{NAMESPACE}_{k}",
                "id": f"/kubepods/burstable/pod{pod_uid[:8]}/{stable(f'{pod}/{k}', 12)}",
            }
            key = "kubelet-" + node
            usage = demand[pod] if cpu_limit is None else np.minimum(demand[pod], cpu_limit)
            rec.counter(
                key,
                "container_cpu_usage_seconds_total",
                lab | {"cpu": "total"},
                np.where(alive, usage, 0.0),
                whole=False,
                alive=alive,
            )
            ws = working_set(p, f, pod)
            rec.gauge(key, "container_memory_working_set_bytes", lab, ws, alive=alive)
            rec.gauge(key, "container_memory_rss", lab, ws * 0.92, alive=alive)
            rec.gauge(key, "container_start_time_seconds", lab, np.full(n, p.started(pod, k)), alive=alive)
            if cpu_limit is not None:
                periods = 10 * np.clip(demand[pod] * 4, 0, 1)
                throttled = np.clip((demand[pod] / cpu_limit - 0.75) / 0.5, 0, 1)
                rec.counter(key, "container_cpu_cfs_periods_total", lab, periods, alive=alive)
                rec.counter(
                    key,
                    "container_cpu_cfs_throttled_periods_total",
                    lab,
                    periods * (0.005 + throttled),
                    alive=alive,
                )
    for node, ip in NODES.items():
        key = f"kubelet-{node}/metrics"
        rec.target(
            key,
            {
                "job": "kubelet",
                "service": "kube-prometheus-stack-kubelet",
                "namespace": "kube-system",
                "endpoint": "https-metrics",
                "metrics_path": "/metrics",
                "node": node,
                "instance": f"{ip}:10250",
            },
        )
        for claim, (pod, capacity) in PVCS.items():
            if PODS[pod][2] != node:
                continue
            free = np.clip(volume_free(p, f, claim), 0, capacity)
            labels = {"namespace": NAMESPACE, "persistentvolumeclaim": claim}
            alive = p.exists[pod]  # mounted while the pod exists, its container running or not
            rec.gauge(key, "kubelet_volume_stats_capacity_bytes", labels, np.full(n, capacity), alive=alive)
            rec.gauge(key, "kubelet_volume_stats_available_bytes", labels, np.round(free), alive=alive)
            rec.gauge(
                key, "kubelet_volume_stats_used_bytes", labels, np.round(capacity * 0.985 - free), alive=alive
            )


def write_kube_state_metrics(p: Platform) -> None:
    """kube-state-metrics with honorLabels: each pod's containers, restarts and why, limits, images, start;
    each Deployment's generations and replicas."""
    rec, n = p.rec, p.n
    ksm_target(rec, KSM_INSTANCE, "6d5c8b9f7-w8r3m")
    for pod, (workload, cont, node, _, _) in PODS.items():
        if not p.exists[pod].any():
            continue
        lives = p.lives[pod]
        objects = (
            [(life, uid_of(pod + "/" + str(k))) for k, life in enumerate(lives)]
            if pod in p.recreated
            else [((lives[0][0], n), uid_of(pod))]
        )
        for (begin, end), uid in objects:
            live = p.exists[pod] & mask(n, (begin, end if pod in p.recreated else n))
            subject = {"namespace": NAMESPACE, "pod": pod, "container": cont, "uid": uid}
            restarts = np.zeros(n)
            if pod not in p.recreated:
                for start, _ in lives[1:]:
                    restarts[start:] += 1
            rec.add(
                "ksm", "kube_pod_container_status_restarts_total", subject, restarts, counter=True, alive=live
            )
            if pod not in p.recreated and len(lives) > 1:
                reason = "OOMKilled" if workload == "enricher" else "Error"
                rec.gauge(
                    "ksm",
                    "kube_pod_container_status_last_terminated_reason",
                    subject | {"reason": reason},
                    np.ones(n),
                    alive=live & (restarts > 0),
                )
            waiting = live & ~p.running(pod)
            if waiting.any() and pod not in p.recreated:
                rec.gauge(
                    "ksm",
                    "kube_pod_container_status_waiting_reason",
                    subject | {"reason": "CrashLoopBackOff"},
                    np.ones(n),
                    alive=waiting,
                )
            for resource, unit, value in (
                ("memory", "byte", MEMORY_LIMIT.get(workload, GiB)),
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
            image = IMAGES.get(workload, f"registry.local/data/{workload}:1.0.0")
            if pod in (LOADER_NEW_A, LOADER_NEW_B):
                image = image.replace("3.4.0", "3.5.0")
            if pod == SUPERSET_NEW:
                image = "apache/superset:4.1.1"
            rec.gauge(
                "ksm",
                "kube_pod_container_info",
                subject
                | {"image": image, "image_spec": image, "container_id": "containerd://" + stable(uid, 12)},
                np.ones(n),
                alive=live,
            )
            started = p.started(pod, lives.index((begin, end)) if pod in p.recreated else 0)
            pod_labels = {"namespace": NAMESPACE, "pod": pod, "uid": uid}
            rec.gauge("ksm", "kube_pod_start_time", pod_labels, np.full(n, started), alive=live)
    for dep in DEPLOYMENTS:
        generation = 14 + np.round(p.added(f"gen.{dep}"))
        labels = {"namespace": NAMESPACE, "deployment": dep}
        rec.gauge("ksm", "kube_deployment_metadata_generation", labels, generation)
        rec.gauge("ksm", "kube_deployment_status_observed_generation", labels, generation)
        replicas = 2.0 if dep in ("ingest-api", "enricher", "events-loader") else 1.0
        rec.gauge("ksm", "kube_deployment_spec_replicas", labels, np.full(n, replicas))


def disk_load(p: Platform, f: Flows, node: str) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Each of the node's disks: (bytes written, bytes read per second, extra queueing 0..1)."""
    b = list(NODES).index(node)
    total = sum(r * size for r, (_, size, _) in zip(topic_rates(f).values(), TOPICS.values(), strict=True))
    kafka_written = total + f.snapshot * 1000.0 + f.reassign * 1.8e8 * (b != 1)
    kafka_read = 2e5 + f.reassign * 3.6e8 * (b == 1)
    es_written = f.sessions_in * 0.25 * 900 + 1e6
    ch = f.loaded * 0.5 * 95 * 3 + f.merges * 4e6 + f.mutation * 1.4e8 if b else np.zeros(p.n)
    pg = f.sink * 400 + 0.0 if b == 0 else np.zeros(p.n)
    pg_read = 9000 * 8192 * np.clip(p.added("pg.index_build"), 0, 1) if b == 0 else np.zeros(p.n)
    return {
        "nvme0n1": (np.full(p.n, 1.5e6), np.full(p.n, 2e5), np.zeros(p.n)),
        "nvme1n1": (kafka_written, kafka_read, f.slow_disk if node == N33 else np.zeros(p.n)),
        "nvme2n1": (es_written, np.full(p.n, 4e6), np.zeros(p.n)),
        "nvme3n1": (ch + pg + 2e5, 3e5 + pg_read + f.mutation * 1.2e8 * (b > 0), 0.7 * f.mutation * (b > 0)),
    }


def write_node_exporter(p: Platform, f: Flows, demand: dict[str, np.ndarray]) -> None:
    """node-exporter in `monitoring` (kube-prometheus-stack's chart: the kubelet's volume mounts left out
    of the filesystem collector): CPU by mode, load, memory, the root filesystem, each disk, eth0."""
    rec, n = p.rec, p.n
    for j, (node, ip) in enumerate(NODES.items()):
        key = node_exporter_target(rec, node, ip, f"{'kmt'[j]}p8v2").key
        used = 0.5 + sum(d for pod, d in demand.items() if PODS[pod][2] == node)
        busy = np.clip(used / CORES, 0, 0.97)
        disks = disk_load(p, f, node)
        iowait = 0.01 + 0.25 * disks["nvme1n1"][2] + 0.1 * disks["nvme3n1"][2]
        for cpu in range(int(CORES)):
            for mode, share in (
                ("user", 0.78 * busy),
                ("system", 0.16 * busy),
                ("iowait", iowait),
                ("softirq", 0.01 + 0.04 * busy),
                ("steal", np.full(n, 0.003)),
                ("idle", 1 - 0.98 * busy - iowait - 0.013),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(share + rec.noise(0.006), 0, 1),
                    whole=False,
                )
        rec.gauge(key, "node_load1", {}, np.clip(used * 1.05 + 8 * iowait + rec.noise(0.25), 0, None))
        rec.counter(
            key, "node_pressure_io_waiting_seconds_total", {}, 0.01 + 0.9 * disks["nvme1n1"][2], whole=False
        )
        resident = sum(working_set(p, f, pod) * p.running(pod) for pod in PODS if PODS[pod][2] == node)
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(n, 32 * GiB))
        rec.gauge(
            key,
            "node_memory_MemAvailable_bytes",
            {},
            np.clip(32 * GiB - np.nan_to_num(resident) * 0.8 - 1.5e9 + rec.noise(4e7), 5e8, None),
        )
        root = {"device": "/dev/nvme0n1p1", "fstype": "xfs", "mountpoint": "/"}
        rec.gauge(key, "node_filesystem_avail_bytes", root, 5.2e10 - 2e9 * j + rec.noise(3e7))
        rec.gauge(key, "node_filesystem_size_bytes", root, np.full(n, 1.07e11))
        rec.gauge(key, "node_filesystem_readonly", root, np.zeros(n))
        for device, (written, read, queued) in disks.items():
            dev = {"device": device}
            io_size = 2.6e5
            writes = np.minimum(written / io_size, 3000 * (1 - 0.9 * queued) + 60)
            util = np.clip(0.02 + (written + read) / 6e8 + queued, 0, 1)
            wait = 0.0012 * (1 + 40 * queued)
            rec.counter(key, "node_disk_written_bytes_total", dev, written * (1 - 0.25 * queued))
            rec.counter(key, "node_disk_read_bytes_total", dev, read)
            rec.counter(key, "node_disk_writes_completed_total", dev, writes)
            rec.counter(key, "node_disk_reads_completed_total", dev, read / 6.5e4 + 1)
            rec.counter(key, "node_disk_write_time_seconds_total", dev, writes * wait, whole=False)
            rec.counter(key, "node_disk_io_time_seconds_total", dev, util, whole=False)
            rec.counter(
                key, "node_disk_io_time_weighted_seconds_total", dev, util * (1 + 30 * queued), whole=False
            )
        eth0 = {"device": "eth0"}
        b = j
        into = 3e7 * p.traffic + f.reassign * 1.8e8 * (b != 1)
        out = 3.4e7 * p.traffic + f.reassign * 3.6e8 * (b == 1)
        rec.counter(key, "node_network_receive_bytes_total", eth0, into)
        rec.counter(key, "node_network_transmit_bytes_total", eth0, out)
        rec.counter(key, "node_network_receive_packets_total", eth0, into / 1200)
        rec.counter(key, "node_network_transmit_packets_total", eth0, out / 1200)
        rec.counter(key, "node_network_receive_drop_total", eth0, np.full(n, 0.02))
        rec.counter(key, "node_netstat_Tcp_RetransSegs", {}, 0.4 + 0.2 * p.traffic)


def build_platform(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series on the platform, with each of `inject`'s deltas added where it is read."""
    p = Platform(seed, inject)
    f = simulate(p)
    cp = checkpoints(p, f)
    demand = cpu_demand(p, f)
    write_brokers(p, f)
    write_kafka_exporter(p, f, cp)
    write_connect(p, f)
    write_ingest(p, f)
    write_enricher(p, f)
    write_loader(p, f)
    write_flink(p, f, cp)
    write_elasticsearch(p, f)
    write_redis(p, f)
    write_clickhouse(p, f)
    write_zookeeper(p, f)
    write_postgres(p, f)
    write_kubelet(p, f, demand)
    write_kube_state_metrics(p)
    write_node_exporter(p, f, demand)
    p.rec.up()
    for row in p.rec.families["up"]:  # a target whose container is down answers nothing: up 0
        if (down := p.down.get(row.target)) is not None:
            row.values[down] = 0.0
    return p.rec


# --- The scenarios ---------------------------------------------------------------------------------------


def window(at: float, seconds: float, size: float = 1.0, rise: float = 60.0) -> Delta:
    """`size` from `at` (reached after `rise` seconds) for `seconds`, then 0."""
    return lambda rec: np.clip((rec.grid - at) / rise, 0, 1) * (rec.grid < at + seconds) * size


def superset_rollout(at: float) -> dict[str, Delta]:
    """A rollout of superset (the BI UI, no scrape target): a new pod, the old one gone 40 s later."""
    return {f"start.{SUPERSET_NEW}": at, f"stop.{SUPERSET_OLD}": at + 40, "gen.superset": ramp(at, 1, 1)}


def broker_labels(broker: str) -> dict[str, str]:
    return strimzi(broker, "events-kafka", "Kafka", "kafka")


STRIMZI_PVC = 'persistentvolumeclaim=~"data(-[0-9]+)?-(.+)-kafka-[0-9]+"'


def _broker_disk() -> Scenario:
    on = hms(13, 48)
    items = 'topic="orders.public.order_items"'
    return Scenario(
        "broker_disk_cdc",
        {"cdc.snapshot": ramp(on, 7000, 120), **superset_rollout(on + 26 * 60)},
        Alert(
            "KafkaRunningOutOfSpace",
            f"kubelet_volume_stats_available_bytes{{{STRIMZI_PVC}}} * 100 / "
            f"kubelet_volume_stats_capacity_bytes{{{STRIMZI_PVC}}} < 15",
            {
                "endpoint": "https-metrics",
                "instance": f"{NODES[N32]}:10250",
                "job": "kubelet",
                "metrics_path": "/metrics",
                "namespace": NAMESPACE,
                "node": N32,
                "persistentvolumeclaim": f"data-0-{BROKERS[1]}",
                "service": "kube-prometheus-stack-kubelet",
            },
            starts=on + 31 * 60 + 15,  # for: 10s
            active=on + 30 * 60 + 45,
            extra={"severity": "warning"},
        ),
        Truth(
            ("events-kafka", "cdc-connect"),
            (
                f"kafka_log_log_size{{{items}}}",
                f"kafka_server_brokertopicmetrics_bytesin_total{{{items}}}",
                f"kafka_server_brokertopicmetrics_messagesin_total{{{items}}}",
                f"kafka_producer_topic_record_send_total{{{items}}}",
                f"kafka_producer_topic_byte_total{{{items}}}",
                "kafka_connect_source_task_source_record_poll_total",
                "kafka_connect_source_task_source_record_write_total",
                "debezium_metrics_snapshotrunning",
                "debezium_metrics_rowsscanned",
            ),
            "Debezium's incremental snapshot of order_items, 7 MB/s on each broker: kafka-1's volume at 85 %",
        ),
        build=build_platform,
    )


def _isr_slow_disk() -> Scenario:
    on = hms(14, 52)
    disk = 'device="nvme1n1"'
    return Scenario(
        "isr_slow_disk",
        {f"disk.{N33}.nvme1n1": ramp(on, 1, 60), **superset_rollout(on - 150)},
        Alert(
            "UnderReplicatedPartitions",
            "kafka_server_replicamanager_underreplicatedpartitions > 0",
            broker_labels(BROKERS[0]),
            starts=on + 2 * 60,  # for: 10s
            active=on + 105,
            extra={"severity": "warning"},
        ),
        Truth(
            (N33,),
            (
                f"node_disk_io_time_seconds_total{{{disk}}}",
                f"node_disk_io_time_weighted_seconds_total{{{disk}}}",
                f"node_disk_write_time_seconds_total{{{disk}}}",
                f"node_disk_writes_completed_total{{{disk}}}",
                f"node_disk_written_bytes_total{{{disk}}}",
                "node_pressure_io_waiting_seconds_total",
                'node_cpu_seconds_total{mode="iowait"}',
            ),
            "ip-10-0-3-33's nvme1n1 (events-kafka-2's EBS volume) saturated: kafka-2 falls out of the ISR",
            categories=("resource.disk",),
        ),
        build=build_platform,
    )


def _clickhouse_mutation() -> Scenario:
    on = hms(14, 5)
    return Scenario(
        "ch_mutation_lag",
        {"ch.mutation": ramp(on, 1, 480), **superset_rollout(hms(14, 31))},
        Alert(
            "KafkaConsumersGroup",
            'sum(kafka_consumergroup_lag{consumergroup="events-loader"}) by (consumergroup, topic) > 200000',
            {"consumergroup": "events-loader", "topic": "events.enriched"},
            starts=on + 32 * 60,  # for: 2m
            active=on + 30 * 60,
            extra={"severity": "critical"},
        ),
        Truth(
            ("clickhouse",),
            (
                "ClickHouseMetrics_PartMutation",
                "ClickHouseMetrics_BackgroundMergesAndMutationsPoolTask",
                "ClickHouseProfileEvents_MutatedRows",
                "ClickHouseAsyncMetrics_MaxPartCountForPartition",
                "ClickHouseProfileEvents_RejectedInserts",
                "ClickHouseProfileEvents_FailedInsertQuery",
                "ClickHouseProfileEvents_DelayedInserts",
                "ClickHouseProfileEvents_DelayedInsertsMilliseconds",
                "ClickHouseMetrics_DelayedInserts",
                "ClickHouseProfileEvents_Merge",
                "ClickHouseMetrics_Merge",
            ),
            "an ALTER TABLE events UPDATE holds ClickHouse' merge pool: parts to 300, inserts rejected",
            categories=("dependency.service",),
        ),
        build=build_platform,
    )


def _flink_elasticsearch() -> Scenario:
    on = hms(15, 2)
    es = 'name="search-es-data-1"'
    return Scenario(
        "flink_es_backpressure",
        {"es.fielddata": ramp(on, 2.6e9, 300), **superset_rollout(on + 8 * 60)},
        Alert(
            "FlinkCheckpointDurationHigh",
            "flink_jobmanager_job_lastCheckpointDuration / 1000 > 60",
            pod_monitor(JOBMANAGER, "flink-metrics", "metrics")
            | {"host": flink_label(PODS[JOBMANAGER][3]), "job_id": "a3f9c2e17b4d4e8f9c0d2b6a7e5f1c38"}
            | {"job_name": "sessionizer"},
            starts=on + 9 * 60 + 45,  # for: 5m
            active=on + 4 * 60 + 45,
            extra={"severity": "warning"},
        ),
        Truth(
            ("search-es-data",),
            (
                f'elasticsearch_jvm_memory_used_bytes{{{es},area="heap"}}',
                f'elasticsearch_jvm_gc_collection_seconds{{{es},gc="old"}}',
                f"elasticsearch_indices_fielddata_memory_size_bytes{{{es}}}",
                f"elasticsearch_breakers_estimated_size_bytes{{{es}}}",
                f"elasticsearch_breakers_tripped{{{es}}}",
                f'elasticsearch_thread_pool_rejected_count{{{es},type="write"}}',
                f'elasticsearch_thread_pool_queue_count{{{es},type="write"}}',
                f"elasticsearch_indices_search_query_total{{{es}}}",
                f"elasticsearch_indices_search_query_time_seconds{{{es}}}",
            ),
            "search-es-data-1's heap full of fielddata (a Kibana aggregation): old GCs, writes rejected",
            categories=("dependency.service", "resource.memory"),
        ),
        build=build_platform,
    )


def _redis_backfill() -> Scenario:
    on = hms(13, 31)
    backfill = f'pod="{BACKFILL}"'
    return Scenario(
        "redis_backfill",
        {
            f"start.{BACKFILL}": on - 15,
            f"stop.{BACKFILL}": on + 55 * 60,
            "redis.backfill": window(on, 55 * 60, 1500, 30),
            f"roll.{BROKERS[1]}": hms(13, 50),
            **superset_rollout(hms(13, 44)),
        },
        Alert(
            "RedisOutOfConfiguredMaxmemory",
            "redis_memory_used_bytes / redis_memory_max_bytes * 100 > 90",
            service_monitor(REDIS, "feature-cache-metrics", "http-metrics", container="metrics"),
            starts=on + 22 * 60,  # for: 2m
            active=on + 20 * 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("feature-cache-master", "profile-backfill"),
            (
                'redis_commands_total{cmd="set"}',
                'redis_commands_duration_seconds_total{cmd="set"}',
                "redis_db_keys",
                "redis_net_input_bytes_total",
                "redis_connected_clients",
                f"container_cpu_usage_seconds_total{{{backfill}}}",
                f"container_memory_working_set_bytes{{{backfill}}}",
                f"container_start_time_seconds{{{backfill}}}",
                f"kube_pod_start_time{{{backfill}}}",
                f"kube_pod_container_info{{{backfill}}}",
            ),
            "a profile backfill Job SETs 1,500 keys/s without a TTL into the feature cache",
        ),
        build=build_platform,
    )


def _enricher_oom() -> Scenario:
    leak_from = hms(14, 18)
    return Scenario(
        "enricher_oom",
        {f"leak.{ENRICHER_B}": ramp(leak_from, 2.5e6, 120), **superset_rollout(hms(14, 24))},
        Alert(
            "EnrichmentFallingBehind",
            'sum by (namespace) (rate(kafka_server_brokertopicmetrics_messagesin_total{namespace="data",'
            'topic="events.enriched"}[5m]))\n  / sum by (namespace) (rate(kafka_server_brokertopicmetrics_'
            'messagesin_total{namespace="data",topic="events.raw"}[5m])) < 0.9',
            {"namespace": NAMESPACE},
            starts=0.0,  # set from the data (`_first_kill`)
            active=0.0,
            extra={"severity": "critical", "team": "data-platform"},
        ),
        Truth(
            ("enricher",),
            (
                "container_memory_working_set_bytes",
                "container_memory_rss",
                "kube_pod_container_status_restarts_total",
                "kube_pod_container_status_last_terminated_reason",
                "kube_pod_container_status_waiting_reason",
            ),
            "enricher pod r8v6c: RocksDB state grows to its 3 GiB limit, OOMKilled, crash-looping on restore",
            {"pod": ENRICHER_B},
            categories=("resource.memory",),
        ),
        build=build_platform,
    )


def _zookeeper_disk() -> Scenario:
    full = hms(14, 44, 10)
    return Scenario(
        "zk_disk_full",
        {
            f"zk.full.{ZOOKEEPER[1]}": full,
            f"zk.full.{ZOOKEEPER[0]}": full + 40,
            f"zk.full.{ZOOKEEPER[2]}": full + 110,
            **superset_rollout(hms(14, 41)),
        },
        Alert(
            "ClickhouseZookeeperConnectionIssues",
            "avg(ClickHouseMetrics_ZooKeeperSession) != 1",
            {},
            starts=full + 90 + 180,  # for: 3m
            active=full + 90,
            extra={"severity": "warning"},
        ),
        Truth(
            ("zookeeper",),
            (
                "kubelet_volume_stats_available_bytes",
                "kubelet_volume_stats_used_bytes",
                "kube_pod_container_status_restarts_total",
                "kube_pod_container_status_last_terminated_reason",
                "kube_pod_container_status_waiting_reason",
                "num_alive_connections",
                "learners",
                "synced_followers",
            ),
            "ZooKeeper's volumes full (autopurge off): two of three servers crash-loop, no quorum",
            categories=("dependency.service", "resource.disk"),
        ),
        build=build_platform,
    )


def _loader_bad_deploy() -> Scenario:
    on = hms(15, 18)
    return Scenario(
        "loader_bad_deploy",
        {
            f"start.{LOADER_NEW_A}": on,
            f"stop.{LOADER_A}": on + 30,
            f"start.{LOADER_NEW_B}": on + 40,
            f"stop.{LOADER_B}": on + 70,
            "gen.events-loader": ramp(on, 1, 1),
            **superset_rollout(on - 90),
        },
        Alert(
            "ClickHouseTooManyParts",
            "max by (namespace, pod) "
            '(ClickHouseAsyncMetrics_MaxPartCountForPartition{namespace="data"}) > 200',
            {"namespace": NAMESPACE, "pod": CLICKHOUSE[0]},
            starts=on + 135 + 180,  # for: 3m
            active=on + 135,
            extra={"severity": "warning", "team": "data-platform"},
        ),
        Truth(
            ("events-loader",),
            (
                "kube_deployment_metadata_generation",
                "kube_deployment_status_observed_generation",
                "kube_pod_container_info",
                "kube_pod_start_time",
                "container_start_time_seconds",
                "process_start_time_seconds",
                "loader_build_info",
                'loader_insert_batches_total{status="ok"}',
                "loader_batch_rows",
                "loader_insert_duration_seconds",
            ),
            "events-loader 3.4.0 -> 3.5.0 flushes every 500 ms: 4x the inserts, parts past 200",
            categories=("change.deployment",),
        ),
        build=build_platform,
    )


def _reassignment() -> Scenario:
    on = hms(13, 38)
    return Scenario(
        "reassign_no_throttle",
        {"kafka.reassign": window(on, 25 * 60), **superset_rollout(on - 3 * 60)},
        Alert(
            "IngestApiLatencyHigh",
            "histogram_quantile(0.99, sum by (le, namespace, service) "
            '(rate(http_server_requests_seconds_bucket{namespace="data", service="ingest-api", '
            'uri="/v1/events"}[5m]))) > 0.5',
            {"namespace": NAMESPACE, "service": "ingest-api"},
            starts=on + 105 + 300,  # for: 5m
            active=on + 105,
            extra={"severity": "critical", "team": "ingestion"},
        ),
        Truth(
            ("events-kafka",),
            (
                "kafka_server_brokertopicmetrics_reassignmentbytesin_total",
                "kafka_server_brokertopicmetrics_reassignmentbytesout_total",
                "kafka_server_brokertopicmetrics_replicationbytesin_total",
                "kafka_server_brokertopicmetrics_replicationbytesout_total",
                "kafka_server_replicamanager_reassigningpartitions",
            ),
            "a partition reassignment without a throttle: 180-360 MB/s of replica traffic between brokers",
        ),
        build=build_platform,
    )


def _pg_sink_lock() -> Scenario:
    on = hms(15, 35)
    migrate = f'pod="{MIGRATE}"'
    return Scenario(
        "pg_sink_lock",
        {
            f"start.{MIGRATE}": on - 20,
            f"stop.{MIGRATE}": on + 22 * 60,
            "pg.index_build": window(on, 20 * 60, rise=15),
            **superset_rollout(on - 2 * 60),
        },
        Alert(
            "KafkaConnectSinkLagging",
            'sum by (consumergroup, topic) (kafka_consumergroup_lag{consumergroup=~"connect-.+"}) > 20000',
            {"consumergroup": "connect-analytics-pg-sink", "topic": "orders.public.orders"},
            starts=on + 135 + 300,  # for: 5m
            active=on + 135,
            extra={"severity": "warning", "team": "analytics"},
        ),
        Truth(
            ("analytics-pg", "analytics-migrate"),
            (
                'pg_locks_count{mode="sharelock"}',
                'pg_locks_count{mode="rowexclusivelock"}',
                'pg_stat_activity_count{usename="flyway"}',
                'pg_stat_activity_max_tx_duration{usename="flyway"}',
                'pg_stat_activity_count{usename="connect",state="active"}',
                'pg_stat_activity_max_tx_duration{usename="connect",state="active"}',
                "pg_stat_database_blks_read",
                f"kube_pod_start_time{{{migrate}}}",
                f"kube_pod_container_info{{{migrate}}}",
                f"container_start_time_seconds{{{migrate}}}",
                f"container_cpu_usage_seconds_total{{{migrate}}}",
            ),
            "a migration's CREATE INDEX (not CONCURRENTLY) on orders_mirror blocks the JDBC sink's upserts",
            categories=("dependency.service", "change.deployment"),
        ),
        build=build_platform,
    )


def _first_kill(scenario: Scenario) -> Scenario:
    """The throughput alert becomes active 195 s after enricher B's first OOM kill (as Prometheus evaluates
    its rule over the recording) and fires five minutes later (its `for:`)."""
    p = Platform(scenario.seed, scenario.inject)
    simulate(p)
    killed = float(p.grid[p.lives[ENRICHER_B][0][1]])
    return active_from(scenario, killed + 195, starts=killed + 195 + 300)


STREAMING_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _broker_disk(),
        _isr_slow_disk(),
        _clickhouse_mutation(),
        _flink_elasticsearch(),
        _redis_backfill(),
        _first_kill(_enricher_oom()),
        _zookeeper_disk(),
        _loader_bad_deploy(),
        _reassignment(),
        _pg_sink_lock(),
    )
}
