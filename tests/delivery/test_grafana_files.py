"""The shipped Grafana dashboards and provisioning files load and fit together."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))


def test_there_is_a_trading_and_a_self_monitoring_dashboard() -> None:
    assert {p.name for p in DASHBOARDS} == {"alert-analyst-trading.json", "alert-analyst-self.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_shows_alert_analyst_annotations_by_tag(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    tag_queries = [a for a in dashboard["annotations"]["list"] if a.get("target", {}).get("type") == "tags"]
    assert any(q["enable"] and q["target"]["tags"] == ["alert-analyst"] for q in tag_queries)
    assert all(q["datasource"] == {"type": "grafana", "uid": "-- Grafana --"} for q in tag_queries)


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_has_a_prometheus_target(path: Path) -> None:
    dashboard = json.loads(path.read_text())
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["expr"].strip() and target["refId"]
            assert target["datasource"] == {"type": "prometheus", "uid": "${datasource}"}


def test_trading_dashboard_graphs_the_demo_metrics() -> None:
    text = (GRAFANA / "dashboards" / "alert-analyst-trading.json").read_text()
    for metric in (
        "demo_pnl_usd",
        "demo_volatility",
        "demo_order_error_ratio",
        "demo_order_latency_seconds",
        "demo_db_pool_in_use",
    ):
        assert metric in text


def test_self_dashboard_graphs_alert_analyst_metrics() -> None:
    text = (GRAFANA / "dashboards" / "alert-analyst-self.json").read_text()
    for metric in (
        "alert_analyst_webhook_requests_total",
        "alert_analyst_alerts_received_total",
        "alert_analyst_open_incidents",
        "alert_analyst_queue_depth",
        "alert_analyst_stage_duration_seconds_bucket",
        "alert_analyst_llm_tokens_total",
        "alert_analyst_llm_cost_usd_total",
        "alert_analyst_anomaly_score",
        "alert_analyst_deliveries_total",
        "alert_analyst_deliveries_pending",
    ):
        assert metric in text


def test_provisioning_files_name_a_prometheus_datasource_and_the_dashboard_folder() -> None:
    datasources = yaml.safe_load((GRAFANA / "provisioning/datasources/prometheus.yaml").read_text())
    assert datasources["apiVersion"] == 1
    [prometheus] = datasources["datasources"]
    assert (prometheus["type"], prometheus["uid"]) == ("prometheus", "alert-analyst-prometheus")
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/alert-analyst.yaml").read_text())
    [provider] = providers["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
