"""The small PromQL reader the dashboard checks rely on."""

from __future__ import annotations

import pytest

from tests.monitoring.promql_names import metric_names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "sum by (code) (rate(alert_analyst_webhook_requests_total[$__rate_interval]))",
            {"alert_analyst_webhook_requests_total"},
        ),
        (
            'histogram_quantile(0.99, sum by (le, desk) (rate(demo_x_bucket{desk=~"$desk"}[5m])))',
            {"demo_x_bucket"},
        ),
        ("a / on (instance) group_left (version) b > 0.25 and bool c offset 5m", {"a", "b", "c"}),
        ('up{job="alert-analyst"} == 0 or absent(up{job="alert-analyst"})', {"up"}),
        ('label_replace(m, "dst", "$1", "src", "(.*)")', {"m"}),
        ("count by (version, revision) (alert_analyst_build_info) * 1e3", {"alert_analyst_build_info"}),
        ("topk(10, max by (rule, series) (alert_analyst_anomaly_score))", {"alert_analyst_anomaly_score"}),
    ],
)
def test_metric_names_are_the_selected_series(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
