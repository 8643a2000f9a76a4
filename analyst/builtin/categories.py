"""Map a series (metric name + labels) to the metric family it measures and the cause category it suggests."""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from enum import StrEnum

from analyst.diagnosis import Category


class MetricFamily(StrEnum):
    """What a series measures; finer than a Category, used for ranking priors and playbook lookup."""

    DEPLOYMENT = "deployment"
    FUNDING = "funding"
    VOLATILITY = "volatility"
    PNL = "pnl"
    FILL_LATENCY = "fill_latency"
    DATA_FEED = "data_feed"
    LIQUIDITY = "liquidity"
    VOLUME = "volume"
    DB_POOL = "db_pool"
    DATABASE = "database"
    CPU = "cpu"
    MEMORY = "memory"
    DISK = "disk"
    LIMITS = "limits"
    NETWORK = "network"
    DNS = "dns"  # name resolution: the cluster DNS (CoreDNS) and other resolvers
    PROBE = "probe"  # a blackbox probe of an endpoint (blackbox_exporter's `probe_*`)
    WORKER_POOL = "worker_pool"  # the share of its time a server's pool of request handlers sat idle
    LATENCY = "latency"
    ERRORS = "errors"
    REQUESTS = "requests"
    OTHER = "other"


# Checked in order: the first family whose pattern matches the metric name wins.
_FAMILY_PATTERNS: tuple[tuple[MetricFamily, str], ...] = (
    (MetricFamily.PROBE, r"^probe_"),
    (
        MetricFamily.DEPLOYMENT,
        r"process_start_time|deployment_(status_observed_|metadata_)?generation|restarts?(_total)?$"
        r"|container_status_restarts|(terminated|waiting)_reason|build_info|deploy|rollout|release",
    ),
    # Kafka's `kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent`: its request handlers
    # busy all the time, whatever keeps them busy (a slow disk, replication, a flood of requests)
    (MetricFamily.WORKER_POOL, r"(pool|handler|worker|processor|thread).*idle_?(percent|pct|ratio)$"),
    # or its busy threads (Micrometer's `tomcat_threads_busy_threads`, `executor_active_threads`) or busy
    # workers, which a pool's configured maximum bounds (not the workers alive: celery's
    # `celery_active_worker_count` counts processes, which a scale-down lowers)
    (MetricFamily.WORKER_POOL, r"threads?_(busy|active)|(busy|active)_threads?|workers?_busy|busy_workers?"),
    (MetricFamily.FUNDING, r"funding"),
    (MetricFamily.VOLATILITY, r"volatil|(^|_)(realized|implied)_vol|(^|_)vix|(^|_)atr(_|$)|(^|_)iv(_|$)"),
    (MetricFamily.PNL, r"pnl|profit|drawdown|(^|_)p_?and_?l(_|$)|strategy_return"),
    (
        MetricFamily.FILL_LATENCY,
        r"(fill|execution|order_ack|exec|slippage).*(latency|delay|duration|seconds)",
    ),
    (MetricFamily.DATA_FEED, r"feed|(^|_)ticks?(_|$)|quote_age|stale|market_data|last_update|heartbeat_age"),
    # a depth is the order book's, unless the name says it is a queue's (`job_queue_depth`)
    (
        MetricFamily.LIQUIDITY,
        r"liquidity|spread|order_?book|book_depth|^(?!.*(queue|backlog))(.*_)?depth(_|$)",
    ),
    # a traded volume, not a storage volume's (`kubelet_volume_stats_available_bytes`)
    (MetricFamily.VOLUME, r"(^|_)volume(_(?!stats)|$)|traded_|notional"),
    (
        MetricFamily.DB_POOL,
        r"(pool|connections?).*(in_?use|active|busy|pending|wait|exhaust|max|saturat)"
        r"|hikaricp|pgbouncer|db_?pool|connection_pool",
    ),
    (MetricFamily.DATABASE, r"(^|_)(db|database|sql|pg|postgres|mysql|mongo|redis|dynamodb|rds)(_|$)|query_"),
    (MetricFamily.CPU, r"cpu|node_load|load_?average|throttl"),
    (MetricFamily.MEMORY, r"mem|heap|(^|_)gc(_|$)|garbage|oom|(^|_)rss(_|$)|swap"),
    (MetricFamily.DISK, r"disk|filesystem|(^|_)fs_|inode|(^|_)io_|iops|volume_stats"),
    # a process's or host's own limits: file descriptors (`process_open_fds`, `node_filefd_allocated`),
    # processes and threads (`container_threads`, `node_processes_pids`)
    (MetricFamily.LIMITS, r"(^|_)(open_)?fds?(_|$)|filefd|file_?descriptors?|(^|_)pids(_|$)|threads_max"),
    (MetricFamily.DNS, r"coredns|kubedns|skydns|dnsmasq|(^|_)dns(_|$)"),
    (
        MetricFamily.NETWORK,
        r"network|(^|_)net_|tcp|udp|packet|bandwidth|dns|(^|_)(receive|transmit)_|retrans|conntrack|sockstat"
        r"|(^|_)rtt(_|$)|round_?trip",  # a round trip is the network path's time (and the peer's echo)
    ),
    (
        MetricFamily.LATENCY,
        r"latency|duration|response_time|(^|_)rtt?(_|$)|round_?trip|delay|_seconds_(bucket|sum|avg)",
    ),
    (MetricFamily.ERRORS, r"error|fail|5xx|exception|reject|availability|success_ratio|timeout|(^|_)up$"),
    (
        MetricFamily.REQUESTS,
        r"request|(^|_)(rps|qps|tps)(_|$)|throughput|traffic|(^|_)hits|orders?_(total|rate)",
    ),
)
_COMPILED = tuple((family, re.compile(pattern)) for family, pattern in _FAMILY_PATTERNS)
_OOM_REASON = re.compile(r"oom", re.IGNORECASE)

_DATABASE_WORDS = re.compile(
    r"(^|[^a-z])(db|database|sql|pg|postgres|mysql|mongo|redis|dynamodb|rds|cassandra)"
)
_DATABASE_LABELS = ("db", "database", "db_system", "datname", "db_name")

FAMILY_CATEGORY: Mapping[MetricFamily, Category] = {
    MetricFamily.DEPLOYMENT: Category.CHANGE_DEPLOYMENT,
    MetricFamily.FUNDING: Category.MARKET_FUNDING,
    MetricFamily.VOLATILITY: Category.MARKET_VOLATILITY,
    MetricFamily.PNL: Category.STRATEGY_DEGRADATION,
    MetricFamily.FILL_LATENCY: Category.DEPENDENCY_SERVICE,
    MetricFamily.DATA_FEED: Category.DATA_FEED,
    MetricFamily.LIQUIDITY: Category.MARKET_LIQUIDITY,
    MetricFamily.VOLUME: Category.MARKET_LIQUIDITY,
    MetricFamily.DB_POOL: Category.DEPENDENCY_DATABASE,
    MetricFamily.DATABASE: Category.DEPENDENCY_DATABASE,
    MetricFamily.CPU: Category.RESOURCE_CPU,
    MetricFamily.MEMORY: Category.RESOURCE_MEMORY,
    MetricFamily.DISK: Category.RESOURCE_DISK,
    MetricFamily.LIMITS: Category.RESOURCE_LIMITS,
    MetricFamily.NETWORK: Category.NETWORK,
    MetricFamily.DNS: Category.NETWORK,
    MetricFamily.PROBE: Category.DEPENDENCY_SERVICE,
    MetricFamily.WORKER_POOL: Category.RESOURCE_LIMITS,
    MetricFamily.LATENCY: Category.DEPENDENCY_SERVICE,
    MetricFamily.ERRORS: Category.DEPENDENCY_SERVICE,
    MetricFamily.REQUESTS: Category.TRAFFIC_SURGE,
    MetricFamily.OTHER: Category.UNKNOWN,
}

# Families whose series time or carry traffic on the network path: a symptom there is the path's own.
NETWORK_FAMILIES = frozenset({MetricFamily.NETWORK, MetricFamily.DNS})

# Families that usually show an effect (the alert's own kind of signal) rather than a cause.
SYMPTOM_FAMILIES = frozenset(
    {MetricFamily.LATENCY, MetricFamily.ERRORS, MetricFamily.PNL, MetricFamily.OTHER}
)


_TIMED = re.compile(r"latency|duration|response_time|delay|_seconds$")


def timed_part(name: str) -> str | None:
    """`_count` or `_sum` when `name` (lower case) is that part of a histogram or summary of durations."""
    for suffix in ("_count", "_sum"):
        if name.endswith(suffix) and _TIMED.search(name.removesuffix(suffix)):
            return suffix
    return None


# Labels that carry a request's outcome, and the values that mean the server failed: HTTP 5xx (Prometheus
# client libraries, Istio, OpenTelemetry's semantic conventions), gRPC's server-side error codes (by name
# or number), Spring's outcome.
_HTTP_STATUS = (
    "code",
    "status",
    "status_code",
    "response_code",
    "http_status",
    "http_status_code",
    "http_response_status_code",
)
_GRPC_STATUS = ("grpc_code", "grpc_status", "rpc_grpc_status_code")
# A DNS answer's code (CoreDNS' `rcode`): SERVFAIL and REFUSED are the server's failures to answer (NXDOMAIN
# is an answer: the name does not exist).
_DNS_RCODE = ("rcode",)
# A generic outcome label (`result="error"` on a check's count, `outcome="failure"`, `status="failed"`).
_RESULT = ("result", "outcome", "status")
# Every label that carries a request's outcome (HTTP, gRPC, Spring's `outcome`, DNS, a generic result).
OUTCOME_LABELS = frozenset({*_HTTP_STATUS, *_GRPC_STATUS, *_RESULT, *_DNS_RCODE})
_SERVER_ERRORS = (
    (_HTTP_STATUS, re.compile(r"5\d\d|5xx", re.IGNORECASE)),
    (
        _GRPC_STATUS,
        re.compile(
            r"unknown|deadline_?exceeded|unimplemented|internal|unavailable|data_?loss|2|4|12|13|14|15", re.I
        ),
    ),
    (("outcome",), re.compile(r"server_error", re.IGNORECASE)),
    (_DNS_RCODE, re.compile(r"servfail|refused", re.IGNORECASE)),
    (_RESULT, re.compile(r"errors?|fail(ed|ure|s)?|exception", re.IGNORECASE)),
)


def server_error(labels: Mapping[str, str] | None) -> bool:
    """Whether a series counts failed requests by its outcome label (`code="503"`,
    `grpc_code="Unavailable"`, `outcome="SERVER_ERROR"`, a DNS answer's `rcode="SERVFAIL"`)."""
    if not labels:
        return False
    return any(
        pattern.fullmatch(labels[key]) for keys, pattern in _SERVER_ERRORS for key in keys if key in labels
    )


# A PromQL label matcher that keeps a value or a pattern: `code="503"`, `code=~"5.."`, `status=~"5xx|429"`.
_MATCHER = re.compile(r'([A-Za-z_][A-Za-z0-9_]*)\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"')


def selects_server_errors(expression: str) -> bool:
    """Whether a PromQL expression selects failed requests by their outcome label: `code=~"5.."`,
    `status_code="503"`, `grpc_code=~"Unavailable|Internal"` (the errors of an error ratio)."""
    for key, op, value in _MATCHER.findall(expression):
        for keys, pattern in _SERVER_ERRORS:
            if key not in keys:
                continue
            if op == "=" and pattern.fullmatch(value):
                return True
            options = value.strip("^$()").split("|") if op == "=~" else ()
            if keys is _HTTP_STATUS and any(option.startswith("5") for option in options):
                return True
            if any(pattern.fullmatch(option) for option in options):
                return True
    return False


def failed_requests(metric_name: str, labels: Mapping[str, str] | None) -> bool:
    """A count of failed requests: by its outcome label (`server_error`), or, for an expression, by the
    outcome its selectors keep (`selects_server_errors`)."""
    return server_error(labels) or ("{" in metric_name and selects_server_errors(metric_name))


def metric_family(metric_name: str, labels: Mapping[str, str] | None = None) -> MetricFamily:
    """Family of a metric, from its name (case-insensitive) and, failing that, its `__name__` label; a
    count of requests that failed by their outcome label (`failed_requests`) is an error series."""
    names = [metric_name.lower()]
    if labels and labels.get("__name__"):
        names.append(labels["__name__"].lower())
    if labels and _OOM_REASON.search(labels.get("reason", "")):  # kube-state-metrics' termination reason
        return MetricFamily.MEMORY
    failed = failed_requests(metric_name, labels)
    for name in names:
        if (family := _family_by_name(name)) is not None:
            return MetricFamily.ERRORS if failed and family is MetricFamily.REQUESTS else family
    return MetricFamily.ERRORS if failed else MetricFamily.OTHER


@functools.lru_cache(maxsize=8192)
def _family_by_name(name: str) -> MetricFamily | None:
    """The family a lower-case name alone says (None: none); the same few hundred names recur in every
    incident's evidence, so each is matched against the patterns once."""
    if (timed := timed_part(name)) is not None:  # a timing histogram's request count or busy time
        return MetricFamily.OTHER if timed == "_sum" else MetricFamily.REQUESTS
    name = name.removesuffix(":mean")  # the mean the evidence derives: the base's family
    return next((family for family, pattern in _COMPILED if pattern.search(name)), None)


def looks_like_database(component: str | None, labels: Mapping[str, str] | None = None) -> bool:
    """True when a component name or the series labels say it is a database."""
    if labels and any(labels.get(key) for key in _DATABASE_LABELS):
        return True
    return bool(component and _DATABASE_WORDS.search(component.lower()))


def categorize_series(metric_name: str, labels: Mapping[str, str]) -> Category:
    """Cause category a series suggests when it is the first thing that changed.

    Latency and error series of a database (by name or labels) suggest the database;
    of anything else, a failing dependency service.
    """
    family = metric_family(metric_name, labels)
    if family in (MetricFamily.LATENCY, MetricFamily.ERRORS) and looks_like_database(
        labels.get("service") or labels.get("job"), labels
    ):
        return Category.DEPENDENCY_DATABASE
    return FAMILY_CATEGORY[family]
