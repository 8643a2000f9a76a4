"""The shipped Grafana files can be dropped into a Grafana that is already set up: the data source joins
other provisioning without breaking it, and the dashboards' annotation filters can match something."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

GRAFANA = Path(__file__).resolve().parents[2] / "grafana"
SHIPPED = GRAFANA / "provisioning" / "datasources" / "prometheus.yaml"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
# What Grafanas commonly provision already: kube-prometheus-stack's sidecar file, and the minimal example of
# Grafana's provisioning docs (a docker-compose setup).
EXISTING = {
    "kube-prometheus-stack": """
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    uid: prometheus
    url: http://kube-prometheus-stack-prometheus.monitoring:9090/
    access: proxy
    isDefault: true
""",
    "grafana-docs-example": """
apiVersion: 1
datasources:
  - name: Prometheus
    type: prometheus
    access: proxy
    url: http://prometheus:9090
    isDefault: true
""",
}


def provisioning_problems(files: list[dict[str, Any]]) -> list[str]:
    """What Grafana makes of several datasource provisioning files together (pkg/services/provisioning/
    datasources): a second default in one org fails provisioning (Grafana does not start), a uid already
    taken fails the insert, and a name already provisioned is matched and overwritten."""
    problems: list[str] = []
    defaults: dict[int, int] = {}
    names: set[tuple[int, str]] = set()
    uids: set[tuple[int, str]] = set()
    for file in files:
        for source in file["datasources"]:
            org = int(source.get("orgId", 1))
            if source.get("isDefault"):
                defaults[org] = defaults.get(org, 0) + 1
                if defaults[org] > 1:
                    problems.append(f"org {org}: more than one default data source")
            if (org, source["name"]) in names:
                problems.append(f"org {org}: name {source['name']!r} overwrites another data source")
            names.add((org, source["name"]))
            if "uid" in source:
                if (org, source["uid"]) in uids:
                    problems.append(f"org {org}: uid {source['uid']!r} is taken")
                uids.add((org, source["uid"]))
    return problems


@pytest.mark.parametrize("setup", sorted(EXISTING))
def test_shipped_data_source_joins_an_existing_provisioning(setup: str) -> None:
    files = [yaml.safe_load(EXISTING[setup]), yaml.safe_load(SHIPPED.read_text())]
    assert provisioning_problems(files) == []


def test_the_provisioning_model_notices_a_second_default_and_a_taken_name_and_uid() -> None:
    theirs = yaml.safe_load(EXISTING["kube-prometheus-stack"])
    problems = provisioning_problems([theirs, theirs])
    assert len(problems) == 3


def test_shipped_data_source_is_a_prometheus_one_the_dashboards_variable_lists() -> None:
    [source] = yaml.safe_load(SHIPPED.read_text())["datasources"]
    for path in DASHBOARDS:
        variables = json.loads(path.read_text())["templating"]["list"]
        [variable] = [v for v in variables if v["type"] == "datasource"]
        assert variable["query"] == source["type"] == "prometheus"


def tag_variables(dashboard: dict[str, Any]) -> set[str]:
    """Variables in the tags of annotation queries that need every tag (matchAny false)."""
    names = set()
    for query in dashboard["annotations"]["list"]:
        target = query.get("target", {})
        if target.get("type") == "tags" and not target.get("matchAny"):
            names |= {tag.strip("${}") for tag in target["tags"] if tag.startswith("$")}
    return names


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_variables_in_all_tags_annotation_filters_take_one_value(path: Path) -> None:
    """Grafana turns a multi-value variable (or All) into one tag per value, and a diagnosis carries one
    alertname tag: with every tag required, two alertnames, or All, match no annotation at all."""
    dashboard = json.loads(path.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in tag_variables(dashboard):
        assert not variables[name].get("multi") and not variables[name].get("includeAll"), name


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_an_alert_that_fired_outside_the_lists_reach_can_still_be_picked(path: Path) -> None:
    """The variable lists the alerts of `ALERTS` in the dashboard's time range (refreshed when it changes),
    and no alert-analyst series carries an alertname label to list every alert it has seen: an alertname
    typed by hand (another Prometheus' alert, one outside the range) is taken as it is."""
    dashboard = json.loads(path.read_text())
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    for name in tag_variables(dashboard):
        if variables[name]["type"] == "query":
            assert variables[name]["refresh"] == 2, name  # on time range change
            assert variables[name]["allowCustomValue"] is True, name
