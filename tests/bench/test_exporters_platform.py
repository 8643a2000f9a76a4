"""The exporters benchmark's platform set (`bench.exporters_platform`): truths that select series which move
before the diagnosis, series laid out as ingress-nginx, sidecar exporters, celery-exporter, HAProxy, the
control plane's ServiceMonitors, cAdvisor and kube-state-metrics write them (an exporter's series belong to
the pod that exposed them, a reload counts from zero, a rollout brings pods with new names, a target down
for a minute answers `up` 0), the unrelated movers in every scenario, and one scenario through Prometheus:
its alert's rule holds from its activation to its startsAt and not in the hour before. Determinism, truths
in both variants and the no-ksm variant are tested for every set in `test_exporters.py`.
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
from bench.exporters_platform import (
    API_A,
    APISERVER,
    CELERY_EXPORTER,
    CMS_NEW,
    CMS_OLD,
    ETCD,
    HAPROXY,
    INGRESS,
    M12,
    MEMCACHED_NEW,
    MEMCACHED_OLD,
    MINIO,
    MONGO,
    PLATFORM_SCENARIOS,
    SITEMAP_RUNS,
    STOREFRONT_NEW,
    WORKERS_CELERY,
    MiB,
)
from bench.exporters_scenarios import recording
from tests.bench.rule_check import NAME, as_the_rule_reads, rule_results

PROMQL_WORDS = {"sum", "by", "rate", "histogram_quantile", "le", "job", "namespace", "service", "proxy"}


@pytest.fixture(scope="module")
def recorded() -> dict[str, Recording]:
    return {name: recording(s) for name, s in PLATFORM_SCENARIOS.items()}


@pytest.fixture(scope="module")
def recordings(recorded: dict[str, Recording]) -> dict[str, list[Row]]:
    return {name: rec.rows() for name, rec in recorded.items()}


def _rows(rows: list[Row], metric: str, **labels: str) -> list[Row]:
    return [r for r in rows if r.name == metric and all(r.labels.get(k) == v for k, v in labels.items())]


def test_the_set_is_ten_platform_scenarios_beside_the_others() -> None:
    assert len(PLATFORM_SCENARIOS) == 10
    others = {name for key, scenarios in exporters.SETS.items() if key != "platform" for name in scenarios}
    assert not set(PLATFORM_SCENARIOS) & others
    assert exporters.SETS["platform"] is PLATFORM_SCENARIOS


@pytest.mark.parametrize("name", list(PLATFORM_SCENARIOS))
def test_the_cause_moves_before_the_diagnosis_and_its_component_is_a_name_the_judge_knows(
    name: str, recorded: dict[str, Recording]
) -> None:
    """In the two minutes up to the diagnosis (a rule with `for: 1m` fires two minutes after its cause),
    the five or the quarter hour, against the whole history ahead."""
    scenario = PLATFORM_SCENARIOS[name]
    at = scenario.alert.starts + exporters.DIAGNOSE_AFTER
    moved = []
    for row in recorded[name].rows():
        if scenario.truth.is_cause(row):
            times, values = jumps.per_second(row.times[row.keep], row.values[row.keep], row.counter)
            moved += [
                jumps.robust_jump(times, values, at, recent) for recent in (120.0, exporters.RECENT, 900.0)
            ]
    assert max(moved) > 5, name
    index = exporters.Index(recorded[name])
    for component in scenario.truth.components:
        assert index.aliases.get(component) == component


@pytest.mark.parametrize("name", list(PLATFORM_SCENARIOS))
def test_the_alerts_rule_reads_series_the_recording_has(name: str, recordings: dict[str, list[Row]]) -> None:
    alert = PLATFORM_SCENARIOS[name].alert
    written = {row.name for row in recordings[name]}
    bare = re.sub(r'"[^"]*"', "", alert.expr)
    metrics = {m for m in NAME.findall(bare) if m not in PROMQL_WORDS and "_" in m}
    metrics -= {"exported_namespace", "queue_name"}
    assert metrics and metrics <= written, metrics - written


def test_ingress_nginx_renames_the_ingress_namespace_and_service_and_knows_no_upstream_pod(
    recordings: dict[str, list[Row]],
) -> None:
    rows = recordings["tomcat_deadlock"]
    requests = _rows(rows, "nginx_ingress_controller_requests", ingress="api", status="504")
    assert len(requests) == 2 and {r.owner for r in requests} == {"ingress-nginx-controller"}
    labels = requests[0].labels
    assert labels["namespace"] == "ingress-nginx" and labels["exported_namespace"] == "web"
    assert labels["service"] == "ingress-nginx-controller-metrics" and labels["exported_service"] == "api"
    assert labels["pod"] in INGRESS and not {"upstream", "upstream_ip"} & set(labels)
    busy = _rows(rows, "tomcat_threads_busy_threads", pod=API_A)[0]
    assert busy.values[busy.keep].max() == 200 and busy.labels["name"] == "http-nio-8080"


def test_a_sidecar_or_an_exporter_deployment_labels_the_series_it_exposes(
    recordings: dict[str, list[Row]],
) -> None:
    """memcached_exporter and mongodb_exporter run in the pod (its `container` is theirs); celery-exporter
    is a Deployment of its own: its series about the workers are its pod's, the workers have only cAdvisor
    and kube-state-metrics."""
    rows = recordings["celery_scaled_down"]
    evicted = _rows(rows, "memcached_items_evicted_total", pod=MEMCACHED_OLD[0])[0]
    assert evicted.labels["container"] == "metrics" and evicted.owner == "catalog-memcached"
    cache = _rows(rows, "mongodb_ss_wt_cache_bytes_currently_in_the_cache", pod=MONGO[0])[0]
    assert cache.labels["container"] == "metrics" and cache.labels["job"] == "accounts-mongodb-metrics"
    up = _rows(rows, "celery_worker_up", hostname=f"celery@{WORKERS_CELERY[2]}")[0]
    assert up.labels["pod"] == CELERY_EXPORTER and up.owner == "celery-exporter"
    assert up.values[up.keep][-1] == 0 and up.values[up.keep][0] == 1
    worker = {r.name for r in rows if r.labels.get("pod") == WORKERS_CELERY[0]}
    assert worker and all(n.startswith(("container_", "kube_")) for n in worker)
    replicas = _rows(rows, "kube_deployment_spec_replicas", deployment="celery-worker")[0]
    assert replicas.values[0] == 4 and replicas.values[-1] == 1


def test_the_control_plane_as_kube_prometheus_stack_scrapes_it(recordings: dict[str, list[Row]]) -> None:
    rows = recordings["etcd_slow_fsync"]
    request = _rows(rows, "apiserver_request_duration_seconds_count", verb="PUT")
    assert {r.labels["job"] for r in request} == {"apiserver"} and not [
        r for r in request if "pod" in r.labels
    ]
    assert {r.owner for r in request} == {"kube-apiserver"} and len(request) == len(APISERVER)
    fsync = _rows(rows, "etcd_disk_wal_fsync_duration_seconds_count", pod=ETCD[M12])[0]
    assert fsync.labels["job"] == "kube-etcd" and fsync.labels["namespace"] == "kube-system"
    changes = _rows(rows, "etcd_server_leader_changes_seen_total", pod=ETCD[M12])[0]
    assert np.diff(changes.values[changes.keep]).sum() == 1
    assert _rows(rows, "node_disk_write_time_seconds_total", device="nvme0n1", instance="10.0.0.12:9100")


def test_counters_written_as_their_exporters_name_them(recordings: dict[str, list[Row]]) -> None:
    rows = recordings["mongo_cache_pressure"]
    for name in (
        "mongodb_ss_opcounters",
        "cassandra_clientrequest_timeouts_count",
        "minio_node_drive_errors_timeout",
        "memcached_items_evicted_total",
    ):
        found = _rows(rows, name)
        assert found and all(r.counter for r in found), name
    assert {r.labels["quantile"] for r in _rows(rows, "go_gc_duration_seconds")} == {
        "0",
        "0.25",
        "0.5",
        "0.75",
        "1",
    }
    assert _rows(rows, "cassandra_table_pendingcompactions", table="timeline", keyspace="feed")


def test_a_reload_counts_from_zero_and_a_rollout_brings_new_pods(recordings: dict[str, list[Row]]) -> None:
    reload = PLATFORM_SCENARIOS["haproxy_check_port"].inject["haproxy.reload"]
    assert isinstance(reload, float)
    rows = recordings["haproxy_check_port"]
    responses = _rows(rows, "haproxy_server_http_responses_total", server="legacy-1", code="2xx")[0]
    kept = responses.values[responses.keep]
    assert (np.diff(kept) < 0).sum() == 1 and kept[-1] < kept[0]
    start = _rows(rows, "haproxy_process_start_time_seconds", pod=HAPROXY)[0]
    assert start.values[-1] == reload
    rows = recordings["memcached_limit"]
    limits = {r.labels["pod"]: r.values[r.keep] for r in _rows(rows, "memcached_limit_bytes")}
    assert set(limits) == {*MEMCACHED_OLD, *MEMCACHED_NEW}
    assert all(v.max() == 256 * MiB for pod, v in limits.items() if pod in MEMCACHED_NEW)
    old = _rows(rows, "memcached_current_bytes", pod=MEMCACHED_OLD[0])[0]
    new = _rows(rows, "memcached_current_bytes", pod=MEMCACHED_NEW[0])[0]
    assert old.times[old.keep][-1] < new.times[new.keep][0] + 60


def test_a_target_down_for_a_minute_answers_up_0(recordings: dict[str, list[Row]]) -> None:
    down = PLATFORM_SCENARIOS["minio_drive_offline"].inject[f"down.{MINIO[3]}"]
    assert isinstance(down, float)
    rows = recordings["minio_drive_offline"]
    up = _rows(rows, "up", pod=MINIO[3])[0]
    window = (up.times >= down) & (up.times < down + 60)
    assert (up.values[window] == 0).all() and up.keep[window].all()
    assert up.values[up.keep & ~window].min() == 1
    series = _rows(rows, "minio_node_drive_used_bytes", pod=MINIO[3])[0]
    assert not series.keep[window].any()


@pytest.mark.parametrize("name", list(PLATFORM_SCENARIOS))
def test_unrelated_movers_beside_each_incident(name: str, recordings: dict[str, list[Row]]) -> None:
    """A cms rollout within a quarter hour of the alert, the hourly sitemap-builder run, the storefront's
    HPA in some."""
    alert = PLATFORM_SCENARIOS[name].alert
    rows = recordings[name]
    new = _rows(rows, "kube_pod_start_time", pod=CMS_NEW)[0]
    assert abs(new.values[new.keep][0] - alert.starts) < 15 * 60
    assert _rows(rows, "kube_pod_start_time", pod=CMS_OLD)[0].keep[-1] == False  # noqa: E712
    runs = {
        r.labels["pod"]
        for r in _rows(rows, "container_cpu_usage_seconds_total")
        if r.owner == "sitemap-builder"
    }
    assert runs == set(SITEMAP_RUNS)
    scaled = [
        name
        for name in PLATFORM_SCENARIOS
        if _rows(recordings[name], "kube_pod_start_time", pod=STOREFRONT_NEW)
    ]
    assert len(scaled) == 3


def test_the_set_option_runs_only_its_own_scenarios() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        exporters.main(["--set", "platform", "--scenarios", "enricher_oom"])
    assert "unknown scenario enricher_oom" in err.getvalue()


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PLATFORM_SCENARIOS))
def test_the_alerts_rule_holds_from_its_activation_to_its_start_in_prometheus(
    name: str, tmp_path: Path, recorded: dict[str, Recording]
) -> None:
    """Every scenario's rule (haproxy_check_port's rates counters a reload reset at its cause), evaluated by
    Prometheus over the backfilled recording (the families the rule reads, which is quick): it holds from
    the activation to startsAt and not in the hour before."""
    a = PLATFORM_SCENARIOS[name].alert
    result = rule_results(as_the_rule_reads(recorded[name], a), a, tmp_path)
    assert [series["metric"] for series in result] == [a.labels]
    held = [float(t) for t, _ in result[0]["values"]]
    assert held[0] == pytest.approx(a.active, abs=1) and held[-1] == pytest.approx(a.starts, abs=1)
    assert len(held) == (a.starts - a.active) / 15 + 1  # every evaluation between
