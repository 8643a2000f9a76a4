"""An exporter scraped by address (no service, pod or container label: its component is its `instance`)
belongs to the component its `job` names when other series name that component by another label: the
market-data exporter's `job="market-data"` beside cAdvisor's `container="market-data"`. Before, the
market's volume was blamed on "10.42.5.91:8080" and the same workload's container stood apart. A job that
no other series names (`node`, `kubernetes-pods`) may span many components: its targets stay apart."""

from __future__ import annotations

import dataclasses

import numpy as np

from analyst.builtin.entities import CHANGE_Z, instance_aliases, rank_entities
from analyst.builtin.entity_causes import entity_cause
from analyst.diagnosis import Category
from analyst.evidence import SeriesEvidence
from tests.analyst.grid_evidence import CHANGED_AT, grid_evidence, grid_noise, grid_series


def _scraped(
    metric: str, labels: dict[str, str], values: np.ndarray, role: str = "related"
) -> SeriesEvidence:
    """`metric{labels}` whose component is what the receiver names it by: the first of `service`,
    `container` or `instance` it carries."""
    series = grid_series(metric, "x", values, role)
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    component = next(labels[k] for k in ("service", "container", "instance") if k in labels)
    return dataclasses.replace(
        series, labels={"__name__": metric, **labels}, series_id=f"{metric}{{{inner}}}", component=component
    )


def _surge() -> np.ndarray:
    values = grid_noise(2.5e6, 0.02e6, 5)
    values[CHANGED_AT:] += 0.6e6
    return values


def _market_and_nodes() -> list[SeriesEvidence]:
    return [
        _scraped(
            "order_ack_latency_p99_seconds", {"service": "order-gateway"}, grid_noise(0.04, 0.001, 1), "alert"
        ),
        _scraped("demo_volume_usd_total", {"instance": "10.42.5.91:8080", "job": "market-data"}, _surge()),
        _scraped(
            "container_cpu_usage_seconds_total",
            {"container": "market-data", "instance": "10.0.0.10:10250", "job": "kubelet"},
            grid_noise(0.4, 0.01, 3),
        ),
        _scraped("node_load1", {"instance": "host-a:9100", "job": "node"}, grid_noise(1.0, 0.1, 7)),
        _scraped("node_load1", {"instance": "host-b:9100", "job": "node"}, grid_noise(1.0, 0.1, 9)),
    ]


def test_an_exporter_known_by_its_address_joins_the_workload_its_job_names() -> None:
    aliases = instance_aliases(_market_and_nodes())

    assert aliases.get("10.42.5.91:8080") == "market-data"
    assert "host-a:9100" not in aliases and "host-b:9100" not in aliases  # "node" names no component


def test_the_volume_surge_is_ranked_as_the_market_data_workload() -> None:
    evidence = grid_evidence(
        _market_and_nodes(), alert_service="order-gateway", alertname="OrderAckLatencyHigh"
    )

    ranked = rank_entities(evidence)

    assert ranked[0].name == "market-data"
    assert {s.series.metric for s in ranked[0].shifts} == {
        "demo_volume_usd_total",
        "container_cpu_usage_seconds_total",
    }
    assert {e.name for e in ranked} >= {"host-a:9100", "host-b:9100"}


def test_two_jobs_on_one_address_name_neither() -> None:
    """An address two jobs scrape (a sidecar beside the app) is not given to either."""
    series = [
        *_market_and_nodes(),
        _scraped(
            "process_open_fds",
            {"instance": "10.42.5.91:8080", "job": "market-data-sidecar"},
            grid_noise(9, 1, 11),
        ),
    ]

    assert "10.42.5.91:8080" not in instance_aliases(series)


def test_the_market_data_workloads_busier_cpu_does_not_explain_the_volume_it_reports() -> None:
    """Joined to its workload, the volume shares a component with the container's CPU, which rose in the
    same minute: the saturation that explains a component's own latency does not explain the market
    (seen once in 720 `bench.trading` incidents: a volatility spike named `resource.cpu`)."""
    series = _market_and_nodes()
    busier = grid_noise(0.4, 0.01, 3)
    busier[CHANGED_AT:] += 0.08
    series[2] = dataclasses.replace(
        series[2], values=dataclasses.replace(series[2].values, values=tuple(busier))
    )
    evidence = grid_evidence(series, alert_service="order-gateway", alertname="OrderAckLatencyHigh")

    market = rank_entities(evidence)[0]
    cpu = next(s for s in market.shifts if s.series.metric == "container_cpu_usage_seconds_total")
    cause = entity_cause(market, "order-gateway")

    assert market.name == "market-data" and cpu.z >= CHANGE_Z
    assert cause.category is Category.MARKET_LIQUIDITY
    assert cause.suspect == series[1].series_id
