from dataclasses import replace

import numpy as np
import pytest

from detectors import (
    AnomalyDetection,
    AnomalyType,
    DetectionRule,
    Severity,
    adaptive_threshold,
    detect_batch,
    infer_anomaly_type,
    rank_detections,
    seasonal_baseline,
)


def _det(series, t, severity, confidence, method="zscore", onset=None):
    return AnomalyDetection(
        id=f"{series}{t}{method}", timestamp=t, anomaly_type=AnomalyType.SPIKE, severity=severity,
        confidence=confidence, z_score=4.0, p_value=1e-4, threshold_exceeded=True, affected_metrics=(series,),
        data_sources=(series,), raw_data={}, onset=onset, direction="up", magnitude=0.1, method=method,
        rule="r", series=series,
    )  # fmt: skip


def test_overlapping_detections_of_one_series_merge_across_methods():
    merged = rank_detections([_det("a", 100.0, Severity.LOW, 0.6, "zscore", 90.0),
                              _det("a", 105.0, Severity.HIGH, 0.8, "iqr", 95.0)])  # fmt: skip
    assert len(merged) == 1
    assert (
        merged[0].severity == Severity.HIGH and merged[0].onset == 90.0 and merged[0].method == "iqr+zscore"
    )


def test_ranking_orders_by_severity_times_confidence():
    ranked = rank_detections([_det("a", 1.0, Severity.LOW, 0.9), _det("b", 1.0, Severity.CRITICAL, 0.6),
                              _det("c", 1.0, Severity.MEDIUM, 0.8)])  # fmt: skip
    assert [d.series for d in ranked] == ["b", "c", "a"]


@pytest.mark.parametrize(
    ("name", "direction", "shape", "expected"),
    [
        ("desk_pnl_usd", "down", "level_shift", AnomalyType.SUDDEN_LOSS),
        ("http_request_latency_seconds", "up", "spike", AnomalyType.LATENCY_SPIKE),
        ("http_errors_total", "up", "spike", AnomalyType.ERROR_RATE_SPIKE),
        ("http_requests_total", "up", "spike", AnomalyType.VOLUME_SPIKE),
        ("btc_funding_rate", "up", "spike", AnomalyType.MARKET_VOLATILITY),
        ("db_pool_connections_in_use", "up", "level_shift", AnomalyType.RESOURCE_SATURATION),
        ("order_execution_delay_ms", "up", "spike", AnomalyType.EXECUTION_DELAY),
        ("anything", None, "gap", AnomalyType.DATA_GAP),
        ("temperature", "down", "spike", AnomalyType.DIP),
        ("temperature", "up", "level_shift", AnomalyType.LEVEL_SHIFT),
        ("temperature", "up", "trend", AnomalyType.TREND),
        # the labels but an outcome's say nothing of the kind: a pod `p90`, a port 9500, a service `orders`
        ('aud_hicard{pod="p90"}', "up", "spike", AnomalyType.SPIKE),
        ('node_load1{instance="10.0.0.7:9500"}', "up", "spike", AnomalyType.SPIKE),
        ('queue_depth{service="orders"}', "up", "spike", AnomalyType.SPIKE),
        ('temperature_celsius{room="server-pool-2"}', "up", "spike", AnomalyType.SPIKE),
        ('http_requests_total{code="503",job="api"}', "up", "spike", AnomalyType.ERROR_RATE_SPIKE),
        (
            '{__name__="sum(rate(http_errors_total[5m]))",job="api"}',
            "up",
            "spike",
            AnomalyType.ERROR_RATE_SPIKE,
        ),
    ],
)
def test_anomaly_type_inference(name, direction, shape, expected):
    assert infer_anomaly_type(name, direction, shape) == expected


def test_adaptive_threshold_rises_in_a_volatile_regime():
    x = np.random.default_rng(0).normal(size=(1, 400))
    x[0, 300:] *= 6.0
    thr = adaptive_threshold(x, 3.0, 60)
    assert thr[0, 200] == pytest.approx(3.0, abs=0.3)
    assert thr[0, 304:316].min() > 4.0 and thr.max() <= 6.0


def test_seasonal_baseline_needs_two_days_and_recovers_the_daily_shape():
    ts = np.arange(0, 3 * 86_400, 600.0)
    daily = 10.0 * np.sin(2 * np.pi * ts / 86_400)
    assert seasonal_baseline(ts[:200], daily[None, :200]) is None
    base = seasonal_baseline(ts, daily[None, :])
    assert base is not None and np.abs(base[0] - daily).max() < 2.0


def test_seasonal_rule_does_not_flag_the_daily_peak_but_flags_a_night_spike():
    ts = np.arange(0, 4 * 86_400, 300.0)
    rng = np.random.default_rng(1)
    x = 100.0 + 40.0 * np.sin(2 * np.pi * ts / 86_400) ** 8 + rng.normal(0, 1.0, ts.size)
    spike = int(np.searchsorted(ts, 3.5 * 86_400 + 3 * 3600))
    x[spike] += 15.0
    rule = DetectionRule("r", method="robust_zscore", window_size=288, threshold=4.0)
    found = detect_batch(rule, ts, x[None, :], ["x"]).detections
    assert [d.timestamp for d in found] == [ts[spike]]
    plain = detect_batch(replace(rule, seasonal=False), ts, x[None, :], ["x"]).detections
    assert len(plain) >= 4
