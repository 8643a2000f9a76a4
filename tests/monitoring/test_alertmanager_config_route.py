"""deploy/kubernetes/alertmanagerconfig.yaml sends the namespace's alerts to alert-analyst, but not
alert-analyst's own health alerts: the route, rendered the way the Prometheus Operator renders it, is run
through the real `amtool config routes test` (Debian 0.25)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from demo.processes import find_binary

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy" / "kubernetes"
RULES = REPO / "alertmanager" / "rules"
NAMESPACE = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())["namespace"]
SPEC = yaml.safe_load((DEPLOY / "alertmanagerconfig.yaml").read_text())["spec"]
# monitoring.coreos.com/v1alpha1 Matcher: these fields, matchType one of these (the CRD's enum).
MATCHER_FIELDS = {"name", "value", "matchType", "regex"}
MATCH_TYPES = {"=", "!=", "=~", "!~"}


def alert_names(rule_file: str) -> list[str]:
    groups = yaml.safe_load((RULES / rule_file).read_text())["groups"]
    return [rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule]


def operator_matchers(route: dict[str, Any]) -> list[str]:
    """The route's matchers as the Operator writes them into alertmanager.yml, with the namespace matcher it
    adds to every AlertmanagerConfig route (its default OnNamespace strategy)."""
    rendered = [f'namespace="{NAMESPACE}"']
    for matcher in route.get("matchers", []):
        kind = matcher.get("matchType", "=~" if matcher.get("regex") else "=")
        rendered.append(f"{matcher['name']}{kind}{json.dumps(matcher.get('value', ''))}")
    return rendered


def alertmanager_yml(tmp_path: Path) -> Path:
    """The AlertmanagerConfig's route first (`continue` as it sets it), then a catch-all route to people."""
    route = SPEC["route"]
    config = {
        "route": {
            "receiver": "people",
            "routes": [
                {
                    "receiver": route["receiver"],
                    "matchers": operator_matchers(route),
                    "continue": route.get("continue", False),
                },
                {"receiver": "people"},
            ],
        },
        "receivers": [{"name": "people"}, {"name": route["receiver"]}],
    }
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def receivers_of(config: Path, alertname: str) -> str:
    result = subprocess.run(
        [
            find_binary("amtool"),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"alertname={alertname}",
            f"namespace={NAMESPACE}",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


def test_route_matchers_have_the_crds_fields_and_match_types() -> None:
    matchers = SPEC["route"]["matchers"]
    assert matchers
    for matcher in matchers:
        assert set(matcher) <= MATCHER_FIELDS and matcher["name"], matcher
        assert matcher.get("matchType", "=") in MATCH_TYPES, matcher


@pytest.mark.parametrize("alertname", alert_names("alert-analyst.rules.yml"))
def test_alert_analysts_own_health_alerts_do_not_go_to_it(alertname: str, tmp_path: Path) -> None:
    assert receivers_of(alertmanager_yml(tmp_path), alertname) == "people"


@pytest.mark.parametrize(
    "alertname", [*alert_names("trading.rules.yml"), *alert_names("infrastructure.rules.yml"), "Analyst"]
)
def test_every_other_alert_of_the_namespace_goes_to_alert_analyst(alertname: str, tmp_path: Path) -> None:
    assert receivers_of(alertmanager_yml(tmp_path), alertname) == f"{SPEC['route']['receiver']},people"
