"""Regular time grids: snap a range to a step, lay series on one grid (NaN where a series has no point)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from detectors.validation import InvalidInputError


class TimedValues(Protocol):
    """A series as two parallel arrays (seconds, values), e.g. a PromQL range-query result."""

    @property
    def timestamps(self) -> np.ndarray: ...

    @property
    def values(self) -> np.ndarray: ...


def grid(start: float, end: float, step: float) -> np.ndarray:
    """Timestamps every `step` seconds from `start` to the multiple nearest `end` (`start` if end is earlier).

    `InvalidInputError` for a step that is not a positive finite number of seconds, or a bound not finite.
    """
    if not (math.isfinite(step) and step > 0):
        raise InvalidInputError(f"grid step must be a positive finite number of seconds; got {step!r}")
    if not (math.isfinite(start) and math.isfinite(end)):
        raise InvalidInputError(f"grid start and end must be finite seconds; got {start!r} and {end!r}")
    n = round((end - start) / step) + 1
    return start + step * np.arange(max(n, 1), dtype=np.float64)


def align(series: Sequence[TimedValues], timestamps: np.ndarray, step: float) -> np.ndarray:
    """(k, n) matrix of values on `timestamps`; NaN where a series had no point."""
    out = np.full((len(series), timestamps.size), np.nan)
    if not series:
        return out
    start = timestamps[0] if timestamps.size else 0.0
    sizes = [data.timestamps.size for data in series]
    rows = np.repeat(np.arange(len(series)), sizes)  # every series' points at once: one scatter, not k
    pos = np.rint((np.concatenate([data.timestamps for data in series]) - start) / step)
    keep = (pos >= 0) & (pos < timestamps.size)  # False for a NaN timestamp; no cast of one to int
    out[rows[keep], pos[keep].astype(np.int64)] = np.concatenate([data.values for data in series])[keep]
    out[~np.isfinite(out)] = np.nan
    return out


def align_range(start: float, end: float, step: float, now: float | None = None) -> tuple[float, float]:
    """Snap start down and end up to step multiples (stable, cache-friendly), never past `now`."""
    now = time.time() if now is None else now
    aligned_start = math.floor(start / step) * step
    aligned_end = min(math.ceil(end / step) * step, math.floor(now / step) * step)
    return aligned_start, max(aligned_end, aligned_start)
