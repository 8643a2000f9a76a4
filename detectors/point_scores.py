"""`PointScores`: what every univariate method returns for a (k, n) block of series."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PointScores:
    """Per point: signed z-like statistic, calibrated score in [0, 1], expected value, effective threshold.

    A point is flagged when `score >= 0.5`, i.e. when |z| reaches the (possibly adaptive) threshold.
    `p_value` is optional (NaN where the method has no test of its own).
    """

    z: np.ndarray
    score: np.ndarray
    baseline: np.ndarray
    threshold: np.ndarray
    p_value: np.ndarray | None = None
