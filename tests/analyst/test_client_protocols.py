"""A Kafka producer's record queue time rises and its buffer empties when the brokers slow down: the
client's wait on its servers, whose labels name no broker. The brokers' own series in the same evidence
say which component serves Kafka; their request handlers, idle 80 % of the time before, are busy. The
brokers are the cause, and their idle share falling is a saturation of their own."""

from __future__ import annotations

import dataclasses

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.categories import MetricFamily, metric_family
from analyst.builtin.entities import SeriesKind, in_expression, series_kind
from analyst.builtin.protocols import client_protocol, protocol_edges, server_protocol
from analyst.builtin.topology import CallGraph, component_of
from analyst.evidence import Evidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    CHANGED_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
    labelled,
)

IDLE = "kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent"


def _producer_waits(with_brokers: bool) -> Evidence:
    series = [
        grid_series("ingest_latency_p99_seconds", "ingest-api", grid_step(0.03, 0.003, 1, 0.9), "alert"),
        grid_series(
            "kafka_producer_record_queue_time_avg", "ingest-api", grid_step(6.0, 0.4, 2, 360.0, CHANGED_AT)
        ),
        grid_series(
            "kafka_producer_buffer_available_bytes", "ingest-api", grid_step(3.2e7, 1e5, 3, 5e6, CHANGED_AT)
        ),
        grid_series("process_cpu_usage", "ingest-api", grid_noise(0.3, 0.02, 4)),
    ]
    if with_brokers:
        series += [
            grid_series(IDLE, "events-kafka", grid_step(0.84, 0.02, 5, 0.25, CHANGED_AT - 2)),
            grid_series(
                "kafka_server_replicamanager_partitioncount", "events-kafka", grid_noise(23.0, 0.0, 6)
            ),
            grid_series("kafka_log_log_size", "events-kafka", grid_noise(4e9, 1e6, 7)),
        ]
    series = [labelled(s, namespace="data") for s in series]
    return grid_evidence(series, alert_service="ingest-api", alertname="IngestApiLatencyHigh")


def test_a_kafka_client_calls_the_brokers_in_its_evidence() -> None:
    evidence = _producer_waits(with_brokers=True)
    graph = CallGraph.from_evidence(evidence.topology, evidence.series)
    assert graph.callees("ingest-api") == ("events-kafka",)
    assert protocol_edges((component_of(s), s) for s in evidence.series) == {"ingest-api": ["events-kafka"]}


def test_the_brokers_busy_handlers_explain_the_producers_wait() -> None:
    result = diagnose_evidence(_producer_waits(with_brokers=True), load_playbooks(None), now=ALERT_AT)
    primary = result.primary_hypothesis
    assert primary.title == "Worker pool saturated: events-kafka", primary
    assert primary.category == "resource.limits"
    assert IDLE in primary.suspect


def test_without_the_brokers_the_producers_wait_is_no_saturation_of_its_own() -> None:
    result = diagnose_evidence(_producer_waits(with_brokers=False), load_playbooks(None), now=ALERT_AT)
    assert not result.primary_hypothesis.title.startswith("CPU saturation"), result.primary_hypothesis
    for metric in ("kafka_producer_record_queue_time_avg", "kafka_producer_buffer_available_bytes"):
        assert series_kind(metric) is SeriesKind.OUTBOUND_LATENCY, metric


def test_a_pools_idle_share_is_saturation_as_it_falls() -> None:
    assert series_kind(IDLE) is SeriesKind.SATURATION
    assert metric_family(IDLE) is MetricFamily.WORKER_POOL
    assert (
        metric_family("kafka_network_socketserver_networkprocessoravgidle_percent")
        is MetricFamily.WORKER_POOL
    )
    assert metric_family("node_cpu_idle_percent") is MetricFamily.CPU  # a CPU's idle share stays the CPU's
    falling = grid_series(IDLE, "events-kafka", grid_step(0.84, 0.02, 5, 0.25))
    rising = grid_series(IDLE, "events-kafka", grid_step(0.5, 0.02, 5, 0.95))
    for series, hurts in ((falling, True), (rising, False)):
        evidence = grid_evidence(
            [
                grid_series(
                    "ingest_latency_p99_seconds", "ingest-api", grid_step(0.03, 0.003, 1, 0.9), "alert"
                ),
                series,
            ],
            alert_service="ingest-api",
        )
        result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)
        assert (result.primary_hypothesis.title == "Worker pool saturated: events-kafka") is hurts


def test_a_sql_pool_stays_a_resource_of_its_client_but_calls_the_database() -> None:
    assert client_protocol("hikaricp_connections_pending") == "sql"
    assert server_protocol("pg_stat_activity_count") == "sql"
    assert server_protocol("hikaricp_connections_pending") is None
    assert series_kind("hikaricp_connections_pending") is SeriesKind.SATURATION  # a pool can run out
    series = [
        grid_series("hikaricp_connections_pending", "gateway", grid_noise(0.0, 0.1, 1)),
        grid_series("pg_stat_activity_count", "orders-db", grid_noise(20.0, 1.0, 2)),
        grid_series("redis_connected_clients", "quote-cache", grid_noise(20.0, 1.0, 3)),
    ]
    assert protocol_edges((component_of(s), s) for s in series) == {"gateway": ["orders-db"]}


def test_a_queues_backlog_is_work_waiting_for_its_consumers_not_the_brokers_saturation() -> None:
    """Thumbnail jobs pile up in RabbitMQ, then the thumbnailer works through them at full CPU beside
    checkout's pods: the backlog came first, but it is load, not a resource of the broker's running out."""
    for metric in (
        "rabbitmq_queue_messages_ready",
        "rabbitmq_queue_messages_unacked",
        "kafka_consumergroup_lag",
        "aws_sqs_approximate_number_of_messages_visible_average",
    ):
        assert series_kind(metric) is SeriesKind.THROUGHPUT, metric
    assert series_kind("executor_queue_size") is SeriesKind.SATURATION  # a pool's own queue stays its own
    series = [
        grid_series("checkout_latency_p99_seconds", "checkout", grid_step(0.1, 0.01, 1, 0.6), "alert"),
        grid_series(
            "rabbitmq_queue_messages_ready", "rabbitmq", grid_step(2.0, 1.0, 2, 2900.0, CHANGED_AT - 3)
        ),
        grid_series("container_cpu_usage_seconds_total", "thumbnailer", grid_step(0.05, 0.01, 3, 3.6)),
        grid_series("process_cpu_usage", "checkout", grid_noise(0.3, 0.02, 4)),
    ]
    evidence = grid_evidence(series, alert_service="checkout", alertname="CheckoutLatencyHigh")
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.title == "CPU saturation: thumbnailer", primary


def test_the_backlog_an_alert_sums_is_what_fired_not_the_brokers_cause() -> None:
    """`sum by (queue) (rabbitmq_queue_messages_ready) > 1000` fires for queue="orders": RabbitMQ's own
    series of that backlog is what fired; the worker holding its 50 prefetched messages is the cause."""
    orders = {"queue": "orders"}
    alert = labelled(
        grid_series(
            "sum by (queue) (rabbitmq_queue_messages_ready)", "", grid_step(3.0, 1.0, 1, 5400.0), "alert"
        ),
        **orders,
    )
    series = [
        dataclasses.replace(alert, component=None),
        labelled(
            grid_series("rabbitmq_queue_messages_ready", "rabbitmq", grid_step(3.0, 1.0, 2, 5400.0)), **orders
        ),
        labelled(
            grid_series("rabbitmq_queue_messages_ready", "rabbitmq", grid_noise(4.0, 1.0, 3)), queue="emails"
        ),
        labelled(
            grid_series("worker_messages_inflight", "order-worker", grid_step(10.0, 3.0, 4, 50.0)), **orders
        ),
        grid_series("process_cpu_usage", "order-worker", grid_noise(0.2, 0.01, 5)),
    ]
    evidence = grid_evidence(series, alertname="RabbitmqTooManyReadyMessages")
    evidence = dataclasses.replace(
        evidence,
        alert=dataclasses.replace(
            evidence.alert,
            labels={"alertname": "RabbitmqTooManyReadyMessages", **orders},
            expr="sum(rabbitmq_queue_messages_ready) by (queue) > 1000",
        ),
    )
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.title.endswith(": order-worker"), primary
    assert in_expression("rabbitmq_queue_messages_ready", evidence.alert.expr or "")
    assert not in_expression("rabbitmq_queue_messages", evidence.alert.expr or "")
