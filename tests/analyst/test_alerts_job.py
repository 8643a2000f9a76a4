"""Off Kubernetes a service is a scrape job with a target per host, and the evidence names each target's
series by its address (`instance`): an alert `by (job, host)` on the FIX gateway named the job while its
own series belonged to `ny4-fixgw-02:9404`, so nothing counted them as what fired, and the gateway's
rejects (z 100, errors) stayed above the drift of the host's clock that began half an hour before them.
A job the alert names as what fired, naming no one target of it, names a component: its targets belong
to it. A job an alert does not name (`node`) still spans many components and names none."""

from __future__ import annotations

import dataclasses

import numpy as np

from analyst.builtin import diagnose_evidence, load_playbooks
from analyst.builtin.entities import alerts_job, instance_aliases
from analyst.evidence import SeriesEvidence
from tests.analyst.grid_evidence import (
    ALERT_AT,
    CHANGED_AT,
    POINTS,
    grid_evidence,
    grid_noise,
    grid_series,
    grid_step,
    labelled,
)

SITE = {"dc": "ny4", "env": "prod"}


def on(metric: str, job: str, host: str, port: int, values: object, role: str = "related") -> SeriesEvidence:
    """`metric` of the `job` target on `host`, named by its address as the evidence names it."""
    series = grid_series(metric, f"{host}:{port}", values, role)  # type: ignore[arg-type]
    return labelled(series, **SITE, job=job, host=host, instance=f"{host}:{port}")


def _gateway_behind_a_drifting_clock() -> list[SeriesEvidence]:
    drift_at = CHANGED_AT - 30  # the clock slews away half an hour before the venues reject
    rejects = [
        on(
            "fix_session_rejects_total",
            "fix-gateway",
            host,
            9404,
            grid_step(0.01, 0.005, k, 6.0) if k else grid_noise(0.01, 0.005, 9),
        )
        for k, host in enumerate(("ny4-fixgw-01", "ny4-fixgw-02"))
    ]
    drift = grid_noise(8e-5, 1e-5, 4) + np.clip(np.arange(POINTS) - drift_at, 0, None) * 7e-4
    fired = labelled(
        grid_series("fix_reject_ratio", "fix-gateway", grid_step(0.001, 0.0005, 8, 0.3), "alert"),
        job="fix-gateway",
        host="ny4-fixgw-02",
    )
    return [
        fired,
        *rejects,
        on("jvm_memory_used_bytes", "fix-gateway", "ny4-fixgw-02", 9404, grid_noise(2e9, 5e7, 3)),
        on(
            "node_timex_estimated_error_seconds",
            "node",
            "ny4-fixgw-02",
            9100,
            drift,
        ),
        on("node_load1", "node", "ny4-fixgw-01", 9100, grid_noise(1.0, 0.1, 6)),
    ]


def test_the_targets_of_the_job_an_alert_names_belong_to_that_job() -> None:
    series = _gateway_behind_a_drifting_clock()
    assert alerts_job({"job": "fix-gateway", "host": "ny4-fixgw-02"}) == ["fix-gateway"]
    assert alerts_job({"job": "node", "instance": "ny4-fixgw-02:9100"}) == []  # one target: it names it

    aliases = instance_aliases(series, ["fix-gateway"])
    assert aliases.get("ny4-fixgw-01:9404") == aliases.get("ny4-fixgw-02:9404") == "fix-gateway"
    assert "ny4-fixgw-02:9100" not in aliases  # node_exporter's job names no component
    assert "ny4-fixgw-02:9404" not in instance_aliases(series)


def test_the_host_whose_clock_drifted_first_is_the_cause_of_the_gateways_rejects() -> None:
    evidence = grid_evidence(_gateway_behind_a_drifting_clock(), alertname="FixOrderRejectRatioHigh")
    labels = {"alertname": "FixOrderRejectRatioHigh", "job": "fix-gateway", "host": "ny4-fixgw-02"}
    evidence = dataclasses.replace(
        evidence,
        alert=dataclasses.replace(
            evidence.alert,
            labels=labels,
            expr='sum by (job, host) (rate(fix_session_rejects_total{job="fix-gateway"}[2m])) > 1',
        ),
    )

    primary = diagnose_evidence(evidence, load_playbooks(None), now=ALERT_AT).primary_hypothesis

    assert primary.title.endswith("ny4-fixgw-02:9100"), primary


def test_a_container_name_on_a_jobs_target_belongs_to_that_job() -> None:
    """docker_sd's targets carry the container's name beside the address (`container="exchange-wallet-
    service-1"`, `instance="10.30.1.12:8081"`): the name belonged to the address and the address to the
    job, so the wallet service's own series were `10.30.1.12:8081`'s, not the alerting job's."""
    address = "10.30.1.12:8081"
    target = {"job": "wallet-service", "instance": address, "container": "exchange-wallet-service-1"}
    series = [
        labelled(grid_series(metric, "10.30.1.12:8081", grid_noise(1.0, 0.1, seed)), **target)
        for seed, metric in enumerate(("up", "jvm_memory_used_bytes", "process_cpu_usage"))
    ]
    aliases = instance_aliases(series, ["wallet-service"])
    assert aliases["10.30.1.12:8081"] == "wallet-service"
    assert aliases["exchange-wallet-service-1"] == "wallet-service"
