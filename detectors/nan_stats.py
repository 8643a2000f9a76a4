"""NaN-ignoring reductions that stay quiet on all-NaN slices (NaN there, as numpy's give) without
`warnings.catch_warnings`, which is not thread-safe: detection and the analyst run on worker threads, and
one thread restoring the warning filters let another thread's "All-NaN slice encountered" through to
the log (an alert storm printed it once per incident)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def nanmax(values: np.ndarray, axis: int) -> np.ndarray:
    """`np.nanmax` along `axis`: NaN where a slice holds only NaN."""
    return np.asarray(np.fmax.reduce(values, axis=axis))


def _per_slice(
    values: np.ndarray, axis: int, keepdims: bool, reduce: Callable[..., np.ndarray]
) -> np.ndarray:
    """`reduce` (np.nanmedian, np.nanstd) of each slice along `axis` that holds a number; NaN for the rest."""
    moved = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    some = ~np.isnan(rows).all(axis=1) if rows.shape[1] else np.zeros(rows.shape[0], dtype=bool)
    out = np.full(rows.shape[0], np.nan)
    if some.any():
        out[some] = reduce(rows[some], axis=1)
    shaped = out.reshape(moved.shape[:-1])
    return np.expand_dims(shaped, axis) if keepdims else shaped


def nanmedian(values: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """`np.nanmedian` along `axis`: NaN where a slice holds only NaN."""
    return _per_slice(values, axis, keepdims, np.nanmedian)


def nanstd(values: np.ndarray, axis: int, keepdims: bool = False) -> np.ndarray:
    """`np.nanstd` along `axis` (ddof 0): NaN where a slice holds only NaN."""
    return _per_slice(values, axis, keepdims, np.nanstd)
