"""The live demo: a synthetic trading exporter with scripted incidents, its alert rules, and the runner.

`scenario` is pure (metric values over time), `exporter` serves them, `rules` is the single source of the
trading alert rules, `configs` writes the stack's configuration files, `processes` starts and stops
Prometheus and Alertmanager binaries and `alert-analyst serve` (the tests and benchmarks use it too),
`workdir` readies the working directory, `stack` starts the demo's processes, `report` prints what
happens, and `runner` is `alert-analyst demo`. `tsdb` starts a Prometheus pre-loaded with synthetic
series, for the tests and benchmarks only.
"""

from demo.configs import alertmanager_config, prometheus_config, receiver_config
from demo.exporter import DemoExporter, ScenarioCollector
from demo.rules import TRADING_RULES, AlertRule, demo_rules, trading_rules_yaml
from demo.runner import run_demo
from demo.scenario import DEFAULT_SCHEDULE, METRICS, Phase, Schedule, phase_at, sample

__all__ = [
    "DEFAULT_SCHEDULE",
    "METRICS",
    "TRADING_RULES",
    "AlertRule",
    "DemoExporter",
    "Phase",
    "ScenarioCollector",
    "Schedule",
    "alertmanager_config",
    "demo_rules",
    "phase_at",
    "prometheus_config",
    "receiver_config",
    "run_demo",
    "sample",
    "trading_rules_yaml",
]
