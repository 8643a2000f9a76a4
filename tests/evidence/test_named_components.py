"""An alert without identifying labels (`sum by (consumergroup) (kafka_consumergroup_lag) > 10000`, from
awesome-prometheus-alerts) had no related series at all. Its label values that look like names are looked
up as components: a consumer group named after the service that consumes. Through a real Prometheus."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator

import numpy as np
import pytest

from analyst.builtin import BuiltinAnalyst
from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, noisy, start_backfilled_prometheus
from receiver.evidence.context import collect_alert_context, named_components
from receiver.evidence.settings import ContextSettings
from tests.evidence.alerts import firing_incident, source_at

STEP = 60.0
END = math.floor(time.time() / STEP) * STEP - 120
EXPR = "sum by (consumergroup) (kafka_consumergroup_lag) > 10000"


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    ts = np.arange(END - 3 * 3600, END + STEP, STEP)
    pool = noisy(ts, 8, 1, 0)
    pool[ts >= END - 900] = 25  # every connection of its pool held
    lag = noisy(ts, 200, 20, 1, steps=[(END - 720, 30_000)])
    risk = {"namespace": "trading", "service": "risk-engine", "pod": "risk-engine-5b6f7c9d8-h7rtn"}
    series = [
        SyntheticSeries(
            "kafka_consumergroup_lag", {"consumergroup": "risk-engine", "topic": "fills"}, ts, lag
        ),
        SyntheticSeries("go_sql_in_use_connections", risk, ts, pool),
        SyntheticSeries("go_sql_max_open_connections", risk, ts, np.full(ts.size, 25.0)),
        SyntheticSeries("process_resident_memory_bytes", risk, ts, noisy(ts, 2e8, 1e6, 2)),
        SyntheticSeries(
            "rabbitmq_queue_messages_ready",
            {"service": "rabbitmq", "queue": "orders"},
            ts,
            noisy(ts, 3, 1, 3, steps=[(END - 720, 5000)]),
        ),
        SyntheticSeries(
            "rabbitmq_queue_messages_ready",
            {"service": "rabbitmq", "queue": "payments"},
            ts,
            noisy(ts, 3, 1, 4),
        ),
        SyntheticSeries(
            "worker_messages_inflight",
            {"service": "order-worker", "queue": "orders"},
            ts,
            noisy(ts, 5, 1, 5, steps=[(END - 720, 50)]),
        ),
        SyntheticSeries(
            "worker_messages_inflight",
            {"service": "payment-worker", "queue": "payments"},
            ts,
            noisy(ts, 5, 1, 6),
        ),
    ]
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("named-components"), series)
    yield proc
    proc.stop()


def test_only_values_that_look_like_names_are_tried_and_never_the_alerts_name() -> None:
    labels = {"alertname": "KafkaConsumersGroupLag", "severity": "critical", "consumergroup": "risk-engine"}
    pairs = named_components({**labels, "partition": "7"}, set(), ContextSettings())
    assert {value for _, value in pairs} == {"risk-engine"}
    assert ("service", "risk-engine") in pairs and ("job", "risk-engine") in pairs


async def test_a_consumer_groups_lag_is_explained_by_the_consumer_it_is_named_after(
    prometheus: ManagedProcess,
) -> None:
    labels = {"alertname": "KafkaConsumersGroupLag", "severity": "critical", "consumergroup": "risk-engine"}
    incident = firing_incident(END - 600, labels, EXPR)
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident, source, ContextSettings(), now=END)
    primary = (await BuiltinAnalyst().diagnose(evidence)).primary_hypothesis

    assert any("looked up as the names of components" in note for note in evidence.notes)
    assert any(s.metric == "go_sql_in_use_connections" and s.available for s in evidence.series)
    assert primary.suspect.startswith("go_sql_in_use_connections{"), primary


async def test_a_queues_backlog_finds_the_series_of_its_queue(prometheus: ManagedProcess) -> None:
    """`sum(rabbitmq_queue_messages_ready) by (queue) > 1000` on `queue="orders"`: its consumer's own series
    carry `queue="orders"` and are named after no queue. Before, only the alert's own series were fetched."""
    labels = {"alertname": "RabbitmqTooManyReadyMessages", "severity": "warning", "queue": "orders"}
    incident = firing_incident(END - 600, labels, "sum(rabbitmq_queue_messages_ready) by (queue) > 1000")
    async with source_at(prometheus.url) as source:
        evidence = await collect_alert_context(incident, source, ContextSettings(), now=END)

    related = {(s.metric, s.labels.get("queue")) for s in evidence.series if s.role == "related"}
    assert ("worker_messages_inflight", "orders") in related, related
    assert ("worker_messages_inflight", "payments") not in related
