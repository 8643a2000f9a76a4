"""Scheduled secondary detection: `DetectionScheduler`, the `/api/v1/rules` routes and the backtest CLI.

Exports are resolved lazily: the storage migrations import `receiver.detection.schema` and must not
pull in the detectors (scipy, scikit-learn).
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'receiver.detection' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
