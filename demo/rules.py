"""The trading alert rules: one source for alertmanager/rules/trading.rules.yml and the demo's rules.

Regenerate the example file after editing (tests/demo checks they agree):
`python -c "from demo.rules import write_example_rules; write_example_rules()"`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

RUNBOOK_BASE = "https://runbooks.example.com"
TRADING_GROUP = "trading"

_HEADER = """\
# Trading alert rules for alert-analyst (Prometheus rule file).
# Generated from demo/rules.py (write_example_rules); edit that file, then regenerate.
# Metric names are those of the demo exporter (demo_*); replace them with your own series.
# Labels `severity` and `team` drive routing; `summary`, `description`, `runbook_url` show up in diagnoses.
"""


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule. `for_` is the production hold time; `in_demo` puts it in the demo's rule set."""

    alert: str
    expr: str
    for_: str
    severity: str
    summary: str
    description: str
    runbook: str
    in_demo: bool = False
    team: str = "trading"

    def to_rule(self, for_: str | None = None) -> dict[str, object]:
        return {
            "alert": self.alert,
            "expr": self.expr,
            "for": for_ or self.for_,
            "labels": {"severity": self.severity, "team": self.team},
            "annotations": {
                "summary": self.summary,
                "description": self.description,
                "runbook_url": f"{RUNBOOK_BASE}/{self.runbook}",
            },
        }


_WHERE = "{{ $labels.desk }}/{{ $labels.book }}"

TRADING_RULES: tuple[AlertRule, ...] = (
    AlertRule(
        "PnLDrawdownHigh",
        "demo_pnl_drawdown_ratio > 0.3",
        "2m",
        "critical",
        f"PnL drawdown {{{{ $value | humanizePercentage }}}} on {_WHERE}",
        "The book's PnL is more than 30% below its running peak. Check market moves (volatility, funding)"
        " and recent position or strategy changes.",
        "pnl-drawdown",
        in_demo=True,
    ),
    AlertRule(
        "PnLDropFast",
        "delta(demo_pnl_usd[10m]) < -200000",
        "1m",
        "warning",
        f"PnL changed by {{{{ $value | humanize }}}} USD in 10 minutes on {_WHERE}",
        "PnL lost more than 200k USD within 10 minutes.",
        "pnl-drop",
    ),
    AlertRule(
        "TradingVolumeSpike",
        "rate(demo_volume_usd_total[5m]) > 3 * rate(demo_volume_usd_total[1h] offset 5m)",
        "5m",
        "warning",
        f"Traded volume on {_WHERE} is 3x its last-hour rate",
        "Notional traded per second is more than three times the rate of the previous hour.",
        "volume-spike",
    ),
    AlertRule(
        "OrderLatencyHigh",
        "demo_order_latency_seconds > 0.25",
        "5m",
        "warning",
        f"p99 order latency {{{{ $value | humanizeDuration }}}} on {_WHERE}",
        "Order acknowledgement (execution/fill) latency p99 is above 250 ms.",
        "order-latency",
        in_demo=True,
    ),
    AlertRule(
        "FundingRateSwing",
        "abs(delta(demo_funding_rate[1h])) > 0.0005",
        "10m",
        "warning",
        f"Funding rate moved {{{{ $value | humanize }}}} within 1h on {_WHERE}",
        "The perpetual funding rate swung by more than 5 bp per 8h within an hour.",
        "funding-rate-swing",
    ),
    AlertRule(
        "DBPoolExhausted",
        "demo_db_pool_in_use / demo_db_pool_max >= 0.95",
        "2m",
        "warning",
        f"Order-store DB pool {{{{ $value | humanizePercentage }}}} in use on {_WHERE}",
        "The order store's connection pool is nearly exhausted; new orders will queue and fail.",
        "db-pool-exhausted",
    ),
    AlertRule(
        "OrderErrorRateHigh",
        "demo_order_error_ratio > 0.05",
        "2m",
        "critical",
        f"Order error ratio {{{{ $value | humanizePercentage }}}} on {_WHERE}",
        "More than 5% of orders are rejected or failing. Check the order store (DB pool), venues and"
        " recent deploys.",
        "order-errors",
        in_demo=True,
    ),
)


def rules_yaml(rules: tuple[AlertRule, ...], group: str, for_: str | None = None) -> str:
    """A Prometheus rule file with one group; `for_` overrides every rule's hold time."""
    document = {"groups": [{"name": group, "rules": [rule.to_rule(for_) for rule in rules]}]}
    return yaml.safe_dump(document, sort_keys=False, width=1000)


def trading_rules_yaml() -> str:
    """The example rule file shipped as alertmanager/rules/trading.rules.yml."""
    return _HEADER + rules_yaml(TRADING_RULES, TRADING_GROUP)


def demo_rules(for_: str = "5s") -> str:
    """The demo's rules: the trading rules its scenarios trigger, with demo-scale hold times."""
    demo = tuple(rule for rule in TRADING_RULES if rule.in_demo)
    return rules_yaml(demo, f"{TRADING_GROUP}-demo", for_)


def write_example_rules(path: Path = Path("alertmanager/rules/trading.rules.yml")) -> None:
    """Regenerate the example rule file (run from the repository root)."""
    path.write_text(trading_rules_yaml())
