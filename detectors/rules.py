"""`DetectionRule`: which method runs, with which thresholds, on which metric."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal

import numpy as np

from detectors.errors import InvalidRuleError
from detectors.types import AnomalyType, Severity

METHODS = (
    "zscore",
    "robust_zscore",
    "iqr",
    "isolation_forest",
    "changepoint",
    "multivariate",
    "ensemble",
    "novelty",
    "level_step",
    "level_step_tail",
)
DEFAULT_METHOD = "level_step_tail"

DEFAULT_SEVERITY_THRESHOLDS: Mapping[str, float] = MappingProxyType(
    {"LOW": 3.0, "MEDIUM": 4.0, "HIGH": 6.0, "CRITICAL": 10.0}
)


def _default_severity_thresholds() -> Mapping[str, float]:
    return DEFAULT_SEVERITY_THRESHOLDS


@dataclass(frozen=True)
class DetectionRule:
    """How to detect: `method`, z-like `threshold`, trailing `window_size` (points) and method knobs.

    `severity_thresholds` maps severity names to the |z| at which that severity starts.
    `adaptive` scales the threshold with the recent volatility regime; `seasonal` subtracts an
    hour-of-day / day-of-week baseline when at least two seasons of history are present.
    """

    name: str
    method: str = DEFAULT_METHOD
    anomaly_type: AnomalyType = AnomalyType.SPIKE
    metric: str | None = None
    query: str | None = None
    threshold: float = 3.0
    window_size: int = 60
    severity_thresholds: Mapping[str, float] = field(default_factory=_default_severity_thresholds, hash=False)
    min_samples: int = 10
    direction: Literal["up", "down", "both"] = "both"
    contamination: float = 0.01  # expected share of anomalous points (sklearn's 0.1: 1 point in 10 fires)
    penalty: float = 10.0
    adaptive: bool = True
    seasonal: bool = True

    def __post_init__(self) -> None:
        if not self.name:
            raise InvalidRuleError("DetectionRule.name must be a non-empty string", field="name")
        if self.method not in METHODS:
            raise InvalidRuleError(
                f"DetectionRule.method={self.method!r}: use one of {', '.join(METHODS)}", field="method"
            )
        if not (math.isfinite(self.threshold) and self.threshold > 0):
            raise InvalidRuleError(
                f"DetectionRule.threshold={self.threshold!r}: must be a finite number > 0", field="threshold"
            )
        if self.window_size < 3:
            raise InvalidRuleError(
                f"DetectionRule.window_size={self.window_size!r}: must be >= 3 points", field="window_size"
            )
        if self.min_samples < 3:
            raise InvalidRuleError(
                f"DetectionRule.min_samples={self.min_samples!r}: must be >= 3 points", field="min_samples"
            )
        if self.direction not in ("up", "down", "both"):
            raise InvalidRuleError(
                f"DetectionRule.direction={self.direction!r}: use 'up', 'down' or 'both'", field="direction"
            )
        if not 0.0 < self.contamination <= 0.5:
            raise InvalidRuleError(
                f"DetectionRule.contamination={self.contamination!r}: must be in (0, 0.5]",
                field="contamination",
            )
        if not (math.isfinite(self.penalty) and self.penalty > 0):
            raise InvalidRuleError(
                f"DetectionRule.penalty={self.penalty!r}: must be a finite number > 0", field="penalty"
            )
        try:
            AnomalyType(self.anomaly_type)
        except ValueError:
            raise InvalidRuleError(
                f"DetectionRule.anomaly_type={self.anomaly_type!r}: use an AnomalyType value",
                field="anomaly_type",
            ) from None
        self._check_severity_thresholds()

    def _check_severity_thresholds(self) -> None:
        unknown = set(self.severity_thresholds) - {s.value for s in Severity}
        if unknown:
            raise InvalidRuleError(
                f"DetectionRule.severity_thresholds: unknown keys {sorted(unknown)}; use LOW..CRITICAL",
                field="severity_thresholds",
            )
        levels = [self.severity_thresholds[s.value] for s in Severity if s.value in self.severity_thresholds]
        if not levels or any(not math.isfinite(v) or v < 0 for v in levels) or levels != sorted(levels):
            raise InvalidRuleError(
                "DetectionRule.severity_thresholds must be non-negative and increase from LOW to CRITICAL",
                field="severity_thresholds",
            )

    def severity_for(self, z: float) -> Severity:
        """Highest severity whose threshold |z| reaches (LOW below every threshold)."""
        size = abs(z)
        chosen = Severity.LOW
        for level, limit in self._severity_levels:
            if size >= limit:
                chosen = level
        return chosen

    def severity_codes(self, z: np.ndarray) -> np.ndarray:
        """`severity_for` over an array of z values, as int8 indices into `tuple(Severity)`."""
        levels = self._severity_levels
        limits = np.array([limit for _, limit in levels])
        idx = np.searchsorted(limits, np.abs(np.nan_to_num(z)), side="right") - 1
        order = tuple(Severity)
        codes = np.array([order.index(level) for level, _ in levels], dtype=np.int8)
        return np.where(idx >= 0, codes[np.maximum(idx, 0)], order.index(Severity.LOW)).astype(np.int8)

    @property
    def _severity_levels(self) -> tuple[tuple[Severity, float], ...]:
        return tuple(
            (s, self.severity_thresholds[s.value]) for s in Severity if s.value in self.severity_thresholds
        )


def fit_window(rule: DetectionRule, points: int) -> DetectionRule:
    """`rule` with its `window_size` cut to `points` (at least 3): a window longer than the series holds
    no more of it, only buffers that grow with its size (a window of 10^9 points would exhaust memory)."""
    size = max(3, points)
    return rule if rule.window_size <= size else replace(rule, window_size=size)


DEFAULT_RULE = DetectionRule("default")
"""The one default configuration: what the service schedules and NAB scores as `alert_analyst`."""
