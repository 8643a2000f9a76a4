"""Detectors `bench.nab run` can use: each is a library `StreamingDetector` with one fixed rule."""

from __future__ import annotations

from detectors import DetectionRule, StreamingDetector

DETECTORS = {
    "alert_analyst": DetectionRule("nab", method="novelty", threshold=2.9, window_size=60),
    "ensemble": DetectionRule("nab-ensemble", method="ensemble"),
    "zscore": DetectionRule("nab-zscore", method="zscore"),
}


def make_detector(name: str) -> StreamingDetector:
    return StreamingDetector(DETECTORS[name])
