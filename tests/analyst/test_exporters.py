"""Components named by an exporter's scrape labels go to the workload of the pod the series describes."""

from __future__ import annotations

import pytest

from analyst.builtin.exporters import exporter_components, with_subject_components, workload_of_pod
from analyst.evidence import SeriesEvidence


def _series(metric: str, component: str, **labels: str) -> SeriesEvidence:
    return SeriesEvidence(
        series_id=f"{metric}{labels}", metric=metric, labels=labels, role="related", component=component
    )


@pytest.mark.parametrize(
    ("pod", "workload"),
    [
        ("cartservice-579f59597d-wc2lz", "cartservice"),  # Deployment: ReplicaSet hash, pod suffix
        ("ts-travel2-service-5c66d57d58-6mp2b", "ts-travel2-service"),
        ("postgres-0", "postgres"),  # StatefulSet
        ("node-exporter-x7k2p", "node-exporter"),  # DaemonSet
        ("standalone", "standalone"),  # no generated suffix
    ],
)
def test_the_workload_of_a_pod_is_its_name_without_the_generated_suffixes(pod, workload):
    assert workload_of_pod(pod) == workload


KUBELET = "kube-prometheus-stack-kubelet"


def test_a_service_label_shared_by_the_pods_of_several_workloads_is_an_exporters():
    series = [
        _series("container_cpu_usage_seconds_total", KUBELET, pod="cart-5d9f8b6c5d-x2k4p", service=KUBELET),
        _series("container_cpu_usage_seconds_total", KUBELET, pod="pay-7c8d7f9b4-qw7zt", service=KUBELET),
        _series("latency_seconds", "cart", pod="cart-5d9f8b6c5d-x2k4p", service="cart"),
        _series("latency_seconds", "cart", pod="cart-5d9f8b6c5d-h8j2k", service="cart"),  # a second replica
    ]
    assert exporter_components(series) == {KUBELET}
    moved = with_subject_components(series)
    assert [s.component for s in moved] == ["cart", "pay", "cart", "cart"]


def test_components_named_like_their_pods_are_left_alone():
    series = [
        _series("cpu_percent", "cartservice", pod="cartservice-579f59597d-wc2lz", service="cartservice"),
        _series("cpu_percent", "cartservice", pod="cartservice-579f59597d-abcde", service="cartservice"),
        _series("cpu_percent", "frontend", pod="frontend-579b9bff58-t2dbm", service="frontend"),
        _series("queue_depth", "billing", service="billing"),  # no pod: nothing to go by
    ]
    assert exporter_components(series) == set()
    assert with_subject_components(series) == series


def test_a_single_pod_under_another_name_is_not_enough_to_call_it_an_exporter():
    series = [_series("latency_seconds", "api", pod="backend-5d9f8b6c5d-x2k4p", service="api")]
    assert exporter_components(series) == set()


KSM = "kube-prometheus-stack-kube-state-metrics"
KSM_POD = f"{KSM}-6d5c8b9f7-x2k4p"


def test_kube_state_metrics_object_series_belong_to_the_object_they_name_not_to_its_own_pod():
    """kube-prometheus-stack scrapes kube-state-metrics with honorLabels: a pod's series carry the pod
    they describe, a Deployment's carry kube-state-metrics' own pod from its scrape labels. Before, that
    own pod kept the exporter rule from applying, and every workload's restarts were kube-state-metrics'."""
    series = [
        _series("kube_pod_container_status_restarts_total", KSM, pod="gateway-7d9f8b6c4-x2lqp", service=KSM),
        _series("kube_pod_container_status_restarts_total", KSM, pod="pricing-7f6d5c4b3-p4d7s", service=KSM),
        _series(
            "kube_deployment_metadata_generation", KSM, deployment="position-ui", pod=KSM_POD, service=KSM
        ),
        _series("kube_replicaset_owner", KSM, replicaset="pricing-7f6d5c4b3", pod=KSM_POD, service=KSM),
        _series("kube_statefulset_replicas", KSM, statefulset="orders-db", pod=KSM_POD, service=KSM),
        _series("kube_job_status_failed", KSM, job_name="eod-reporting-28911840", pod=KSM_POD, service=KSM),
        _series("process_cpu_seconds_total", KSM, pod=KSM_POD, service=KSM),  # its own process
    ]
    moved = with_subject_components(series)
    assert [s.component for s in moved] == [
        "gateway",
        "pricing",
        "position-ui",
        "pricing",
        "orders-db",
        "eod-reporting-28911840",
        KSM,
    ]


def test_the_kubelets_series_of_the_one_pod_the_evidence_holds_belong_to_that_pods_own_component():
    """A consumer group's lag, its consumer's series found by its name: one pod, its own
    `service="risk-engine"` series and the kubelet's cAdvisor series of it. Before, the kubelet described
    only one pod, was no exporter, and the consumer's pool at its limit was named
    "kube-prometheus-stack-kubelet"'s (its `container` value taken for the kubelet's)."""
    pod = "risk-engine-5b6f7c9d8-h7rtn"
    series = [
        _series(
            "container_cpu_usage_seconds_total", KUBELET, pod=pod, container="risk-engine", service=KUBELET
        ),
        _series(
            "go_sql_in_use_connections",
            "risk-engine",
            pod=pod,
            container="risk-engine",
            service="risk-engine",
        ),
    ]
    assert exporter_components(series) == {KUBELET}
    assert [s.component for s in with_subject_components(series)] == ["risk-engine", "risk-engine"]


def test_a_service_named_apart_from_its_pods_is_no_exporter():
    series = [_series("latency_seconds", "orders-api", pod="orders-5d9f8b6c5d-x2k4p", service="orders-api")]
    assert exporter_components(series) == set()
