"""Statistical anomaly detection over time series: pure numpy/scipy/scikit-learn/ruptures, no I/O."""

from detectors.adaptive import adaptive_threshold
from detectors.anomaly_types import infer_anomaly_type
from detectors.batch import detect_batch, detect_rules, detect_series
from detectors.change import characterize_change, characterize_changes, fresh_change
from detectors.errors import DetectorError, InvalidRuleError
from detectors.ranking import rank_detections
from detectors.rules import DEFAULT_METHOD, DEFAULT_RULE, DetectionRule
from detectors.seasonal import seasonal_baseline
from detectors.streaming import StreamingDetector
from detectors.types import (
    AnomalyDetection,
    AnomalyType,
    BatchResult,
    InsufficientData,
    SeriesChange,
    Severity,
)
from detectors.validation import InvalidInputError

__all__ = [
    "DEFAULT_METHOD",
    "DEFAULT_RULE",
    "AnomalyDetection",
    "AnomalyType",
    "BatchResult",
    "DetectionRule",
    "DetectorError",
    "InsufficientData",
    "InvalidInputError",
    "InvalidRuleError",
    "SeriesChange",
    "Severity",
    "StreamingDetector",
    "adaptive_threshold",
    "characterize_change",
    "characterize_changes",
    "detect_batch",
    "detect_rules",
    "detect_series",
    "fresh_change",
    "infer_anomaly_type",
    "rank_detections",
    "seasonal_baseline",
]
