"""Scheduled secondary detection: `DetectionScheduler`, the `/api/v1/rules` routes and the backtest CLI.

Exports are resolved lazily: the storage migrations import `receiver.detection.schema` and must not
pull in the detectors (scipy, scikit-learn).
"""

from __future__ import annotations

from receiver.lazy_exports import lazy_getattr

_EXPORTS = {
    "DetectionScheduler": "receiver.detection.scheduler",
    "DetectorFinding": "receiver.detection.scheduler",
    "CycleReport": "receiver.detection.scheduler",
    "rule_routes": "receiver.detection.api",
    "run_backtest": "receiver.detection.backtest",
    "DetectionSettings": "receiver.detection.settings",
    "RuleSettings": "receiver.detection.settings",
}
__all__ = sorted(_EXPORTS)


__getattr__ = lazy_getattr(__name__, _EXPORTS)
