"""Configuration files of the demo stack: Prometheus, Alertmanager and the receiver, all on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from demo.scenario import SERIES_LABELS

WEBHOOK_PATH = "/webhook/alertmanager"
UI_USERNAME = "demo"
HISTORY_SECONDS = 900  # calm history backfilled before the start, as long as the context lookback

# Raw metric names: the receiver applies rate() to counters itself and merges these with related series.
TRADING_CONTEXT_QUERIES: tuple[tuple[str, str], ...] = (
    ("pnl_usd", "demo_pnl_usd"),
    ("pnl_drawdown", "demo_pnl_drawdown_ratio"),
    ("volume_usd", "demo_volume_usd_total"),
    ("funding_rate", "demo_funding_rate"),
    ("volatility", "demo_volatility"),
    ("order_latency_p99", "demo_order_latency_seconds"),
    ("order_error_ratio", "demo_order_error_ratio"),
    ("db_pool_in_use", "demo_db_pool_in_use"),
    ("cpu_usage", "demo_cpu_usage_ratio"),
    ("memory_usage_bytes", "demo_memory_usage_bytes"),
    ("requests", "demo_requests_total"),
)


def prometheus_config(
    exporter_port: int,
    alertmanager_port: int,
    rules_path: Path,
    receiver_port: int | None = None,
    interval: str = "1s",
) -> str:
    """Prometheus scraping the exporter (and the receiver's /metrics), evaluating the demo rules."""
    scrape = [
        {"job_name": "trading-exporter", "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}]}
    ]
    if receiver_port is not None:
        scrape.append(
            {"job_name": "alert-analyst", "static_configs": [{"targets": [f"127.0.0.1:{receiver_port}"]}]}
        )
    config = {
        "global": {
            "scrape_interval": interval,
            "scrape_timeout": interval,
            "evaluation_interval": interval,
            "external_labels": {"cluster": "demo"},
        },
        "rule_files": [str(rules_path)],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]
        },
        "scrape_configs": scrape,
    }
    return yaml.safe_dump(config, sort_keys=False)


def alertmanager_config(
    webhook_url: str, bearer_token: str, group_wait: str = "1s", group_interval: str = "5s"
) -> str:
    """Alertmanager (0.25-compatible) sending every alert to `webhook_url` with a Bearer token."""
    config = {
        "route": {
            "receiver": "alert-analyst",
            "group_by": ["alertname", *SERIES_LABELS],
            "group_wait": group_wait,
            "group_interval": group_interval,
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "alert-analyst",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials": bearer_token}},
                    }
                ],
            }
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


# Scheduled detection in the demo: one rule over a series no alerting rule watches (volatility: the PnL
# rules see only its effect). Every 5 s over the backfilled history on the context grid, so it opens its
# incident at the spike's onset, about a minute before PnLDrawdownHigh fires.
DETECTION_RULE_NAME = "MarketVolatilityAnomaly"
DETECTION: dict[str, Any] = {
    "enabled": True,
    "interval_seconds": 5,
    "lookback_seconds": HISTORY_SECONDS,
    "step_seconds": 2,
    "cooldown_seconds": 120,
    "rules": [
        {
            "name": DETECTION_RULE_NAME,
            "query": "demo_volatility",
            "anomaly_type": "MARKET_VOLATILITY",
            "direction": "up",
            "severity": "warning",
            "labels": {"team": "trading"},
        }
    ],
}


def receiver_config(
    port: int,
    prometheus_url: str,
    workdir: Path,
    bearer_token: str,
    ui_password: str | None = None,
    standins_url: str | None = None,
) -> dict[str, Any]:
    """The receiver's YAML settings for the demo: SQLite in `workdir`, built-in analyst, trading context,
    one scheduled detection rule; with `standins_url`, Slack and Grafana write-back to the demo's local
    stand-ins."""
    webhook: dict[str, Any] = {"bearer_token": bearer_token}
    if ui_password is not None:
        webhook["basic_auth"] = {"username": UI_USERNAME, "password": ui_password}
    destinations: dict[str, Any] = {}
    if standins_url is not None:
        destinations = {
            "slack": {"token": "demo-stand-in", "channel": "C0DEMO", "api_url": f"{standins_url}/slack/api/"},
            "grafana": {"url": f"{standins_url}/grafana", "token": "demo-stand-in"},
        }
    return {
        **destinations,
        "web": {"listen_address": f"127.0.0.1:{port}", "external_url": f"http://127.0.0.1:{port}"},
        "storage": {"path": str(workdir / "alert-analyst.db")},
        "webhook": webhook,
        "prometheus": {"url": prometheus_url},
        "analyst": {"backend": "builtin"},
        "detection": DETECTION,
        "log": {"format": "console"},
        "context": {
            "lookback_seconds": HISTORY_SECONDS,
            "step_seconds": 2,
            "rate_window_seconds": 30,
            "context_queries": [
                {"name": name, "query": query, "match": {}} for name, query in TRADING_CONTEXT_QUERIES
            ],
        },
    }
