"""The exporters benchmark's streaming set (`bench.exporters_streaming`): truths that select series which
move before the diagnosis, series laid out as Strimzi, kafka_exporter, Flink, elasticsearch_exporter,
ClickHouse, ZooKeeper and the kubelet write them (an exporter's series belong to the pod they describe, a
crash-looping container answers `up` 0 and counts from zero, a rolled broker comes back with a new uid),
and one scenario through Prometheus: its alert's rule holds from its activation to its startsAt and not
in the hour before. Determinism, truths in both variants and the no-ksm variant are tested for every set
in `test_exporters.py`.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pytest

from bench import exporters, jumps
from bench.exporters_data import Recording, Row
from bench.exporters_scenarios import SCENARIOS, recording
from bench.exporters_streaming import (
    BROKERS,
    ENRICHER_B,
    ES_EXPORTER,
    STREAMING_SCENARIOS,
    ZOOKEEPER,
)
from tests.bench.rule_check import NAME, rule_results

PROMQL_WORDS = {"sum", "by", "avg", "max", "rate", "histogram_quantile", "le", "and", "namespace", "service"}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Recording]:
    return {name: recording(s) for name, s in STREAMING_SCENARIOS.items()}


@pytest.fixture(scope="module")
def recordings(recorded: dict[str, Recording]) -> dict[str, list[Row]]:
    return {name: rec.rows() for name, rec in recorded.items()}


def _rows(rows: list[Row], metric: str, **labels: str) -> list[Row]:
    return [r for r in rows if r.name == metric and all(r.labels.get(k) == v for k, v in labels.items())]


def test_the_set_is_ten_streaming_scenarios_beside_the_others() -> None:
    assert len(STREAMING_SCENARIOS) == 10
    assert not set(STREAMING_SCENARIOS) & (set(SCENARIOS) | set(exporters.SETS["infra"]))
    assert exporters.SETS["streaming"] is STREAMING_SCENARIOS


@pytest.mark.parametrize("name", list(STREAMING_SCENARIOS))
def test_the_cause_moves_before_the_diagnosis_and_its_component_is_a_name_the_judge_knows(
    name: str, recorded: dict[str, Recording]
) -> None:
    """In the five minutes up to the diagnosis, or the quarter hour (a crash-looping container's lives are
    each too short for five minutes), against the whole history ahead."""
    scenario = STREAMING_SCENARIOS[name]
    at = scenario.alert.starts + exporters.DIAGNOSE_AFTER
    moved = []
    for row in recorded[name].rows():
        if scenario.truth.is_cause(row):
            times, values = jumps.per_second(row.times[row.keep], row.values[row.keep], row.counter)
            moved += [jumps.robust_jump(times, values, at, recent) for recent in (exporters.RECENT, 900.0)]
    assert max(moved) > 5, name
    index = exporters.Index(recorded[name])
    for component in scenario.truth.components:
        assert index.aliases.get(component) == component


@pytest.mark.parametrize("name", list(STREAMING_SCENARIOS))
def test_the_alerts_rule_reads_series_the_recording_has(name: str, recordings: dict[str, list[Row]]) -> None:
    alert = STREAMING_SCENARIOS[name].alert
    written = {row.name for row in recordings[name]}
    quoted = set(re.findall(r'"[^"]*"', alert.expr))
    bare = re.sub(r'"[^"]*"', "", alert.expr)
    metrics = {m for m in NAME.findall(bare) if m not in PROMQL_WORDS and "_" in m} - quoted
    metrics = {m for m in metrics if not m.startswith(("consumergroup", "persistentvolumeclaim", "topic"))}
    assert metrics and metrics <= written, metrics - written


def test_an_exporter_reporting_on_other_pods_gives_its_series_to_them(
    recordings: dict[str, list[Row]],
) -> None:
    """elasticsearch_exporter's node series belong to the Elasticsearch node its `name` label names, its
    cluster series to itself; the kubelet's volume stats belong to the pod whose claim it is."""
    rows = recordings["flink_es_backpressure"]
    heap = _rows(rows, "elasticsearch_jvm_memory_used_bytes", name="search-es-data-1", area="heap")
    assert [r.owner for r in heap] == ["search-es-data"] and heap[0].labels["pod"] == ES_EXPORTER
    health = _rows(rows, "elasticsearch_cluster_health_status", color="green")
    assert [r.owner for r in health] == ["elasticsearch-exporter"]
    volumes = {
        r.labels["persistentvolumeclaim"]: r.owner
        for r in rows
        if r.name == "kubelet_volume_stats_available_bytes"
    }
    assert volumes["data-zookeeper-1"] == "zookeeper" and volumes["data-0-events-kafka-1"] == "events-kafka"
    assert volumes["elasticsearch-data-search-es-data-2"] == "search-es-data"


def test_a_crash_looping_container_answers_up_0_counts_from_zero_and_gets_a_new_id(
    recordings: dict[str, list[Row]],
) -> None:
    rows = recordings["zk_disk_full"]
    full = STREAMING_SCENARIOS["zk_disk_full"].inject[f"zk.full.{ZOOKEEPER[1]}"]
    assert isinstance(full, float)
    up = _rows(rows, "up", pod=ZOOKEEPER[1])[0]
    after = up.keep & (up.times > full + 30)
    assert up.values[up.keep & (up.times < full)].min() == 1
    assert 0 < up.values[after].mean() < 0.5  # down between short lives in back-off
    fsyncs = _rows(rows, "fsynctime_count", pod=ZOOKEEPER[1])[0]
    kept = fsyncs.values[fsyncs.keep]
    assert (np.diff(kept) < 0).sum() >= 3 and kept[-1] < 1e4
    ids = {r.labels["id"] for r in _rows(rows, "container_memory_working_set_bytes", pod=ZOOKEEPER[1])}
    assert len(ids) >= 4
    restarts = _rows(rows, "kube_pod_container_status_restarts_total", pod=ZOOKEEPER[1])[0]
    assert restarts.values[restarts.keep][-1] == len(ids) - 1
    free = _rows(rows, "kubelet_volume_stats_available_bytes", persistentvolumeclaim="data-zookeeper-1")[0]
    assert free.values[free.keep & (free.times > full)].max() == 0


def test_an_oom_killed_pod_keeps_its_heap_while_its_container_grows_to_the_limit(
    recordings: dict[str, list[Row]],
) -> None:
    """The enricher's state lives in RocksDB, off the JVM heap: cAdvisor sees it, Micrometer does not."""
    rows = recordings["enricher_oom"]
    lives = _rows(rows, "container_memory_working_set_bytes", pod=ENRICHER_B)
    assert len(lives) >= 3 and lives[0].values[lives[0].keep].max() >= 0.99 * 3 * 2**30
    reason = _rows(rows, "kube_pod_container_status_last_terminated_reason", pod=ENRICHER_B)
    assert [r.labels["reason"] for r in reason] == ["OOMKilled"]
    heap = _rows(rows, "jvm_memory_used_bytes", pod=ENRICHER_B)[0]
    assert heap.values[heap.keep].max() < 0.7e9


def test_a_broker_strimzi_rolls_is_recreated_under_its_name(recordings: dict[str, list[Row]]) -> None:
    """redis_backfill's unrelated mover: events-kafka-1 is deleted and created again (a new uid, no
    scrapes between), its counters from zero; the other brokers report its partitions under-replicated."""
    rows = recordings["redis_backfill"]
    starts = _rows(rows, "kube_pod_start_time", pod=BROKERS[1])
    assert len({r.labels["uid"] for r in starts}) == 2
    up = _rows(rows, "up", pod=BROKERS[1])[0]
    gap = np.diff(up.times[up.keep]).max()
    assert 60 <= gap <= 120 and up.values[up.keep].min() == 1
    urp = _rows(rows, "kafka_server_replicamanager_underreplicatedpartitions", pod=BROKERS[0])[0]
    assert urp.values[urp.keep].max() >= 5
    messages = _rows(
        rows, "kafka_server_brokertopicmetrics_messagesin_total", pod=BROKERS[1], topic="events.raw"
    )
    assert (np.diff(messages[0].values[messages[0].keep]) < 0).sum() == 1


def test_the_exporters_label_shapes(recordings: dict[str, list[Row]]) -> None:
    rows = recordings["isr_slow_disk"]
    urp = _rows(rows, "kafka_server_replicamanager_underreplicatedpartitions", pod=BROKERS[2])[0]
    assert urp.labels["job"] == "data/kafka-resources-metrics" and "service" not in urp.labels
    assert urp.labels["strimzi_io_name"] == "events-kafka" and urp.labels["node_name"] == "ip-10-0-3-33"
    lag = _rows(rows, "kafka_consumergroup_lag", consumergroup="events-loader", partition="0")[0]
    assert lag.labels["strimzi_io_name"] == "events-kafka-exporter" and lag.owner == "events-kafka-exporter"
    task = _rows(rows, "flink_taskmanager_job_task_backPressuredTimeMsPerSecond", subtask_index="0")[0]
    assert (
        task.labels["task_name"].startswith("Source:_")
        and task.labels["tm_id"] == "sessionizer_taskmanager_1_1"
    )
    assert _rows(rows, "ClickHouseProfileEvents_InsertQuery") and not _rows(
        rows, "ClickHouseProfileEvents_InsertQuery_total"
    )
    assert not [
        r for r in rows if r.name == "node_filesystem_avail_bytes" and "kubelet" in r.labels["mountpoint"]
    ]


def test_the_set_option_runs_only_its_own_scenarios() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        exporters.main(["--set", "streaming", "--scenarios", "oom_leak"])
    assert "unknown scenario oom_leak" in err.getvalue()


@pytest.mark.slow
def test_the_alerts_rule_holds_from_its_activation_to_its_start_in_prometheus(tmp_path: Path) -> None:
    """enricher_oom, whose activation is read off the generator (195 s after the first OOM kill): its rule,
    evaluated by Prometheus over the backfilled recording, holds from then to startsAt and not before."""
    a = STREAMING_SCENARIOS["enricher_oom"].alert
    result = rule_results(recording(STREAMING_SCENARIOS["enricher_oom"]), a, tmp_path)
    assert [series["metric"] for series in result] == [a.labels]
    held = [float(t) for t, _ in result[0]["values"]]
    assert held[0] == pytest.approx(a.active, abs=1) and held[-1] == pytest.approx(a.starts, abs=1)
    assert len(held) == (a.starts - a.active) / 15 + 1  # every evaluation between
