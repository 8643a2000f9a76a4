"""Every dashboard query is PromQL that Prometheus parses and type-checks (`promtool check rules`), once
Grafana has put its variables in."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DASHBOARDS = sorted((REPO / "grafana" / "dashboards").glob("*.json"))
# What Grafana substitutes for its built-in interval variables (a duration), and for a dashboard variable
# inside a regex matcher (its All value).
INTERVALS = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h"}
VARIABLE = re.compile(r"\$\{?\w+\}?")


def grafana_interpolated(expr: str) -> str:
    for name, value in INTERVALS.items():
        expr = expr.replace(name, value)
    return VARIABLE.sub(".*", expr)


def panel_queries(path: Path) -> Iterator[tuple[str, str]]:
    dashboard = json.loads(path.read_text())
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield f"{panel['title']} / {target['refId']}", grafana_interpolated(target["expr"])


def promtool_check(queries: list[tuple[str, str]], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Each query as a recording rule of a rule file, checked by promtool (parse and types)."""
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is missing: install Debian's prometheus package (.ci/run does)")
    rules = [{"record": f"dashboard:query_{i}", "expr": expr} for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    return subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_query_parses(path: Path, tmp_path: Path) -> None:
    queries = list(panel_queries(path))
    result = promtool_check(queries, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(queries)} rules found" in result.stdout


def test_the_check_rejects_a_rate_over_an_instant_vector(tmp_path: Path) -> None:
    result = promtool_check([("broken", "sum(rate(alert_analyst_webhook_requests_total))")], tmp_path)
    assert result.returncode != 0
    assert "range vector" in result.stdout + result.stderr


def test_grafana_variables_become_durations_and_regexes() -> None:
    expr = 'sum(rate(m{desk=~"$desk", book=~"${book}"}[$__rate_interval]))'
    assert grafana_interpolated(expr) == 'sum(rate(m{desk=~".*", book=~".*"}[1m]))'
