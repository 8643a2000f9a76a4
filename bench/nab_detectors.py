"""Detectors `bench.nab run` can use: library `StreamingDetector`s with one fixed rule each.

`alert_analyst` is what the service raises: the default rule's scores (`detectors.DEFAULT_RULE`) through
the alert layer the scheduler applies (`AlertLayer`). `level_step_alerts` is the previous default
(level_step) through the same layer, `novelty_alerts` the NAB-tuned novelty scorer without its quiet
period through it; the others are raw per-point scores.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from detectors import DEFAULT_RULE, DetectionRule, StreamingDetector
from detectors.novelty import TailNoveltyScorer

COOLDOWN_SECONDS = 3600.0  # the scheduler's default detection.cooldown_seconds


@dataclass
class AlertLayer:
    """The scheduler's dedupe over one series' scores: an alert opens at the first flagged point
    (score >= 0.5) of a new run, unless an alert opened less than `cooldown` seconds before.

    Flagged points within `hole` points of the previous one continue its run (its onset is unchanged, so
    the scheduler treats it as the same incident), as `detectors.records.flagged_runs` merges them.
    Alerts carry the detector's score; every other point scores 0.
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
            return 0.0
        new_run = self._since_flag > self.hole
        self._since_flag = 0
        if not new_run or timestamp - self._last_alert < self.cooldown:
            return 0.0
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
