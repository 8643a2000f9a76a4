"""Input checks that turn bad data into `InsufficientData` instead of exceptions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from detectors.errors import DetectorError
from detectors.types import InsufficientData


class InvalidInputError(DetectorError):
    """Arrays whose shapes do not fit together (a caller bug, not bad data)."""


def as_float_array(x: object) -> np.ndarray:
    """Float copy of array-like input; non-numeric input becomes an empty array."""
    try:
        return np.array(x, dtype=float)
    except (TypeError, ValueError):
        return np.array([], dtype=float)


def check_batch_shapes(timestamps: np.ndarray, values: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Return values as (k, n); raise `InvalidInputError` if shapes disagree."""
    if values.size == 0 and values.ndim < 2:
        values = values.reshape(len(names), timestamps.size if len(names) else 0)
    if values.ndim == 1:
        values = values[None, :]
    if values.ndim != 2 or timestamps.ndim != 1:
        raise InvalidInputError(
            f"expected timestamps (n,) and values (k, n); got {timestamps.shape}, {values.shape}"
        )
    if values.shape != (len(names), timestamps.size):
        raise InvalidInputError(
            f"values shape {values.shape} must be (len(series_names), len(timestamps)) = "
            f"({len(names)}, {timestamps.size})"
        )
    return values


HUGE = 2.0**500  # rows beyond it are scaled down: their squares and running sums would overflow


def overflow_scales(values: np.ndarray) -> np.ndarray:
    """Per row of a (k, n) block, the power of two to divide it by so that squares and sums of its finite
    values stay finite: 1 for every row within `HUGE` (left exactly as it is), and exact otherwise, so
    a series of 1e300s scores as the same series in units a power of two smaller."""
    finite = np.isfinite(values)
    peak = np.max(np.abs(np.where(finite, values, 0.0)), axis=1, initial=0.0)
    return np.where(peak > HUGE, np.ldexp(1.0, np.frexp(peak)[1] - 10), 1.0)  # |x| / scale < 1024


def timestamp_problem(timestamps: np.ndarray) -> InsufficientData | None:
    """Why a timestamp axis cannot be used (non-finite, unsorted, duplicated), or None."""
    if timestamps.size == 0:
        return InsufficientData("no points", 0)
    if not np.isfinite(timestamps).all():
        return InsufficientData("timestamps contain NaN or inf", int(timestamps.size))
    steps = np.diff(timestamps)
    if (steps == 0).any():
        return InsufficientData("duplicate timestamps: de-duplicate before detecting", int(timestamps.size))
    if (steps < 0).any():
        return InsufficientData("timestamps are not sorted: sort before detecting", int(timestamps.size))
    return None


def row_problems(
    values: np.ndarray, min_samples: int, repeats: np.ndarray | None = None
) -> list[InsufficientData | None]:
    """Per row of a (k, n) block with inf already replaced by NaN: why it cannot be judged, or None.
    `repeats`: the grid points one sample of each row fills (`detectors.grid_repeats`); `min_samples`
    then counts samples."""
    finite = np.isfinite(values)
    counts = finite.sum(axis=1)
    per_sample = np.ones(counts.size) if repeats is None else repeats
    with np.errstate(invalid="ignore", over="ignore"):  # 1e308 - -1e308 is inf: a spread all the same
        spread = np.nanmax(np.where(finite, values, -np.inf), axis=1) - np.nanmin(
            np.where(finite, values, np.inf), axis=1
        )
    out: list[InsufficientData | None] = []
    for c, s, d in zip(counts.tolist(), spread.tolist(), per_sample.tolist(), strict=True):
        if c == 0:
            out.append(InsufficientData("no finite values (empty, all NaN or inf)", 0))
        elif c < min_samples:
            out.append(InsufficientData(f"{c} finite points, fewer than min_samples={min_samples}", c))
        elif c / d < min_samples:
            out.append(
                InsufficientData(
                    f"{c / d:.0f} samples ({c} grid points of {d:.0f} each), fewer than {min_samples}", c
                )
            )
        elif s == 0:
            out.append(InsufficientData("constant series: nothing to compare against", c))
        else:
            out.append(None)
    return out
