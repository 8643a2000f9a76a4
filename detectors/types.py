"""Typed records that cross the detectors package boundary."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Literal, Protocol

import numpy as np

Direction = Literal["up", "down"]


class AnomalyType(StrEnum):
    """What kind of anomaly a detection is; domain types first, generic shapes last."""

    PERFORMANCE_DROP = "PERFORMANCE_DROP"
    SUDDEN_LOSS = "SUDDEN_LOSS"
    VOLUME_SPIKE = "VOLUME_SPIKE"
    EXECUTION_DELAY = "EXECUTION_DELAY"
    ERROR_RATE_SPIKE = "ERROR_RATE_SPIKE"
    LATENCY_SPIKE = "LATENCY_SPIKE"
    RESOURCE_SATURATION = "RESOURCE_SATURATION"
    MARKET_VOLATILITY = "MARKET_VOLATILITY"
    DATA_GAP = "DATA_GAP"
    SPIKE = "SPIKE"
    DIP = "DIP"
    LEVEL_SHIFT = "LEVEL_SHIFT"
    TREND = "TREND"


class Severity(StrEnum):
    """Severity levels, in increasing order."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """1 for LOW .. 4 for CRITICAL."""
        return list(Severity).index(self) + 1


@dataclass(frozen=True)
class AnomalyDetection:
    """One anomaly found in one series (or several, for multivariate detections)."""

    id: str
    timestamp: float
    anomaly_type: AnomalyType
    severity: Severity
    confidence: float
    z_score: float
    p_value: float
    threshold_exceeded: bool
    affected_metrics: tuple[str, ...]
    data_sources: tuple[str, ...]
    raw_data: Mapping[str, float]
    onset: float | None
    direction: Direction | None
    magnitude: float | None
    method: str
    rule: str
    series: str


@dataclass(frozen=True)
class InsufficientData:
    """Typed outcome for input the detectors cannot judge (empty, all-NaN, constant, too short...)."""

    reason: str
    points: int


class DetectionColumns(Protocol):
    """Detections held as columns (`detectors.records.DetectionTable`); records are built on request."""

    def __len__(self) -> int: ...

    def records(self, which: np.ndarray | None = None) -> list[AnomalyDetection]: ...

    def material(self, min_delta: float = 0.0, min_change: float = 0.0) -> np.ndarray: ...

    def gaps(self) -> np.ndarray: ...

    def gap_summary(self) -> tuple[int, float]: ...

    def latest_per_series(self, since: float, among: np.ndarray | None = None) -> np.ndarray: ...


@dataclass(frozen=True, eq=False)
class BatchResult:
    """Detections of one batch cycle; `scores[j]`: series j's latest score in [0, 1] (nan if insufficient).

    Detections stay columnar (`table`) until asked for: `detections` builds every record (once),
    `latest_per_series` only one per series, which is what the scheduled cycle acts on.
    """

    table: DetectionColumns
    scores: np.ndarray
    insufficient: Mapping[str, InsufficientData] = field(default_factory=dict)

    @cached_property
    def detections(self) -> list[AnomalyDetection]:
        """Every detection as a record, in report order (series by series, then gaps)."""
        return self.table.records()

    @property
    def detection_count(self) -> int:
        """How many detections, without building their records."""
        return len(self.table)

    def latest_per_series(
        self, since: float, min_delta: float = 0.0, min_change: float = 0.0
    ) -> list[AnomalyDetection]:
        """Each series' latest detection at or after `since` (the first one on ties), series in the order
        of their first such detection: the same as filtering `detections`, but builds only these records.
        With `min_delta` / `min_change`, only detections that moved that far (`beyond_floor`)."""
        moved = self.beyond_floor(min_delta, min_change)
        return self.table.records(self.table.latest_per_series(since, moved))

    def beyond_floor(self, min_delta: float = 0.0, min_change: float = 0.0) -> np.ndarray | None:
        """Per detection: whether it moved as far as `min_delta` / `min_change` (`DetectionTable.material`);
        None without a floor (every detection does)."""
        return self.table.material(min_delta, min_change) if min_delta > 0 or min_change > 0 else None


@dataclass(frozen=True)
class SeriesChange:
    """Did a series change, when did the change start, which way, how much, how significant."""

    anomalous: bool
    onset: float | None
    direction: Direction | None
    magnitude: float | None
    baseline: float | None
    current: float | None
    z_score: float | None
    p_value: float | None
    score: float
    anomaly_type: AnomalyType | None
    recovered: float | None = None  # when the last excursion beyond the band ended (None: not ended)
