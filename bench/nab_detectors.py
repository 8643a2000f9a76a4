"""Detectors `bench.nab run` can use: library `StreamingDetector`s with one fixed rule each.

`alert_analyst` is what the service raises: the default rule's scores (`detectors.DEFAULT_RULE`) through
the alert layer the scheduler applies (`AlertLayer`): the points where the scheduler would open an alert
first, then every other point in the detector's own order. `level_step_alerts` is the previous default
(level_step) through the same layer, `novelty_alerts` the NAB-tuned novelty scorer without its quiet
period through it; the others are raw per-point scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from detectors import DEFAULT_RULE, DetectionRule, StreamingDetector
from detectors.novelty import TailNoveltyScorer

COOLDOWN_SECONDS = 3600.0  # the scheduler's default detection.cooldown_seconds
# Points that open no alert score this share of the detector's score: below 0.5, so under every alert.
# Any share below 0.5 gives the same order of points, and so the same figures (NAB's threshold sweep and
# best F1 depend only on which points reach a threshold).
UNDER_ALERTS = 0.49


@dataclass
class AlertLayer:
    """The scheduler's dedupe over one series' scores: an alert opens at the first flagged point
    (score >= 0.5) of a new run, unless an alert opened less than `cooldown` seconds before.

    Flagged points within `hole` points of the previous one continue its run (its onset is unchanged, so
    the scheduler treats it as the same incident), as `detectors.records.flagged_runs` merges them.
    Alerts carry the detector's score; every other point scores UNDER_ALERTS x its score, so at any
    threshold of 0.5 or more only the alerts count (NAB's reward for one detection per window), and below
    that the rest rank in the detector's order (a point-wise benchmark still sees every point's score;
    nothing is zeroed).
    """

    detector: StreamingDetector | NoveltyWithoutQuiet
    hole: int
    cooldown: float = COOLDOWN_SECONDS
    _since_flag: int = field(default=1 << 30, init=False)
    _last_alert: float = field(default=float("-inf"), init=False)

    def update(self, timestamp: float, value: float) -> float:
        score = self.detector.update(timestamp, value)
        if score < 0.5:
            self._since_flag += 1
            return UNDER_ALERTS * max(score, 0.0)
        new_run = self._since_flag > self.hole
        self._since_flag = 0
        if not new_run or timestamp - self._last_alert < self.cooldown:
            return UNDER_ALERTS * min(score, 1.0)
        self._last_alert = timestamp
        return score


class NoveltyWithoutQuiet:
    """The novelty scorer with its quiet period after an alarm switched off."""

    def __init__(self, rule: DetectionRule) -> None:
        self._scorer = TailNoveltyScorer(rule, quiet=False)

    def update(self, timestamp: float, value: float) -> float:
        return self._scorer.update(value, timestamp) if math.isfinite(value) else 0.0


NOVELTY = DetectionRule("nab-novelty", method="novelty", threshold=2.9, window_size=60)
DETECTORS = {
    "alert_analyst": DEFAULT_RULE,
    "level_step_alerts": DetectionRule("nab-level-step", method="level_step"),
    "level_step_raw": DetectionRule("nab-level-step", method="level_step"),
    "novelty": NOVELTY,
    "novelty_alerts": NOVELTY,
    "ensemble": DetectionRule("nab-ensemble", method="ensemble"),
    "zscore": DetectionRule("nab-zscore", method="zscore"),
}


def make_detector(name: str) -> StreamingDetector | AlertLayer:
    hole = max(3, DETECTORS[name].window_size // 10)
    if name in ("alert_analyst", "level_step_alerts"):
        return AlertLayer(StreamingDetector(DETECTORS[name]), hole=hole)
    if name == "novelty_alerts":
        return AlertLayer(NoveltyWithoutQuiet(NOVELTY), hole=hole)
    return StreamingDetector(DETECTORS[name])
