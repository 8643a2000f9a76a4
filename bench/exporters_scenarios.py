"""The audit's twelve trading incidents: each one cause, unrelated movers, the alert a real rule sends.

Every scenario injects its deltas into `bench.exporters_data.build_namespace` (seeded by its name, as the
audit seeded it), fires a realistic alert (most rules verbatim from awesome-prometheus-alerts) and states
the truth precisely: the component whose series carry the cause (a workload, or a node), the cause's
metric families, and the label values that single out its series (one pod of two, one venue of four).
The unrelated movers are the market open at 14:30Z, a rollout of `position-ui` (a restart tick, a
generation bump, a CPU burst) and a CPU burst of the `eod-reporting` batch job.
"""

from __future__ import annotations

import dataclasses
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from bench.exporters_data import DAY0, Delta, Recording, Row, build_namespace, iso

OG_A = "order-gateway-7d9f8b6c4-x2lqp"
OG_B = "order-gateway-7d9f8b6c4-m8z4t"
GENERATOR_PROMETHEUS = "http://prometheus-k8s.monitoring.svc:9090"
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count", "_max")
SELECTOR_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"')


def hms(h: int, m: int = 0, s: int = 0) -> float:
    return float(DAY0 + h * 3600 + m * 60 + s)


def ramp(at: float, size: float, seconds: float = 60) -> Delta:
    return lambda rec: rec.step(at, size, seconds)


def climb(start: float, at_full: float, size: float) -> Delta:
    return lambda rec: np.clip((rec.grid - start) / (at_full - start), 0, 1) * size


def burst(at: float, size: float, seconds: float) -> Delta:
    return lambda rec: np.where((rec.grid >= at) & (rec.grid < at + seconds), size, 0.0)


def deploy_elsewhere(at: float, workload: str = "position-ui") -> dict[str, Delta]:
    """A rollout of an unrelated workload: a restart tick, a generation bump, a CPU burst."""
    return {
        f"restart.{workload}": burst(at, 0.02, 120),
        f"gen.{workload}": ramp(at, 1, 1),
        f"{workload}.cpu": burst(at, 0.6, 300),
        f"cpu.{workload}": burst(at, 0.5, 300),
    }


def batch_cpu(at: float) -> dict[str, Delta]:
    """The end-of-day reporting job's 15-minute CPU burst."""
    return {"eod-reporting.cpu": burst(at, 1.8, 900), "cpu.eod-reporting": burst(at, 1.8, 900)}


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    labels: Mapping[str, str]  # from the rule's `by`
    starts: float  # startsAt
    active: float  # when its condition began (ALERTS_FOR_STATE)
    extra: Mapping[str, str] = field(default_factory=dict)  # the rule's own labels

    @property
    def all_labels(self) -> dict[str, str]:
        return {"alertname": self.name, **self.labels, **self.extra}


@dataclass(frozen=True)
class Truth:
    """The cause: series of one of `components` (`Row.owner`), of one of `metrics` (a family, its histogram
    parts with it; `name{label="value"}` for some of its series), carrying `labels` where it has them.
    `categories`: the analyst's categories that state this cause by themselves (a redeploy of the
    component, a slow dependency), whatever series a hypothesis of one names; none (the trading set): a
    series must."""

    components: tuple[str, ...]
    metrics: tuple[str, ...]
    summary: str
    labels: Mapping[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] = ()

    def is_cause(self, row: Row) -> bool:
        return (
            row.owner in self.components
            and any(_selects(metric, row) for metric in self.metrics)
            and all(row.labels.get(k, v) == v for k, v in self.labels.items())
        )


def _selects(selector: str, row: Row) -> bool:
    """`name` or `name{label="value",...}`: the row is of that family and has those label values."""
    name, _, rest = selector.partition("{")
    return family_of(row.name, (name,)) is not None and all(
        row.labels.get(k) == v for k, v in SELECTOR_PAIR.findall(rest)
    )


def family_of(name: str, families: tuple[str, ...]) -> str | None:
    """The family of `families` that metric `name` belongs to (itself, or a histogram part of it)."""
    for family in families:
        if name == family or (name.startswith(family) and name[len(family) :] in HISTOGRAM_PARTS):
            return family
    return None


@dataclass(frozen=True)
class Kafka:
    """kafka-exporter in namespace `kafka`: `group` stops consuming `topic` from `at`."""

    group: str
    topic: str
    at: float


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Mapping[str, Delta]
    alert: Alert
    truth: Truth
    kafka: Kafka | None = None
    build: Callable[[int, Mapping[str, Delta]], Recording] = build_namespace  # the namespace it happens in

    @property
    def seed(self) -> int:
        return sum(map(ord, self.name))


def active_from(scenario: Scenario, active: float, starts: float) -> Scenario:
    """`scenario` with its alert active from `active` and firing at `starts` (times the generator decides,
    such as a kill a leak reaches)."""
    return dataclasses.replace(
        scenario, alert=dataclasses.replace(scenario.alert, starts=starts, active=active)
    )


def recording(scenario: Scenario, kube_state_metrics: bool = True) -> Recording:
    """Every series of the scenario, its alert's ALERTS_FOR_STATE among them; `kube_state_metrics=False`
    leaves kube-state-metrics' series out (the audit's NOKSM variant)."""
    rec = scenario.build(scenario.seed, scenario.inject)
    if scenario.kafka is not None:
        add_kafka(rec, scenario.kafka)
    if not kube_state_metrics:
        rec.drop_kube_state_metrics()
    rec.alerts_for_state(scenario.alert.all_labels, scenario.alert.active)
    return rec


def add_kafka(rec: Recording, kafka: Kafka) -> None:
    labels = {
        "job": "kafka-exporter",
        "service": "kafka-exporter",
        "namespace": "kafka",
        "endpoint": "metrics",
        "pod": "kafka-exporter-5f7d8c9b6-l4m2n",
        "container": "kafka-exporter",
        "instance": "10.42.2.90:9308",
    }
    rec.target("kafka-exporter", labels, miss=0.01)
    market = rec.market_curve()
    for p in range(3):
        part = {"topic": kafka.topic, "partition": str(p)}
        lag = 50 + 30 * market + rec.noise(15) + np.clip(rec.grid - kafka.at, 0, None) * 25 / 3
        rec.gauge(
            "kafka-exporter",
            "kafka_consumergroup_lag",
            {"consumergroup": kafka.group, **part},
            np.round(np.clip(lag, 0, None)),
        )
        other = np.round(np.clip(20 + rec.noise(8), 0, None))
        rec.gauge("kafka-exporter", "kafka_consumergroup_lag", {"consumergroup": "pnl-engine", **part}, other)
        rec.counter("kafka-exporter", "kafka_topic_partition_current_offset", part, 30 + 60 * market)
        consumed = np.where(rec.grid > kafka.at, 5, 30 + 60 * market)
        rec.counter(
            "kafka-exporter",
            "kafka_consumergroup_current_offset",
            {"consumergroup": kafka.group, **part},
            consumed,
        )
    rec.up()


def webhook(scenario: Scenario) -> dict[str, object]:
    """The Alertmanager v4 webhook the rule's alert arrives in (generatorURL: its expr)."""
    a = scenario.alert
    labels = a.all_labels
    url = f"{GENERATOR_PROMETHEUS}/graph?g0.expr={urllib.parse.quote_plus(a.expr)}&g0.tab=1"
    annotations = {"summary": a.name}
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": annotations,
        "startsAt": iso(a.starts),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": url,
        "fingerprint": f"{sum(json.dumps(labels, sort_keys=True).encode()):016x}",
    }
    return {
        "receiver": "alert-analyst",
        "status": "firing",
        "alerts": [alert],
        "groupLabels": {"alertname": a.name},
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": "http://alertmanager:9093",
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{a.name}"}}',
        "truncatedAlerts": 0,
    }


def _gateway_errors() -> Scenario:
    on = hms(14, 38)
    return Scenario(
        "hikari_exhaust",
        {
            "og.hikari_active.a": ramp(on, 10),
            "og.hikari_pending.a": ramp(on, 28, 90),
            "og.hikari_acquire.a": ramp(on, 2.5, 90),
            "og.hikari_timeouts.a": ramp(on + 30, 3),
            "og.err_share.a": ramp(on + 60, 0.35, 60),
            "og.threads.a": ramp(on, 200),
            "pg.idle in transaction": ramp(on - 30, 9),
            "pg.max_tx": ramp(on - 30, 45),
            **deploy_elsewhere(on - 60),
            **batch_cpu(on - 120),
        },
        Alert(
            "OrderGatewayErrorRatioHigh",
            'sum by (namespace, service) (rate(http_server_requests_seconds_count{namespace="trading",'
            'service="order-gateway",outcome="SERVER_ERROR"}[5m]))\n  / sum by (namespace, service) '
            '(rate(http_server_requests_seconds_count{namespace="trading",service="order-gateway"}[5m]))'
            " > 0.05",
            {"namespace": "trading", "service": "order-gateway"},
            starts=on + 7 * 60,
            active=on + 2 * 60,
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            ("order-gateway",),
            (
                "hikaricp_connections_active",
                "hikaricp_connections_idle",
                "hikaricp_connections_pending",
                "hikaricp_connections_acquire_seconds",
                "hikaricp_connections_timeout_total",
            ),
            "HikariCP pool of gateway pod x2lqp at its max 10, 28 pending",
            {"pod": OG_A},
        ),
    )


def _postgres_connections() -> Scenario:
    on = hms(14, 20)
    return Scenario(
        "pg_max_conn",
        {
            "risk.sql_in_use": climb(on, on + 20 * 60, 25),
            "pg.idle in transaction": climb(on + 30, on + 21 * 60, 52),
            "risk.sql_wait": ramp(on + 19 * 60, 2.0),
            "og.hikari_pending.a": ramp(on + 21 * 60, 3),
            "og.hikari_pending.b": ramp(on + 21 * 60, 3),
            **deploy_elsewhere(on + 18 * 60),
            **batch_cpu(on + 17 * 60),
        },
        Alert(
            "PostgresqlTooManyConnections",
            "sum by (instance, job, server) (pg_stat_activity_count) > min by (instance, job, server) "
            "(pg_settings_max_connections * 0.8)",
            {"instance": "10.42.3.5:9187", "job": "orders-db-metrics"},
            starts=on + 22 * 60,
            active=on + 19 * 60 + 30,
            extra={"severity": "warning"},
        ),
        Truth(
            ("risk-engine",),
            (
                "go_sql_in_use_connections",
                "go_sql_idle_connections",
                "go_sql_open_connections",
                "go_sql_wait_count_total",
                "go_sql_wait_duration_seconds_total",
            ),
            "risk-engine holds 25/25 connections idle in transaction",
        ),
    )


def _mysql_connections() -> Scenario:
    on = hms(14, 35)
    return Scenario(
        "mysql_conn",
        {
            "my.threads": climb(on, on + 5 * 60, 120),
            "my.conn_err": ramp(on + 5 * 60, 1.5),
            "my.running": ramp(on, 6),
            "eod-reporting.cpu": ramp(on - 60, 0.9),
            "cpu.eod-reporting": ramp(on - 60, 0.9),
        },
        Alert(
            "MysqlTooManyConnections(>80%)",
            "max_over_time(mysql_global_status_threads_connected[1m])"
            " / mysql_global_variables_max_connections * 100 > 80"
            " and mysql_global_variables_max_connections > 0",
            {
                "namespace": "trading",
                "service": "refdata-mysql",
                "job": "refdata-mysql",
                "pod": "refdata-mysql-0",
                "container": "mysqld-exporter",
                "endpoint": "http-metrics",
                "instance": "10.42.1.40:9104",
            },
            starts=on + 6 * 60,
            active=on + 4 * 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("refdata-mysql",),
            (
                "mysql_global_status_threads_connected",
                "mysql_global_status_threads_running",
                "mysql_global_status_max_used_connections",
                "mysql_global_status_connection_errors_total",
                "mysql_global_status_aborted_connects",
            ),
            "refdata-mysql threads_connected 151 = max_connections 151",
        ),
    )


def _redis_clients() -> Scenario:
    on = hms(14, 44)
    return Scenario(
        "redis_maxclients",
        {
            "redis.clients": climb(on, on + 4 * 60, 800),
            "redis.rejected": ramp(on + 4 * 60, 5),
            "redis.conn_rx": ramp(on, 4),
            **deploy_elsewhere(on - 30),
        },
        Alert(
            "RedisTooManyConnections",
            "redis_connected_clients / redis_config_maxclients * 100 > 90 and redis_config_maxclients > 0",
            {
                "namespace": "trading",
                "service": "quote-cache-redis",
                "job": "quote-cache-redis",
                "pod": "quote-cache-redis-0",
                "container": "redis-exporter",
                "endpoint": "http-metrics",
                "instance": "10.42.2.8:9121",
            },
            starts=on + 6 * 60,
            active=on + 4 * 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("quote-cache-redis",),
            (
                "redis_connected_clients",
                "redis_rejected_connections_total",
                "redis_connections_received_total",
            ),
            "quote-cache-redis connected_clients 1000 = maxclients 1000",
        ),
    )


def _funding_swing() -> Scenario:
    on = hms(14, 38)
    return Scenario(
        "pnl_funding",
        {
            "fund.BTC-PERP": ramp(on, 0.0024, 120),
            "pnl.btc-perp": climb(on + 90, on + 9 * 60, -180000),
            **deploy_elsewhere(on + 60),
            **batch_cpu(on + 90),
        },
        Alert(
            "PnLDrop",
            'delta(pnl_usd{namespace="trading"}[15m]) < -50000',
            {
                "namespace": "trading",
                "service": "pnl-engine",
                "job": "pnl-engine",
                "pod": "pnl-engine-69d8f7c6b-w3j9x",
                "container": "pnl-engine",
                "endpoint": "http-metrics",
                "instance": "10.42.3.30:9106",
                "desk": "crypto",
                "book": "btc-perp",
            },
            starts=on + 9 * 60,
            active=on + 6 * 60,
            extra={"severity": "critical", "team": "crypto-desk"},
        ),
        Truth(
            ("pricing",), ("funding_rate",), "funding_rate BTC-PERP 0.0001 -> 0.0025", {"symbol": "BTC-PERP"}
        ),
    )


def _volume_surge() -> Scenario:
    on = hms(14, 52)
    return Scenario(
        "volume_latency",
        {
            "vol.binance": ramp(on, 3.0, 60),
            "og.exec_lat.binance": ramp(on + 45, 0.04, 120),
            "og.orders.binance": ramp(on + 30, 30),
            **deploy_elsewhere(on + 30),
            **batch_cpu(on),
        },
        Alert(
            "OrderExecutionLatencyHigh",
            "histogram_quantile(0.99, sum by (le, namespace, service, venue) "
            '(rate(order_execution_latency_seconds_bucket{namespace="trading"}[5m]))) > 0.05',
            {"namespace": "trading", "service": "order-gateway", "venue": "binance"},
            starts=on + 7 * 60,
            active=on + 3 * 60,
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            ("pricing", "md-feed"),
            ("traded_volume_total", "marketdata_messages_received_total"),
            "binance volume x4 (traded_volume_total, feed messages)",
            {"venue": "binance"},
        ),
    )


def _conntrack_full() -> Scenario:
    on = hms(14, 41)
    return Scenario(
        "feed_conntrack",
        {
            "node.ct.ip-10-0-1-13": climb(on - 120, on, 250000),
            "node.ctdrop.ip-10-0-1-13": ramp(on, 400),
            "node.softirq.ip-10-0-1-13": ramp(on, 0.1),
            "md.lag": ramp(on + 30, 2.5, 60),
            "md.drop.binance": ramp(on, 0),
            **batch_cpu(on - 60),
        },
        Alert(
            "MarketDataFeedLagging",
            'max by (namespace, service, venue) (marketdata_feed_lag_seconds{feed="l2book"}) > 1',
            {"namespace": "trading", "service": "md-feed", "venue": "binance"},
            starts=on + 5 * 60 + 30,
            active=on + 60,
            extra={"severity": "critical", "team": "market-data"},
        ),
        Truth(
            ("ip-10-0-1-13",),
            ("node_nf_conntrack_entries", "node_nf_conntrack_stat_drop"),
            "conntrack table full on md-feed's node ip-10-0-1-13, drops",
        ),
    )


def _fd_leak() -> Scenario:
    on = hms(14, 43)
    venues = ("cme", "binance", "deribit", "lmax")
    return Scenario(
        "xc_fds",
        {
            "xc.fds": climb(on - 25 * 60, on, 3200),
            **{f"xc.err.{v}": ramp(on, 1.5) for v in venues},
            **deploy_elsewhere(on - 60),
        },
        Alert(
            "ExchangeApiConnectErrors",
            'sum by (namespace, service, venue) (rate(exchange_api_errors{reason="connect"}[5m])) > 0.5',
            {"namespace": "trading", "service": "exchange-connector", "venue": "binance"},
            starts=on + 7 * 60,
            active=on + 3 * 60,
            extra={"severity": "critical", "team": "connectivity"},
        ),
        Truth(
            ("exchange-connector",),
            ("process_open_fds",),
            "exchange-connector process_open_fds 3944 of process_max_fds 4096",
        ),
    )


def _gc_pauses() -> Scenario:
    on = hms(14, 46)
    return Scenario(
        "gc_pause",
        {
            "og.exec_lat.binance.b": ramp(on, 0.06, 60),
            "og.exec_lat.cme.b": ramp(on, 0.06, 60),
            "og.exec_lat.lmax.b": ramp(on, 0.06, 60),
            "og.http_lat.b": ramp(on, 0.08, 60),
            "og.heap.b": climb(on - 30 * 60, on, 1.35e9),
            "og.gc.b": ramp(on - 60, 2.0),
            "og.gcsum.b": ramp(on - 60, 0.9),
            "og.gcmax.b": ramp(on - 60, 0.6),
            "mem.order-gateway": 0,
            **batch_cpu(on - 30),
        },
        Alert(
            "OrderExecutionLatencyHighPod",
            "histogram_quantile(0.99, sum by (le, namespace, service, pod) "
            '(rate(order_execution_latency_seconds_bucket{namespace="trading"}[5m]))) > 0.05',
            {"namespace": "trading", "service": "order-gateway", "pod": OG_B},
            starts=on + 6 * 60,
            active=on + 60,
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            ("order-gateway",),
            ("jvm_memory_used_bytes", "jvm_gc_pause_seconds"),
            "gateway pod m8z4t: G1 Old Gen heap at ~98 % of max, GC pauses",
            {"pod": OG_B},
        ),
    )


def _consumer_lag() -> Scenario:
    on = hms(14, 40)
    return Scenario(
        "kafka_lag",
        {
            "risk.sql_in_use": ramp(on, 25, 60),
            "risk.sql_wait": ramp(on, 8),
            "risk.consumed": ramp(on + 30, -70, 60),
            "risk.goroutines": ramp(on, 400),
            **deploy_elsewhere(on),
        },
        Alert(
            "KafkaConsumersGroupLag",
            "sum(kafka_consumergroup_lag) by (consumergroup) > 10000",
            {"consumergroup": "risk-engine"},
            starts=on + 7 * 60,
            active=on + 6 * 60,
            extra={"severity": "warning"},
        ),
        Truth(
            ("risk-engine",),
            (
                "go_sql_in_use_connections",
                "go_sql_open_connections",
                "go_sql_idle_connections",
                "go_sql_wait_count_total",
                "go_sql_wait_duration_seconds_total",
            ),
            "risk-engine's database pool 25/25, waits",
        ),
        Kafka(group="risk-engine", topic="fills", at=on + 30),
    )


def _venue_round_trip() -> Scenario:
    on = hms(14, 49)
    return Scenario(
        "rtt_vs_deploy",
        {
            "xc.rtt.lmax": ramp(on, 0.045, 60),
            "og.exec_lat.lmax": ramp(on + 20, 0.05, 60),
            **deploy_elsewhere(on),
            **batch_cpu(on + 15),
        },
        Alert(
            "OrderExecutionLatencyHigh",
            "histogram_quantile(0.99, sum by (le, namespace, service, venue) "
            '(rate(order_execution_latency_seconds_bucket{namespace="trading"}[5m]))) > 0.05',
            {"namespace": "trading", "service": "order-gateway", "venue": "lmax"},
            starts=on + 6 * 60,
            active=on + 2 * 60,
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            ("exchange-connector",),
            ("exchange_ws_rtt_seconds",),
            "exchange_ws_rtt_seconds{venue=lmax} 2 -> 47 ms",
            {"venue": "lmax"},
        ),
    )


def _pgbouncer_pool() -> Scenario:
    on = hms(14, 47)
    return Scenario(
        "pgbouncer_wait",
        {
            "pgb.sv_active.gateway": ramp(on, 12),
            "pgb.cl_waiting.gateway": ramp(on, 30),
            "pgb.maxwait.gateway": ramp(on, 3.0, 90),
            "pgb.db_current": ramp(on, 2),
            "pg.max_tx": ramp(on - 30, 30),
            "pg.active": ramp(on - 30, 8),
            "pg.locks.exclusivelock": ramp(on - 30, 20),
            "og.hikari_active.a": ramp(on + 20, 10),
            "og.hikari_active.b": ramp(on + 20, 10),
            "og.hikari_pending.a": ramp(on + 30, 15),
            "og.hikari_pending.b": ramp(on + 30, 15),
            **deploy_elsewhere(on + 10),
        },
        Alert(
            "HikariPoolPending",
            'max by (namespace, service) (hikaricp_connections_pending{namespace="trading"}) > 5',
            {"namespace": "trading", "service": "order-gateway"},
            starts=on + 6 * 60,
            active=on + 60,
            extra={"severity": "warning", "team": "execution"},
        ),
        Truth(
            ("pgbouncer", "orders-db"),
            (
                'pgbouncer_pools_server_active_connections{user="gateway"}',
                'pgbouncer_pools_server_idle_connections{user="gateway"}',
                'pgbouncer_pools_client_waiting_connections{user="gateway"}',
                'pgbouncer_pools_client_maxwait_seconds{user="gateway"}',
                "pgbouncer_databases_current_connections",
                'pg_stat_activity_max_tx_duration{state="idle in transaction"}',
                'pg_stat_activity_count{state="active"}',
                'pg_locks_count{mode="exclusivelock"}',
            ),
            "pgbouncer's server pool 20/20, clients waiting; long transactions on orders-db",
        ),
    )


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _gateway_errors(),
        _postgres_connections(),
        _mysql_connections(),
        _redis_clients(),
        _funding_swing(),
        _volume_surge(),
        _conntrack_full(),
        _fd_leak(),
        _gc_pauses(),
        _consumer_lag(),
        _venue_round_trip(),
        _pgbouncer_pool(),
    )
}
