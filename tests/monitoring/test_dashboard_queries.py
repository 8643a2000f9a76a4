"""Every dashboard query and rule expression reads metrics that the receiver or the demo exporter expose,
and the self-monitoring dashboard graphs every metric family the receiver exposes."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from demo.processes import free_port, start_receiver
from demo.scenario import METRICS as DEMO_METRICS
from tests.monitoring.promql_names import metric_names

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
SELF_RULES = REPO / "alertmanager" / "rules" / "alert-analyst.rules.yml"
# Series Prometheus makes itself: scrape health and the ALERTS series of its rules.
PROMETHEUS_SERIES = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
    "info": ("_info",),
}


def sample_names(exposition: str) -> dict[str, set[str]]:
    """Family name -> the sample names it can expose (even before any sample was recorded)."""
    return {
        family.name: {family.name + suffix for suffix in SUFFIXES.get(family.type, ("",))}
        for family in text_string_to_metric_families(exposition)
    }


@pytest.fixture(scope="module")
def receiver_families(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, set[str]]]:
    """The families of a receiver with every optional part configured (the peers need not answer)."""
    dead = f"http://127.0.0.1:{free_port()}"
    config = {
        "prometheus": {"url": dead, "retries": 0, "timeout_seconds": 1},
        "analyst": {"backend": "openai_compatible"},
        "llm": {"base_url": f"{dead}/v1", "model": "llama3.1", "attempts": 1},
        "slack": {"token": "xoxb-not-used", "channel": "C0ALERTS", "api_url": f"{dead}/api/"},
        "pagerduty": {"routing_key": "R" * 32, "url": f"{dead}/v2/enqueue"},
        "grafana": {"url": dead, "token": "glsa_not_used"},
        "detection": {
            "enabled": True,
            "interval_seconds": 3600,
            "rules": [{"name": "pnl_drop", "query": "sum(demo_pnl_usd)", "direction": "down"}],
        },
    }
    receiver = start_receiver(tmp_path_factory.mktemp("receiver"), config)
    try:
        with urllib.request.urlopen(f"{receiver.url}/metrics", timeout=10) as response:
            yield sample_names(response.read().decode())
    finally:
        receiver.terminate()


def demo_exporter_names() -> set[str]:
    return set(DEMO_METRICS)


def dashboard_queries(path: Path) -> Iterator[str]:
    dashboard = json.loads(path.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield target["expr"]
    for variable in dashboard["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            # label_values(metric, label): the metric is what must exist.
            yield (
                str(query["query"] if isinstance(query, dict) else query)
                .removeprefix("label_values(")
                .split(",")[0]
            )


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_dashboard_query_reads_exposed_metrics(
    path: Path, receiver_families: dict[str, set[str]]
) -> None:
    known = set().union(*receiver_families.values()) | demo_exporter_names() | PROMETHEUS_SERIES
    unknown = {name for expr in dashboard_queries(path) for name in metric_names(expr)} - known
    assert not unknown, f"{path.name} queries metrics nobody exposes: {sorted(unknown)}"


def test_self_dashboard_graphs_every_receiver_family(receiver_families: dict[str, set[str]]) -> None:
    text = (REPO / "grafana" / "dashboards" / "alert-analyst-self.json").read_text()
    queried = {
        name
        for expr in dashboard_queries(REPO / "grafana/dashboards/alert-analyst-self.json")
        for name in metric_names(expr)
    }
    missing = {
        family
        for family, names in receiver_families.items()
        if family.startswith("alert_analyst_") and not family.endswith("_created") and not names & queried
    }
    assert not missing, f"no panel for {sorted(missing)}"
    assert "process_resident_memory_bytes" in text


def test_self_health_rules_read_exposed_metrics(receiver_families: dict[str, set[str]]) -> None:
    groups = yaml.safe_load(SELF_RULES.read_text())["groups"]
    known = set().union(*receiver_families.values()) | PROMETHEUS_SERIES
    for rule in (rule for group in groups for rule in group["rules"]):
        unknown = metric_names(rule["expr"]) - known
        assert not unknown, f"{rule['alert']} reads {sorted(unknown)}"


def test_the_checker_notices_a_metric_nobody_exposes(receiver_families: dict[str, set[str]]) -> None:
    known = set().union(*receiver_families.values()) | demo_exporter_names() | PROMETHEUS_SERIES
    assert metric_names("histogram_quantile(0.99, rate(demo_order_latency_seconds_bucket[5m]))") - known


def test_dashboards_select_their_datasource_through_a_variable() -> None:
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text())
        [variable] = [v for v in dashboard["templating"]["list"] if v["type"] == "datasource"]
        assert variable["query"] == "prometheus"
        assert '"uid": "prometheus"' not in path.read_text()
        for panel in dashboard["panels"]:
            assert panel["datasource"]["uid"] == "${" + variable["name"] + "}"
