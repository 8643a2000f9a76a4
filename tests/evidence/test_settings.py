"""prometheus.*, context.* and detection.* settings reject what they cannot use, with the reason."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from detectors import DetectionRule
from receiver.evidence.settings import ContextSettings, PrometheusSettings
from receiver.scheduled.settings import DetectionSettings, RuleSettings, to_detection_rule


def test_defaults_run():
    assert PrometheusSettings().url == "http://127.0.0.1:9090"
    assert ContextSettings().lookback_seconds == 7200 and ContextSettings().max_related_series == 200
    assert DetectionSettings().interval_seconds == 300 and DetectionSettings().cooldown_seconds == 3600


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"url": "prometheus:9090"}, "must start with http"),
        ({"basic_auth": {"username": "u"}}, "exactly one of password or password_file"),
        ({"bearer_token": "a", "bearer_token_file": "/t"}, "only one of basic_auth, bearer_token"),
        ({"timeout": 3}, "Extra inputs are not permitted"),
    ],
)
def test_invalid_prometheus_settings_say_why(data, message):
    with pytest.raises(ValidationError, match=message):
        PrometheusSettings.model_validate(data)


def test_the_query_length_limit_is_at_least_a_kilobyte():
    assert ContextSettings().max_query_length == 16_384  # VictoriaMetrics' -search.maxQueryLen
    with pytest.raises(ValidationError, match="max_query_length"):
        ContextSettings(max_query_length=100)


def test_a_trailing_slash_in_the_url_is_dropped():
    assert PrometheusSettings(url="http://mimir/prometheus/").url == "http://mimir/prometheus"


def test_detection_rules_are_checked_by_the_detectors():
    with pytest.raises(ValidationError, match="window_size"):
        RuleSettings(name="r", query="up", window_size=1)
    with pytest.raises(ValidationError, match="duplicate rule name 'r'"):
        DetectionSettings.model_validate(
            {"rules": [{"name": "r", "query": "a"}, {"name": "r", "query": "b"}]}
        )


def test_a_rule_that_leaves_fields_out_gets_the_detectors_defaults():
    configured = to_detection_rule(RuleSettings(name="r", query="up"))
    assert configured == DetectionRule("r", query="up")  # every field, severity thresholds included
