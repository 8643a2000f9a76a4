"""The exporters benchmark's infrastructure set (`bench.exporters_infra`): a deterministic generator whose
truths select series that exist and move, laid out as the exporters and kube-prometheus-stack write them
(a replaced pod's series end, a restarted container gets a new `id` and its process' counters restart),
and a `--set` that keeps the trading set the default. Determinism, truths in both variants and the no-ksm
variant are tested for both sets in `test_exporters.py`.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest

from bench import exporters, jumps
from bench.exporters import NAME
from bench.exporters_compose import COMPOSE_SCENARIOS
from bench.exporters_data import Row
from bench.exporters_hosts import HOSTS_SCENARIOS
from bench.exporters_infra import (
    CART,
    CHECKOUT_A,
    CHECKOUT_NEW_A,
    CHECKOUT_NEW_B,
    DB_MOUNT,
    INFRA_SCENARIOS,
    MEMORY_LIMIT,
    PROBES,
)
from bench.exporters_platform import PLATFORM_SCENARIOS
from bench.exporters_scenarios import SCENARIOS, recording
from bench.exporters_streaming import STREAMING_SCENARIOS


@pytest.fixture(scope="module")
def recordings() -> dict[str, list[Row]]:
    return {name: recording(s).rows() for name, s in INFRA_SCENARIOS.items()}


def test_the_sets_are_ten_infrastructure_scenarios_beside_the_twelve_trading_ones() -> None:
    assert len(INFRA_SCENARIOS) == 10
    assert not set(INFRA_SCENARIOS) & set(SCENARIOS)
    assert exporters.SETS == {
        "trading": SCENARIOS,
        "infra": INFRA_SCENARIOS,
        "streaming": STREAMING_SCENARIOS,
        "platform": PLATFORM_SCENARIOS,
        "hosts": HOSTS_SCENARIOS,
        "compose": COMPOSE_SCENARIOS,
    }


@pytest.mark.parametrize("name", list(INFRA_SCENARIOS))
def test_the_cause_moves_before_the_diagnosis_and_its_component_is_a_name_the_judge_knows(
    name: str, recordings: dict[str, list[Row]]
) -> None:
    scenario = INFRA_SCENARIOS[name]
    at = scenario.alert.starts + exporters.DIAGNOSE_AFTER
    causes = [row for row in recordings[name] if scenario.truth.is_cause(row)]
    moved = []
    for row in causes:  # against the whole history ahead: a disk fills over 40 minutes, not in the last 5
        times, values = jumps.per_second(row.times[row.keep], row.values[row.keep], row.counter)
        moved.append(jumps.robust_jump(times, values, at, exporters.RECENT))
    assert max(moved) > 5, name
    index = exporters.Index(recording(scenario))
    for component in scenario.truth.components:
        assert index.aliases.get(component) == component


@pytest.mark.parametrize("name", list(INFRA_SCENARIOS))
def test_the_alerts_rule_reads_series_the_recording_has(name: str, recordings: dict[str, list[Row]]) -> None:
    expr = INFRA_SCENARIOS[name].alert.expr
    written = {row.name for row in recordings[name]}
    metrics = {m for m in NAME.findall(expr) if m.startswith(("kube_", "pg_", "http_", "rabbitmq_"))}
    assert metrics and metrics <= written, metrics - written


def test_cadvisor_series_carry_the_kubelets_labels_and_no_spec_series(
    recordings: dict[str, list[Row]],
) -> None:
    rows = recordings["cpu_throttle"]
    cadvisor = [r for r in rows if r.name.startswith("container_")]
    assert cadvisor
    for row in cadvisor:
        assert {"container", "pod", "namespace", "image", "id", "name", "node"} <= set(row.labels)
        assert row.labels["job"] == "kubelet" and row.labels["metrics_path"] == "/metrics/cadvisor"
    # kube-prometheus-stack's cAdvisorMetricRelabelings drop these; limits come from kube-state-metrics
    assert not any(r.name.startswith("container_spec_") for r in rows)
    assert not any(r.name == "container_cpu_cfs_throttled_seconds_total" for r in rows)
    limits = [r for r in rows if r.name == "kube_pod_container_resource_limits"]
    assert any(r.labels["resource"] == "cpu" and r.labels["container"] == "search" for r in limits)


def test_node_exporter_and_blackbox_series_name_their_device_mount_and_probed_url(
    recordings: dict[str, list[Row]],
) -> None:
    rows = recordings["disk_full_db"]
    mounts = {r.labels["mountpoint"] for r in rows if r.name == "node_filesystem_avail_bytes"}
    assert mounts == {"/", DB_MOUNT}
    db = next(
        r for r in rows if r.name == "node_filesystem_avail_bytes" and r.labels["mountpoint"] == DB_MOUNT
    )
    assert db.owner == "ip-10-0-2-23" and db.labels["instance"] == "10.0.2.23:9100"
    kept = db.values[db.keep]
    assert kept[0] > 3e10 and kept[-1] < 1e8  # full by the alert
    probes = {r.labels["instance"]: r.owner for r in recordings["cert_expired"] if r.name == "probe_success"}
    assert probes == {url: name for name, url in PROBES.items()}


def test_a_replaced_pods_series_end_where_its_successors_begin(recordings: dict[str, list[Row]]) -> None:
    rows = recordings["bad_deploy"]

    def span(pod: str) -> tuple[float, float]:
        times = np.concatenate([r.times[r.keep] for r in rows if r.labels.get("pod") == pod])
        return float(times.min()), float(times.max())

    old, new_a, new_b = span(CHECKOUT_A), span(CHECKOUT_NEW_A), span(CHECKOUT_NEW_B)
    assert old[1] < new_b[0] and new_a[0] < old[1]  # a surge of one: the old pod outlives the first new one
    assert min(new_a[1], new_b[1]) > new_b[0] + 3600  # the new pods last to the end
    images = {r.labels["image"] for r in rows if r.name == "container_cpu_usage_seconds_total"}
    assert {"registry.local/shop/checkout:2.3.1", "registry.local/shop/checkout:2.4.0"} <= images
    assert all(r.labels.get("pod") != CHECKOUT_NEW_A for r in recordings["nic_errors"])  # never started there


def test_an_oom_killed_container_restarts_with_a_new_id_and_counters_from_zero(
    recordings: dict[str, list[Row]],
) -> None:
    scenario = INFRA_SCENARIOS["oom_leak"]
    rows = recordings["oom_leak"]
    working = [r for r in rows if r.name == "container_memory_working_set_bytes" and r.labels["pod"] == CART]
    assert len(working) >= 2 and len({r.labels["id"] for r in working}) == len(working)
    first = working[0]
    assert first.values[first.keep].max() >= 0.95 * MEMORY_LIMIT["cart"]
    killed = first.times[first.keep].max()
    assert scenario.alert.active == pytest.approx(killed, abs=30) and scenario.alert.starts > killed
    restarts = next(
        r for r in rows if r.name == "kube_pod_container_status_restarts_total" and r.labels["pod"] == CART
    )
    assert restarts.values[restarts.keep].max() >= 1 and restarts.values[restarts.keep][0] == 0
    reason = next(r for r in rows if r.name == "kube_pod_container_status_last_terminated_reason")
    assert reason.labels["reason"] == "OOMKilled" and reason.times[reason.keep].min() > killed - 30
    served = next(
        r for r in rows if r.name == "http_request_duration_seconds_count" and r.labels["pod"] == CART
    )
    kept = served.values[served.keep]
    assert (np.diff(kept) < 0).sum() >= 1 and kept.min() < 10  # the restarted process counts from zero


def test_the_set_option_keeps_trading_the_default_and_rejects_a_scenario_of_another_set() -> None:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        exporters.main(["--scenarios", "oom_leak"])
    assert "unknown scenario oom_leak" in err.getvalue()
    with contextlib.redirect_stderr(err), pytest.raises(SystemExit):
        exporters.main(["--set", "infra", "--scenarios", "gc_pause"])
    assert "unknown scenario gc_pause" in err.getvalue()


def test_a_category_that_states_the_cause_counts_with_the_component_it_names() -> None:
    """ "Recent deployment or restart: checkout" with the bare component as its suspect is the bad deploy;
    the same title over another component, or another category, is not; a trading truth has no category."""
    scenario = INFRA_SCENARIOS["bad_deploy"]
    index = exporters.Index(recording(scenario))
    title = "Recent deployment or restart: checkout"
    assert exporters.judge(title, "checkout", 0.9, scenario.truth, index, "change.deployment").cause
    assert not exporters.judge(title, "checkout", 0.9, scenario.truth, index, "dependency.service").cause
    other = "Recent deployment or restart: admin-ui"
    assert not exporters.judge(other, "admin-ui", 0.9, scenario.truth, index, "change.deployment").cause
    assert all(not s.truth.categories for s in SCENARIOS.values())
