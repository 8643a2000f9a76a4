"""An ingress controller times its upstreams: ingress-nginx's request series name the Service they
proxied to (`service`, renamed `exported_service` when the controller's own Service is a scrape label) and
time its answers from the calling side. When one api pod's Tomcat threads are all blocked, the
controller's 504s and its upstream latency are its callers' view of the api, not a fault of the
controller; the api's busy threads, at the pool's configured maximum, say what ran out, and before the
connections queued behind them reached theirs."""

from __future__ import annotations

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.calls import callers_view_of, side_of
from analyst.builtin.categories import MetricFamily, metric_family
from analyst.builtin.limits import is_limit_of
from analyst.evidence import Evidence, SeriesEvidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    CHANGED_AT,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
    labelled,
)

CONTROLLER = {
    "controller_class": "k8s.io/ingress-nginx",
    "controller_namespace": "ingress-nginx",
    "controller_pod": "ingress-nginx-controller-6f7d8c9b5-q2w4e",
    "pod": "ingress-nginx-controller-6f7d8c9b5-q2w4e",
    "ingress": "api",
    "exported_namespace": "web",
    "exported_service": "api",
}
API_POD = {"pod": "api-7c9f8d6b5-4hq2x", "namespace": "web"}


def _ingress(metric: str, values: object, role: str = "related", **labels: str) -> SeriesEvidence:
    series = grid_series(metric, "ingress-nginx-controller", values, role)  # type: ignore[arg-type]
    return labelled(series, **CONTROLLER, **labels)


def _deadlocked_api() -> Evidence:
    series = [
        _ingress("nginx_ingress_5xx_ratio", grid_step(0.001, 0.0005, 1, 0.4), "alert"),
        _ingress(
            "nginx_ingress_controller_request_duration_seconds:mean",
            grid_step(0.04, 0.004, 2, 60.0),
            status="504",
        ),
        _ingress("nginx_ingress_controller_requests", grid_step(0.0, 0.0, 3, 30.0), status="504"),
        labelled(  # the controller's own process: no upstream
            grid_series(
                "nginx_ingress_controller_nginx_process_cpu_seconds_total",
                "ingress-nginx-controller",
                grid_noise(0.2, 0.02, 4),
            ),
            **{
                k: v
                for k, v in CONTROLLER.items()
                if k not in ("ingress", "exported_namespace", "exported_service")
            },
        ),
        labelled(
            grid_series("tomcat_threads_busy_threads", "api", grid_step(8.0, 5.0, 5, 200.0, CHANGED_AT - 4)),
            **API_POD,
        ),
        labelled(
            grid_series("tomcat_threads_config_max_threads", "api", grid_noise(200.0, 0.0, 6)), **API_POD
        ),
        labelled(
            grid_series("tomcat_connections_current_connections", "api", grid_step(75.0, 3.0, 7, 8100.0)),
            **API_POD,
        ),
        labelled(
            grid_series("tomcat_connections_config_max_connections", "api", grid_noise(8192.0, 0.0, 8)),
            **API_POD,
        ),
        labelled(grid_series("process_cpu_usage", "api", grid_noise(0.14, 0.01, 9)), **API_POD),
    ]
    return grid_evidence(
        series, alert_service="ingress-nginx-controller", alertname="IngressHighHttp5xxRatio"
    )


def test_an_ingress_controllers_series_are_its_callers_view_of_the_upstream() -> None:
    assert side_of(CONTROLLER) == "caller" and callers_view_of(CONTROLLER) == "api"
    honoured = {k: v for k, v in CONTROLLER.items() if k != "exported_service"} | {"service": "api"}
    assert callers_view_of(honoured) == "api"
    assert callers_view_of({"ingress": "api", "service": "api"}) is None  # no controller's mark


def test_a_pools_busy_threads_are_bounded_by_its_configured_maximum() -> None:
    assert is_limit_of("tomcat_threads_config_max_threads", "tomcat_threads_busy_threads")
    assert metric_family("tomcat_threads_busy_threads") is MetricFamily.WORKER_POOL
    assert metric_family("executor_active_threads") is MetricFamily.WORKER_POOL
    assert metric_family("jvm_threads_live_threads") is MetricFamily.OTHER
    assert metric_family("celery_active_worker_count") is not MetricFamily.WORKER_POOL  # processes alive


def test_the_upstreams_exhausted_pool_explains_the_controllers_504s() -> None:
    result = diagnose_evidence(_deadlocked_api(), load_playbooks(None), now=ALERT_AT)
    primary = result.primary_hypothesis
    assert primary.title == "Worker pool saturated: api", primary
    assert primary.category == "resource.limits"
    assert primary.suspect.startswith("tomcat_threads_busy_threads"), primary.suspect
    named = [h.title for h in result.alternative_hypotheses]
    assert "Failing or slow dependency: ingress-nginx-controller" not in named, (
        named
    )  # its 504s are the api's
