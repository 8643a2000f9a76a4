"""Component (entity) ranking: every series against its own history, weighted by kind, per component."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.entities import SeriesKind, rank_entities, series_kind
from analyst.builtin.limits import is_limit_of, utilisation
from analyst.diagnosis import Category
from analyst.evidence import Evidence, Precedent, SeriesEvidence, SeriesValues
from tests.analyst.grid_evidence import ALERT_AT, POINTS, START, STEP, grid_evidence, grid_series


def _series(
    metric: str, service: str, level: float, noise: float, seed: int, after: float | None = None
) -> SeriesEvidence:
    """`level` + noise for two hours; from 2 minutes before the alert on, `after` (if given)."""
    return grid_series(metric, service, _stepped(level, noise, seed, after, 113))


def _stepped(level: float, noise: float, seed: int, after: float | None, at: int) -> np.ndarray:
    """`level` + noise, and `after` + noise from point `at` on (if given)."""
    values = level + np.random.default_rng(seed).normal(0.0, noise, POINTS)
    if after is not None:
        values[at:] = after + np.random.default_rng(seed + 1).normal(0.0, noise, POINTS - at)
    return values


def _quiet(service: str, seed: int) -> list[SeriesEvidence]:
    return [
        _series("pod_cpu_usage_percent", service, 20.0, 1.0, seed),
        _series("pod_server_latency_p90_seconds", service, 0.05, 0.002, seed + 2),
    ]


def test_metric_kinds_follow_the_taxonomy() -> None:
    assert series_kind("pod_cpu_usage_percent") is SeriesKind.SATURATION
    assert series_kind("container_memory_working_set_bytes") is SeriesKind.SATURATION
    assert series_kind("pod_server_latency_p90_seconds") is SeriesKind.LATENCY
    assert series_kind("pod_client_latency_p99_seconds") is SeriesKind.OUTBOUND_LATENCY
    assert series_kind("pod_success_rate_percent") is SeriesKind.ERRORS
    assert series_kind("pod_network_transmit_bytes") is SeriesKind.THROUGHPUT
    assert series_kind("pod_workload_ops") is SeriesKind.THROUGHPUT


@pytest.mark.parametrize(
    "metric",
    [
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_filesystem_files_free",
        "kubelet_volume_stats_available_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_MemFree_bytes",
    ],
)
def test_what_is_left_of_a_capacity_is_saturation(metric: str) -> None:
    """Before: a filesystem's free bytes were throughput (bytes), its available bytes errors ('availab')."""
    assert series_kind(metric) is SeriesKind.SATURATION


def test_network_bytes_stay_throughput() -> None:
    assert series_kind("node_network_receive_bytes_total") is SeriesKind.THROUGHPUT
    assert series_kind("container_network_transmit_bytes_total") is SeriesKind.THROUGHPUT


def test_a_disk_filling_up_counts_as_it_falls_and_not_as_it_frees() -> None:
    """Free bytes falling is the disk filling up (saturation); rising (files deleted) is no harm."""
    falling = _series("node_filesystem_avail_bytes", "db", 50e9, 0.05e9, 60, after=5e9)
    rising = _series("node_filesystem_avail_bytes", "db", 5e9, 0.05e9, 60, after=50e9)
    evidence = grid_evidence([falling, *_quiet("web", 62)])
    freed = grid_evidence([rising, *_quiet("web", 62)])

    ranked = rank_entities(evidence)
    assert ranked[0].name == "db" and ranked[0].strongest is not None
    assert ranked[0].strongest.kind is SeriesKind.SATURATION
    assert next(e for e in rank_entities(freed) if e.name == "db").score < 3.0


def test_cpu_jump_outranks_an_equal_relative_jump_in_bytes() -> None:
    evidence = grid_evidence(
        [
            *_quiet("cart", 1),
            _series("pod_cpu_usage_percent", "payment", 20.0, 1.0, 10, after=40.0),
            _series("pod_network_transmit_bytes", "email", 20.0, 1.0, 20, after=40.0),
            *_quiet("email", 30),
        ]
    )
    ranked = rank_entities(evidence)
    assert [e.name for e in ranked[:2]] == ["payment", "email"]
    assert ranked[0].strongest is not None and ranked[0].strongest.kind is SeriesKind.SATURATION


def test_a_series_that_always_wobbles_is_not_news_at_its_usual_size() -> None:
    evidence = grid_evidence(
        [
            # latency that always wobbles by about 30 %, now 30 % up
            _series("pod_server_latency_p90_seconds", "search", 1.0, 0.3, 40, after=1.3),
            # steady CPU, now 30 % up
            _series("pod_cpu_usage_percent", "catalog", 10.0, 0.2, 50, after=13.0),
        ]
    )
    ranked = rank_entities(evidence)
    assert ranked[0].name == "catalog"
    assert ranked[1].score < 3.0  # the wobbly one stays within its noise


def test_success_rate_counts_when_it_falls_not_when_it_rises() -> None:
    evidence = grid_evidence(
        [
            _series("pod_success_rate_percent", "recovering", 90.0, 0.5, 60, after=99.0),
            _series("pod_success_rate_percent", "failing", 99.0, 0.5, 70, after=90.0),
        ]
    )
    assert rank_entities(evidence)[0].name == "failing"


@pytest.mark.parametrize(
    ("metric", "caller", "callee"),
    [
        ("istio_request_duration_milliseconds:mean", {"reporter": "source"}, {"reporter": "destination"}),
        ("response_latency_ms:mean", {"direction": "outbound"}, {"direction": "inbound"}),
        ("duration_milliseconds:mean", {"span_kind": "SPAN_KIND_CLIENT"}, {"span_kind": "SPAN_KIND_SERVER"}),
    ],
)
def test_latency_the_calling_side_measured_is_outbound(metric, caller, callee) -> None:
    # a mesh's series carry the reporting proxy's pod: on the caller's side, its wait on its callees
    assert series_kind(metric, caller) is SeriesKind.OUTBOUND_LATENCY
    assert series_kind(metric, callee) is SeriesKind.LATENCY


def _coded(series: SeriesEvidence, **labels: str) -> SeriesEvidence:
    return dataclasses.replace(series, labels={**series.labels, **labels})


@pytest.mark.parametrize(
    ("metric", "labels"),
    [
        ("http_requests_total", {"code": "503"}),
        ("istio_requests_total", {"response_code": "504"}),
        ("grpc_server_handled_total", {"grpc_code": "Unavailable"}),
        ("http_server_request_duration_seconds_count", {"http_response_status_code": "500"}),
    ],
)
def test_requests_that_failed_by_their_outcome_label_are_errors(metric, labels) -> None:
    assert series_kind(metric, labels) is SeriesKind.ERRORS
    ok = {key: "OK" if "grpc" in key else "200" for key in labels}
    assert series_kind(metric, ok) is not SeriesKind.ERRORS


def test_failing_requests_outrank_more_of_the_good_ones() -> None:
    evidence = grid_evidence(
        [
            _coded(_series("http_requests_total", "orders", 100.0, 0.5, 80), code="200"),
            _coded(_series("http_requests_total", "orders", 0.2, 0.1, 81, after=4.2), code="503"),
            _coded(_series("http_requests_total", "search", 100.0, 0.5, 82, after=200.0), code="200"),
        ]
    )
    ranked = rank_entities(evidence)
    # before: the 503s counted as traffic, weighted as little as search's doubled 200s, and came second
    assert [e.name for e in ranked] == ["orders", "search"]
    assert ranked[0].strongest is not None and ranked[0].strongest.kind is SeriesKind.ERRORS


def _values(metric: str, service: str, values: np.ndarray) -> SeriesEvidence:
    return dataclasses.replace(
        _series(metric, service, 0.0, 0.0, 0), values=SeriesValues(START, STEP, tuple(map(float, values)))
    )


def test_an_oom_kill_is_named_by_the_memory_that_reached_its_limit() -> None:
    """Memory climbs to its limit, the container is killed and restarts (memory falls, a restart is
    counted, its latency jumps): the cause is the memory, though the restart and latency moved further."""
    rng = np.random.default_rng(1)
    memory = 0.6 + rng.normal(0.0, 0.005, POINTS)
    memory[100:113] = np.linspace(0.6, 1.0, 13)  # killed at its limit
    memory[113:] = 0.3 + 0.01 * np.arange(POINTS - 113)
    restarts = np.zeros(POINTS)
    restarts[113:117] = 1 / 240
    latency = 0.05 + rng.normal(0.0, 0.002, POINTS)
    latency[112:] = 0.8
    evidence = grid_evidence(
        [
            _values("container_memory_limit_ratio", "payments", memory),
            _values("kube_pod_container_status_restarts_total", "payments", restarts),
            _values("app_server_latency_seconds", "payments", latency),
            _series("app_server_latency_seconds", "orders", 0.1, 0.005, 4, after=0.9),
        ],
        alert_service="orders",
    )
    diagnosis = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)

    assert rank_entities(evidence)[0].name == "payments"
    assert diagnosis.primary_hypothesis.category is Category.RESOURCE_MEMORY
    assert diagnosis.primary_hypothesis.suspect.startswith("container_memory_limit_ratio")


def _pod(metric: str, service: str, pod: str, values: np.ndarray) -> SeriesEvidence:
    labels = {"__name__": metric, "service": service, "pod": pod}
    return dataclasses.replace(
        _values(metric, service, values), series_id=f"{metric}{{pod={pod!r}}}", labels=labels
    )


def _replica(level: float, noise: float, seed: int, alive: slice, after: float | None = None) -> np.ndarray:
    """A pod's series: NaN outside `alive`; from the redeploy (index 108) on, `after` if given."""
    values = level + np.random.default_rng(seed).normal(0.0, noise, POINTS)
    if after is not None:
        values[108:] = after + np.random.default_rng(seed + 1).normal(0.0, noise, POINTS - 108)
    out = np.full(POINTS, np.nan)
    out[alive] = values[alive]
    return out


OLD, NEW = slice(0, 108), slice(108, POINTS)  # pods replaced 7 minutes before the alert


def test_pods_that_replaced_others_are_judged_against_their_history() -> None:
    """A redeploy 7 minutes before the alert: the new pods fail where the old ones did not. They have
    too little history of their own; judged as the old pods' continuation, they name a deployment."""
    old, new = "checkout-5d9f8b6c5d-x2k4p", "checkout-7c8d7f9b4-qw7zt"
    evidence = grid_evidence(
        [
            _pod("http_error_ratio", "checkout", old, _replica(0.01, 0.002, 1, OLD)),
            _pod("http_error_ratio", "checkout", new, _replica(0.01, 0.002, 1, NEW, after=0.3)),
            _pod("http_latency_seconds", "checkout", old, _replica(0.05, 0.002, 3, OLD)),
            _pod("http_latency_seconds", "checkout", new, _replica(0.05, 0.002, 3, NEW, after=0.4)),
            _series("http_latency_seconds", "frontend", 0.1, 0.005, 5, after=0.9),
            _series("pod_cpu_usage_percent", "search", 20.0, 1.0, 6, after=24.0),
        ]
    )
    diagnosis = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)

    # before: the new pods were too young to judge, and the alerting frontend was blamed
    assert rank_entities(evidence)[0].name == "checkout"
    primary = diagnosis.primary_hypothesis
    assert (primary.category, primary.suspect) == (Category.CHANGE_DEPLOYMENT, "checkout")
    assert any("against the history of the pods it replaced" in line for line in primary.supporting_evidence)


def test_a_replica_added_beside_running_ones_is_not_judged_against_them() -> None:
    """Scaled out: the new pod's warm-up CPU is its own, not a change of the service (the old pod runs on)."""
    evidence = grid_evidence(
        [
            _pod(
                "pod_cpu_usage_percent",
                "search",
                "search-5d9f8b6c5d-x2k4p",
                _replica(20.0, 1.0, 7, slice(0, POINTS)),
            ),
            _pod(
                "pod_cpu_usage_percent",
                "search",
                "search-5d9f8b6c5d-h8j2k",
                _replica(20.0, 1.0, 8, NEW, after=90.0),
            ),
            _series("pod_cpu_usage_percent", "payment", 20.0, 1.0, 9, after=40.0),
        ]
    )
    assert [e.name for e in rank_entities(evidence)][:1] == ["payment"]


def test_every_component_with_history_is_ranked() -> None:
    services = ["a", "b", "c", "d", "e", "f"]
    evidence = grid_evidence([s for i, name in enumerate(services) for s in _quiet(name, 100 + 10 * i)])
    assert sorted(e.name for e in rank_entities(evidence)) == services


def test_a_caller_whose_callee_changed_as_strongly_is_explained() -> None:
    evidence = grid_evidence(
        [
            _series("pod_server_latency_p90_seconds", "checkout", 0.05, 0.002, 80, after=0.5),
            _series("pod_server_latency_p90_seconds", "shipping", 0.05, 0.002, 90, after=0.5),
        ],
        topology={"frontend": ("checkout",), "checkout": ("shipping",)},
    )
    ranked = rank_entities(evidence)
    assert ranked[0].name == "shipping"
    assert ranked[1].name == "checkout" and ranked[1].explained_by == ("shipping",)


def test_the_alerting_component_can_itself_be_the_cause() -> None:
    evidence = grid_evidence(
        [
            _series("pod_cpu_usage_percent", "frontend", 20.0, 1.0, 110, after=95.0),
            _series("pod_server_latency_p90_seconds", "frontend", 0.05, 0.002, 120, after=0.4),
            *_quiet("cart", 130),
            *_quiet("payment", 140),
        ]
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU
    assert result.primary_hypothesis.suspect == 'pod_cpu_usage_percent{service="frontend"}'


def _errors_at_the_entry(callee_errors: float) -> Evidence:
    """frontend's success rate falls (the alert); its callee shipping's latency rises 60 % (5 -> 8 ms, far
    beyond its noise), and its success rate falls to `callee_errors`."""
    return grid_evidence(
        [
            _series("entry_success_rate_percent", "frontend", 100.0, 0.2, 150, after=50.0),
            _series("pod_server_latency_p90_seconds", "shipping", 0.005, 0.0001, 160, after=0.008),
            _series("pod_success_rate_percent", "shipping", 100.0, 0.2, 170, after=callee_errors),
            *_quiet("cart", 180),
        ],
        topology={"frontend": ("shipping", "cart")},
        alertname="EntrySuccessRateLow",
    )


def test_the_alerts_own_errors_count_fully_unless_something_else_errs() -> None:
    # no other component's errors moved: a callee's latency cannot have made frontend's errors
    assert rank_entities(_errors_at_the_entry(callee_errors=100.0))[0].name == "frontend"
    # shipping's own errors explain frontend's: its errors count half, as the alert's symptom
    assert rank_entities(_errors_at_the_entry(callee_errors=50.0))[0].name == "shipping"


def _cpu_at_limit_memory_further(memory_after: float) -> Evidence:
    """frontend's CPU rises to its limit (100 %) while its memory moves further in robust z."""
    return grid_evidence(
        [
            _series("pod_cpu_usage_percent", "frontend", 30.0, 3.0, 300, after=100.0),
            _series("pod_memory_usage_percent", "frontend", 15.0, 0.3, 310, after=memory_after),
            _series("pod_server_latency_p90_seconds", "frontend", 0.05, 0.002, 320, after=0.2),
            *_quiet("cart", 330),
        ]
    )


def test_the_resource_at_its_limit_names_the_category() -> None:
    evidence = _cpu_at_limit_memory_further(memory_after=70.0)
    entity = next(e for e in rank_entities(evidence) if e.name == "frontend")
    z = {s.series.metric: s.z for s in entity.shifts}
    assert z["pod_memory_usage_percent"] > z["pod_cpu_usage_percent"] >= 3.0  # memory moved further
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.category is Category.RESOURCE_CPU
    assert primary.suspect == 'pod_cpu_usage_percent{service="frontend"}'
    first = primary.supporting_evidence[0]  # the evidence for the named cause comes first
    assert first.startswith('pod_cpu_usage_percent{service="frontend"} rose from') and "of its limit" in first


def test_without_a_resource_at_its_limit_the_strongest_saturation_names_it() -> None:
    evidence = grid_evidence(
        [
            _series("pod_cpu_usage_percent", "frontend", 30.0, 3.0, 300, after=60.0),
            _series("pod_memory_usage_percent", "frontend", 15.0, 0.3, 310, after=70.0),
            *_quiet("cart", 330),
        ]
    )
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis
    assert primary.category is Category.RESOURCE_MEMORY


def test_utilisation_reads_percentages_and_shares() -> None:
    assert utilisation("pod_cpu_usage_percent", 95.0) == 0.95
    assert utilisation("db_pool_utilization", 0.92) == 0.92
    assert utilisation("node_cpu_utilisation", 92.0) == 0.92  # 0-100 where a share cannot be
    assert utilisation("demo_cpu_usage_ratio", 1.1) == 1.1  # above its request, a share still
    assert utilisation("container_memory_working_set_bytes", 9e8) is None
    assert utilisation("node_memory_available_percent", 95.0) is None  # what is left, not what is used
    assert utilisation("node_cpu_idle_ratio", 0.97) is None
    # a duration is not a ratio (before: `go_gc_duration_seconds_count` at 0.92/s was "92% of its limit")
    assert utilisation("go_gc_duration_seconds_count", 0.92) is None
    assert utilisation("http_request_duration_seconds", 0.95) is None


def test_latency_with_quiet_resources_is_a_failing_dependency() -> None:
    evidence = grid_evidence(
        [
            _series("pod_server_latency_p90_seconds", "inventory", 0.05, 0.002, 150, after=0.8),
            _series("pod_cpu_usage_percent", "inventory", 20.0, 1.0, 160),
            *_quiet("cart", 170),
            *_quiet("frontend", 180),
        ]
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT, max_alternatives=9)
    primary = result.primary_hypothesis
    assert (primary.category, primary.suspect) == (Category.DEPENDENCY_SERVICE, "inventory")
    assert len(result.alternative_hypotheses) == 2  # one hypothesis per component


def test_without_values_the_series_ranking_is_used() -> None:
    series = _series("pod_cpu_usage_percent", "cart", 20.0, 1.0, 190, after=60.0)
    bare = SeriesEvidence(
        series_id=series.series_id,
        metric=series.metric,
        labels=series.labels,
        role="related",
        component="cart",
        anomalous=True,
        z_score=12.0,
        onset=ALERT_AT - 120,
        direction="up",
    )
    assert rank_entities(grid_evidence([bare])) == []
    result = diagnose_evidence(grid_evidence([bare]), load_playbooks(None), now=ALERT_AT)
    assert result.primary_hypothesis.category is Category.RESOURCE_CPU


def test_series_of_one_pod_from_another_job_join_its_service() -> None:
    import dataclasses

    cpu = _series("container_cpu_usage_seconds_total", "cart", 20.0, 1.0, 200, after=90.0)
    only_pod = dataclasses.replace(cpu, labels={"pod": "cart-7d9f-x2x", "job": "cadvisor"}, component=None)
    latency = _series("pod_server_latency_p90_seconds", "cart", 0.05, 0.002, 210)
    with_pod = dataclasses.replace(latency, labels={**latency.labels, "pod": "cart-7d9f-x2x"})
    ranked = rank_entities(grid_evidence([only_pod, with_pod, *_quiet("payment", 220)]))
    assert ranked[0].name == "cart"
    assert {s.series.metric for s in ranked[0].shifts} == {
        "container_cpu_usage_seconds_total",
        "pod_server_latency_p90_seconds",
    }


def test_hypotheses_say_what_moved_and_who_moved_more() -> None:
    evidence = grid_evidence(
        [
            _series("pod_cpu_usage_percent", "payment", 20.0, 1.0, 230, after=90.0),
            _series("pod_server_latency_p90_seconds", "cart", 0.05, 0.002, 240, after=0.06),
        ]
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)
    primary, second = result.primary_hypothesis, result.alternative_hypotheses[0]
    assert primary.supporting_evidence[0].startswith('pod_cpu_usage_percent{service="payment"} rose from')
    assert "payment changed more strongly" in second.contradicting_evidence


def _two_services_changed() -> Evidence:
    return grid_evidence(
        [
            _series("pod_cpu_usage_percent", "cartservice", 20, 1, 1, after=80),
            _series("pod_cpu_usage_percent", "currencyservice", 20, 1, 3, after=35),
            _series("pod_cpu_usage_percent", "frontend", 20, 1, 5),
        ]
    )


def test_a_confirmed_past_cause_raises_its_component_when_it_moved_now() -> None:
    evidence = _two_services_changed()
    first = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)
    assert first.primary_hypothesis.title.endswith(": cartservice")
    precedent = Precedent(
        incident_id="inc-past",
        similarity=0.9,
        verdict="wrong",
        category="resource.cpu",
        suspect="cartservice",
        actual_cause="currencyservice",
    )
    judged = diagnose_evidence(
        dataclasses.replace(evidence, precedents=(precedent,)), load_playbooks(None), now=ALERT_AT
    )
    assert judged.primary_hypothesis.title.endswith(": currencyservice")
    assert any("inc-past" in note for note in judged.notes)


def test_a_precedent_about_a_component_that_did_not_move_changes_nothing() -> None:
    evidence = _two_services_changed()
    precedent = Precedent(
        incident_id="inc-past",
        similarity=0.9,
        verdict="correct",
        category="resource.cpu",
        suspect="paymentservice",
    )
    judged = diagnose_evidence(
        dataclasses.replace(evidence, precedents=(precedent,)), load_playbooks(None), now=ALERT_AT
    )
    assert judged.primary_hypothesis.title.endswith(": cartservice")


def test_a_change_already_under_way_when_the_window_opens_counts_less() -> None:
    # Both CPUs jump by the same amount: "leftover" from 8 minutes before the alert (before the window
    # that opens 5 minutes before it), "new" from 2 minutes before the alert.
    leftover = _series("pod_cpu_usage_percent", "leftover", 20.0, 1.0, 80)
    values = list(leftover.values.values)  # type: ignore[union-attr]
    noise = np.random.default_rng(81).normal(0.0, 1.0, POINTS)
    values[107:] = [40.0 + float(n) for n in noise[107:]]
    leftover = dataclasses.replace(leftover, values=SeriesValues(START, STEP, tuple(values)))
    evidence = grid_evidence([leftover, _series("pod_cpu_usage_percent", "new", 20.0, 1.0, 90, after=40.0)])
    ranked = rank_entities(evidence)
    assert [e.name for e in ranked] == ["new", "leftover"]
    assert ranked[1].score < 0.75 * ranked[0].score
    assert ranked[1].shifts[0].z > 0.75 * ranked[0].shifts[0].z  # the shift itself is as large


def _recording_from(first: int, series: SeriesEvidence) -> SeriesEvidence:
    """`series` with no points before index `first` (the recording, or the deployment, began then)."""
    values = [None] * first + list(series.values.values)[first:]  # type: ignore[union-attr]
    return dataclasses.replace(series, values=SeriesValues(START, STEP, tuple(values)))


def test_a_series_that_began_just_before_the_alert_is_judged_on_the_history_it_has() -> None:
    # The recording began 8 minutes before the alert: no point lies before the usual window (5 minutes
    # before the alert), but 6 quiet minutes came before the change 2 minutes before it.
    hot = _recording_from(107, _series("pod_cpu_usage_percent", "hot", 20.0, 1.0, 100, after=60.0))
    calm = _recording_from(107, _series("pod_cpu_usage_percent", "calm", 20.0, 1.0, 102))
    ranked = rank_entities(grid_evidence([calm, hot]))
    assert [e.name for e in ranked] == ["hot", "calm"]
    assert ranked[0].shifts[0].z > 10
    assert ranked[0].onset == START + 113 * STEP


def test_too_short_a_history_before_the_alert_judges_nothing() -> None:
    # Three minutes of points before the alert: fewer than a baseline needs, so no shift is claimed.
    hot = _recording_from(112, _series("pod_cpu_usage_percent", "hot", 20.0, 1.0, 104, after=60.0))
    assert rank_entities(grid_evidence([hot])) == []


def test_a_young_series_among_older_ones_is_not_judged_on_its_first_minutes() -> None:
    # A pod started 8 minutes before the alert whose memory grows as it warms up, beside services with
    # two hours of history: only the old services carry the incident.
    young = _recording_from(107, _series("pod_memory_usage_percent", "young", 20.0, 1.0, 106, after=60.0))
    old = _series("pod_cpu_usage_percent", "old", 20.0, 1.0, 108, after=30.0)
    ranked = rank_entities(grid_evidence([young, old, *_quiet("calm", 110)]))
    assert [e.name for e in ranked] == ["old", "calm"]


@pytest.mark.parametrize(
    "metric",
    [
        "md_realized_volatility",
        "demo_volatility",
        "perp_funding_rate",
        "marketdata_traded_notional_usd_total",
        "venue_traded_volume_usd_total",
        "quote_age_seconds",
        "bid_ask_spread_bps",
    ],
)
def test_market_drivers_are_a_kind_of_their_own(metric: str) -> None:
    """Before: other (an eighth of a resource's weight), though `categories` named their market family."""
    assert series_kind(metric) is SeriesKind.MARKET


@pytest.mark.parametrize(
    ("metric", "kind"),
    [
        ("hikaricp_connections_active", SeriesKind.SATURATION),
        ("hikaricp_connections_pending", SeriesKind.SATURATION),
        ("go_sql_in_use_connections", SeriesKind.SATURATION),
        ("pgbouncer_pools_client_waiting_connections", SeriesKind.SATURATION),
        ("nginx_connections_active", SeriesKind.OTHER),
        ("go_sql_wait_count_total", SeriesKind.OTHER),
    ],
)
def test_a_database_pool_in_use_is_saturation_a_web_servers_connections_are_not(
    metric: str, kind: SeriesKind
) -> None:
    """Before: HikariCP's and Go database/sql's pools were other (their names lack `pool`)."""
    assert series_kind(metric) is kind


def test_a_round_trip_time_is_latency() -> None:
    assert series_kind("venue_order_rtt_seconds") is SeriesKind.LATENCY
    assert series_kind("fix_session_roundtrip_latency_seconds") is SeriesKind.LATENCY


def test_an_error_ratio_expression_counts_errors_by_its_selectors() -> None:
    """Before: throughput (its first metric name says `requests`), so the alert's own error ratio was
    named a traffic surge."""
    errors = 'sum(rate(http_server_requests_total{service="gw",code=~"5.."}[5m]))'
    ratio = f'{errors} / sum(rate(http_server_requests_total{{service="gw"}}[5m]))'
    assert series_kind(ratio) is SeriesKind.ERRORS
    assert series_kind(errors.replace("5..", "2..")) is SeriesKind.THROUGHPUT


def test_a_market_swing_after_the_alerting_component_changed_weighs_as_any_signal() -> None:
    """A market comes from outside, but one that moved after what fired cannot explain it (the alert at
    point 115; its latency from 113, the swing from 111 or from 118)."""
    alert = grid_series("http_latency_p90_seconds", "web", _stepped(0.1, 0.003, 70, 0.6, 113), "alert")
    for at, weight in ((111, 1.0), (118, 1 / 8)):
        swing = grid_series("md_realized_volatility", "marketdata", _stepped(0.2, 0.005, 71, 0.6, at))
        ranked = rank_entities(grid_evidence([alert, swing, *_quiet("db", 72)], alert_service="web"))
        assert ranked[0].name == ("marketdata" if at == 111 else "web")
        market = next(e.strongest for e in ranked if e.name == "marketdata")
        assert market is not None and market.kind is SeriesKind.MARKET and market.z > 50
        assert market.weighted == pytest.approx(weight * market.z)


@pytest.mark.parametrize(
    ("limit", "used", "pairs"),
    [
        ("demo_db_pool_max", "demo_db_pool_in_use", True),
        ("hikaricp_connections_max", "hikaricp_connections_active", True),
        ("go_sql_max_open_connections", "go_sql_in_use_connections", True),
        ("process_max_fds", "process_open_fds", True),
        ("jvm_memory_max_bytes", "jvm_memory_used_bytes", True),
        ("container_spec_memory_limit_bytes", "container_memory_usage_bytes", True),
        ("container_spec_memory_limit_bytes", "container_memory_working_set_bytes", True),
        ("hikaricp_connections_max", "hikaricp_connections_pending", False),  # waiting, not in use
        ("node_filesystem_size_bytes", "node_filesystem_avail_bytes", True),  # what is left: the rest in use
        ("demo_db_pool_in_use", "demo_db_pool_max", False),
        ("process_max_fds", "go_sql_in_use_connections", False),
    ],
)
def test_a_size_series_pairs_with_the_use_it_bounds(limit: str, used: str, pairs: bool) -> None:
    assert is_limit_of(limit, used) is pairs


def _pool_exhaustion(with_size: bool) -> Evidence:
    """The order store's pool climbs to its 50 connections in the same minute as the gateway's error ratio
    (the alert) jumps from 0.2 % to 4 % on a very steady history (z about 100, the pool's about 15)."""
    pool = _stepped(20.0, 2.0, 80, 50.0, 113)
    pool[113:] = 50.0
    errors = _stepped(0.002, 0.0002, 81, 0.04, 113)
    series = [
        grid_series("order_error_ratio", "order-gateway", errors, "alert"),
        grid_series("demo_db_pool_in_use", "order-store", pool),
        *_quiet("order-gateway", 82),
        *_quiet("order-store", 84),
    ]
    if with_size:
        series.append(grid_series("demo_db_pool_max", "order-store", np.full(POINTS, 50.0)))
    return grid_evidence(series, alert_service="order-gateway")


def test_a_pool_at_its_size_explains_errors_that_moved_with_it() -> None:
    """Before: the gateway's own errors (z about 100, halved: 50) outranked the pool (z about 15), which
    could not explain them by coming clearly first; at its size (`demo_db_pool_max` beside it) it now does."""
    ranked = rank_entities(_pool_exhaustion(with_size=True))
    assert ranked[0].name == "order-store"
    pool = ranked[0].strongest
    assert pool is not None and pool.limit == 50.0 and pool.at_limit
    result = diagnose_evidence(_pool_exhaustion(with_size=True), load_playbooks(None), now=ALERT_AT)
    assert result.primary_hypothesis.category is Category.DEPENDENCY_DATABASE
    assert any("100% of its limit" in line for line in result.primary_hypothesis.supporting_evidence)

    without = rank_entities(_pool_exhaustion(with_size=False))
    assert without[0].name == "order-gateway"  # nothing says the pool was full


def test_memory_short_of_its_size_series_says_so() -> None:
    """A container's memory rising from 300 to 550 MB with its limit of 1 GB beside it (cAdvisor's
    `container_spec_memory_limit_bytes`, same labels): the memory hypothesis says it peaked at 55 % of
    its limit, short of saturation. Before, only a percent or ratio name gave that line."""
    memory = _stepped(3e8, 5e6, 90, 5.5e8, 113)
    evidence = grid_evidence(
        [
            grid_series("container_memory_working_set_bytes", "cart", memory),
            grid_series("container_spec_memory_limit_bytes", "cart", np.full(POINTS, 1e9)),
            grid_series(
                "pod_server_latency_p90_seconds", "frontend", _stepped(0.05, 0.002, 92, 0.06, 113), "alert"
            ),
        ]
    )
    result = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT)

    memory_hypothesis = next(
        h
        for h in (result.primary_hypothesis, *result.alternative_hypotheses)
        if h.category is Category.RESOURCE_MEMORY
    )
    assert (
        "container_memory_working_set_bytes peaked at 55% of its limit: busy, but short of saturation"
        in memory_hypothesis.contradicting_evidence
    )


def test_new_pods_that_wait_longer_on_their_callees_are_a_change_not_a_dependency_downstream() -> None:
    """Redeployed 7 minutes before the alert, the new pods' client latency rose: the new version waits
    longer on the same callees, a change of its own (the title says nothing of "downstream")."""
    old, new = "checkout-5d9f8b6c5d-x2k4p", "checkout-7c8d7f9b4-qw7zt"
    evidence = grid_evidence(
        [
            _pod("pod_client_latency_p90_seconds", "checkout", old, _replica(0.02, 0.001, 1, OLD)),
            _pod("pod_client_latency_p90_seconds", "checkout", new, _replica(0.02, 0.001, 1, NEW, after=0.3)),
            _series("pod_cpu_usage_percent", "checkout", 20.0, 1.0, 2),
            _series("http_latency_seconds", "frontend", 0.1, 0.005, 5, after=0.2),
            _series("pod_cpu_usage_percent", "search", 20.0, 1.0, 6, after=22.0),
        ]
    )
    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis

    assert rank_entities(evidence)[0].name == "checkout"
    assert (primary.category, primary.suspect) == (Category.CHANGE_DEPLOYMENT, "checkout")
    assert "downstream" not in primary.title
