"""Map z-like statistics to calibrated scores in [0, 1] and to p-values."""

from __future__ import annotations

import numpy as np
from scipy import special  # not scipy.stats: same functions, ~45 MB less RSS in the receiver


def score_from_z(z: np.ndarray | float, threshold: float | np.ndarray) -> np.ndarray:
    """Score 1 - 2^-(z/threshold)^2: 0 at z = 0, exactly 0.5 at the threshold, -> 1 far beyond it."""
    with np.errstate(invalid="ignore", over="ignore"):
        scaled = np.asarray(z, dtype=float) / threshold
        if not isinstance(scaled, np.ndarray):
            return 1.0 - np.exp2(-np.square(scaled))
        np.square(scaled, out=scaled)  # in place: one temporary instead of four for (k, n) blocks
        np.negative(scaled, out=scaled)
        np.exp2(scaled, out=scaled)
        return np.subtract(1.0, scaled, out=scaled)


def p_value_from_z(z: np.ndarray | float) -> np.ndarray:
    """Two-sided normal tail probability of a z statistic."""
    return np.asarray(2.0 * special.ndtr(-np.abs(z)), dtype=float)  # = 2 norm.sf(|z|)


def z_from_p_value(p: np.ndarray | float) -> np.ndarray:
    """The |z| whose two-sided normal tail probability is `p`."""
    return np.asarray(-special.ndtri(np.clip(p, 1e-300, 1.0) / 2.0), dtype=float)  # = norm.isf(p / 2)


def directional(z: np.ndarray, direction: str) -> np.ndarray:
    """Zero out the side of a signed statistic that the rule's direction ignores."""
    if direction == "up":
        return np.where(z > 0, z, 0.0)
    if direction == "down":
        return np.where(z < 0, z, 0.0)
    return z
