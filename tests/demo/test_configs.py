"""Example and generated configs pass the real `amtool` / `promtool` checks (Debian 0.25 / 2.42)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from demo.processes import find_binary
from demo.rules import TRADING_RULES, demo_rules, trading_rules_yaml
from demo.runner import alertmanager_config, prometheus_config, receiver_config

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "alertmanager"


def check(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    """Run amtool/promtool; the result carries its output for assertion messages."""
    return subprocess.run(
        [find_binary(tool), *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )


def test_example_alertmanager_config_passes_amtool() -> None:
    result = check("amtool", "check-config", EXAMPLES / "alertmanager.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["alertname=PnLDrawdownHigh", "team=trading", "severity=critical"], "alert-analyst,trading-oncall"),
        (["alertname=DiskFull", "severity=warning"], "alert-analyst,team-default"),
        (["alertname=AlertAnalystDown", "severity=critical"], "team-default"),
        (["alertname=AlertAnalystDeliveriesFailing", "team=trading", "severity=critical"], "trading-oncall"),
    ],
)
def test_example_routes_send_every_alert_but_its_own_to_alert_analyst(
    labels: list[str], receivers: str
) -> None:
    result = check(
        "amtool", "config", "routes", "test", f"--config.file={EXAMPLES / 'alertmanager.yml'}", *labels
    )
    assert result.stdout.strip() == receivers, result.stdout + result.stderr


def test_amtool_rejects_an_option_alertmanager_0_25_lacks(tmp_path: Path) -> None:
    broken = (EXAMPLES / "alertmanager.yml").read_text().replace("send_resolved: true", "url_file: /x")
    (tmp_path / "am.yml").write_text(broken)
    result = check("amtool", "check-config", tmp_path / "am.yml")
    assert result.returncode != 0
    assert "field url_file not found" in result.stdout + result.stderr


def test_generated_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    path = tmp_path / "alertmanager.yml"
    path.write_text(alertmanager_config("http://127.0.0.1:9099/webhook/alertmanager", "s3cr3t"))
    result = check("amtool", "check-config", path)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", ["trading.rules.yml", "infrastructure.rules.yml"])
def test_example_rule_files_pass_promtool(name: str) -> None:
    result = check("promtool", "check", "rules", EXAMPLES / "rules" / name)
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_prometheus_config_and_its_rule_files_pass_promtool() -> None:
    result = check("promtool", "check", "config", EXAMPLES / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 rule files found" in result.stdout


def test_generated_prometheus_config_and_demo_rules_pass_promtool(tmp_path: Path) -> None:
    rules = tmp_path / "trading-demo.rules.yml"
    rules.write_text(demo_rules())
    config = tmp_path / "prometheus.yml"
    config.write_text(prometheus_config(9100, 9093, rules, receiver_port=9099))
    assert check("promtool", "check", "rules", rules).returncode == 0
    result = check("promtool", "check", "config", config)
    assert result.returncode == 0, result.stdout + result.stderr


def test_example_trading_rules_are_generated_from_the_rule_source() -> None:
    assert (EXAMPLES / "rules" / "trading.rules.yml").read_text() == trading_rules_yaml()


def test_demo_rules_reuse_the_trading_expressions_with_demo_hold_times() -> None:
    demo = yaml.safe_load(demo_rules())["groups"][0]["rules"]
    source = {rule.alert: rule.expr for rule in TRADING_RULES}
    assert {rule["alert"] for rule in demo} == {"PnLDrawdownHigh", "OrderErrorRateHigh", "OrderLatencyHigh"}
    for rule in demo:
        assert rule["expr"] == source[rule["alert"]]
        assert rule["for"] == "5s"
        assert rule["labels"]["severity"] in {"critical", "warning"}
        assert {"summary", "description", "runbook_url"} <= set(rule["annotations"])


def test_receiver_config_is_accepted_by_the_receiver_settings(tmp_path: Path) -> None:
    config = pytest.importorskip("receiver.config")
    path = tmp_path / "alert-analyst.yml"
    settings = receiver_config(9099, "http://127.0.0.1:9090", tmp_path, "token", ui_password="pw")
    path.write_text(yaml.safe_dump(settings))
    loaded = config.load_settings(path, environ={})
    assert loaded.web.listen_address == "127.0.0.1:9099"
    names = [query.name for query in loaded.context.context_queries]
    assert {"pnl_usd", "volatility", "order_error_ratio", "db_pool_in_use"} <= set(names)
