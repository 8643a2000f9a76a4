"""Pure numeric part of alert context: align series on a grid, characterize changes, correlate, lead/lag."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detectors import InsufficientData, SeriesChange, characterize_changes, fresh_change
from detectors.rolling import row_nanmedian

MIN_LAG_CORRELATION = 0.3

# Points a series needs before a split for its change to be judged (`characterize`).
MIN_SAMPLES = 10


@dataclass(frozen=True)
class SeriesFinding:
    """What the numbers say about one series (relative to the alert's series when there is one)."""

    points: int
    change: SeriesChange | None
    insufficient: str | None
    correlation: float | None
    lag_seconds: float | None


def coarsened(rows: np.ndarray, step: float, max_points: int) -> tuple[float, list[tuple[float | None, ...]]]:
    """(new step, each row's values) with at most `max_points` points a row: medians of consecutive blocks
    of the grid, all rows at once.

    The median keeps a block's typical sample (a 1-minute series queried every 15 s stays itself) and
    ignores a lone outlier less than a mean would; None where a block has no sample.
    """
    n_rows, n = rows.shape
    factor = max(1, -(-n // max(max_points, 1)))
    if factor == 1 or n_rows == 0:
        return step * factor, [tuple(float(v) if np.isfinite(v) else None for v in row) for row in rows]
    padded = np.full((n_rows, -(-n // factor) * factor), np.nan)
    padded[:, :n] = rows
    blocks = padded.reshape(-1, factor)
    filled = np.isfinite(blocks).any(axis=1)
    medians = np.full(blocks.shape[0], np.nan)
    medians[filled] = row_nanmedian(blocks[filled])  # np.nanmedian of short rows goes through masked arrays
    values = np.where(filled, medians, np.nan).reshape(n_rows, -1).tolist()
    return step * factor, [tuple(None if v != v else v for v in row) for row in values]


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    mask = np.isfinite(a) & np.isfinite(b)
    if mask.sum() < 3:
        return None
    x, y = a[mask], b[mask]
    sx, sy = x.std(), y.std()
    if sx == 0 or sy == 0:
        return None
    return float(np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy))


def xcorr_lead(alert: np.ndarray, other: np.ndarray, max_lag: int) -> tuple[int, float] | None:
    """Lag k (steps) maximizing |corr(Δalert[t], Δother[t-k])|; k > 0 means `other` moves first."""
    return xcorr_leads(alert, other[None, :], max_lag)[0]


def xcorr_leads(alert: np.ndarray, others: np.ndarray, max_lag: int) -> list[tuple[int, float] | None]:
    """`xcorr_lead` for every row of `others` at once (differenced, standardized series; one matmul).

    None where no lag within ±max_lag reaches |r| >= 0.3 or a series is (nearly) constant. Each lag's sum
    of products is divided by the pairs at lag 0, not by its own overlap (the usual biased estimator): a
    lag that leaves a few points of overlap cannot win on one coincident jump.
    """
    da, do = np.diff(alert), np.diff(others, axis=1)
    a = _standardized(da)
    if a is None or do.shape[1] < 4:
        return [None] * others.shape[0]
    n = da.size
    max_lag = max(0, min(max_lag, n - 3))
    b, valid = _standardized_rows(do)
    # lagged[j, s] = a[s + j - max_lag]: one matrix product gives every lag of every row
    lagged = np.lib.stride_tricks.sliding_window_view(np.pad(a, max_lag), n)
    mask = np.lib.stride_tricks.sliding_window_view(np.pad(np.isfinite(da).astype(np.float64), max_lag), n)
    sums = b.astype(np.float32) @ lagged.T.astype(np.float32)
    lags = np.arange(-max_lag, max_lag + 1)
    counts: np.ndarray
    if np.isfinite(da).all() and np.isfinite(do).all():
        counts = np.broadcast_to((n - np.abs(lags)).astype(np.float64), sums.shape)
    else:
        counts = np.isfinite(do).astype(np.float32) @ mask.T.astype(np.float32)
    r = sums / np.maximum(np.maximum(counts, counts[:, [max_lag]]), 1.0)
    best = np.argmax(np.abs(r), axis=1)
    out: list[tuple[int, float] | None] = []
    for row, col in enumerate(best):
        value = float(r[row, col])
        ok = valid[row] and abs(value) >= MIN_LAG_CORRELATION
        out.append((int(lags[col]), value) if ok else None)
    return out


def _standardized_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise z-scores with NaN set to 0, and which rows had enough non-constant points."""
    finite = np.isfinite(x)
    count = finite.sum(axis=1)
    filled = np.where(finite, x, 0.0)
    mean = filled.sum(axis=1) / np.maximum(count, 1)
    centred = np.where(finite, x - mean[:, None], 0.0)
    std = np.sqrt((centred**2).sum(axis=1) / np.maximum(count, 1))
    valid = (count >= 3) & (std > 0)
    return np.where(valid[:, None], centred / np.where(std > 0, std, 1.0)[:, None], 0.0), valid


def _standardized(x: np.ndarray) -> np.ndarray | None:
    """z-scored copy with NaN set to 0 (neutral in products), or None if (nearly) constant."""
    finite = np.isfinite(x)
    if finite.sum() < 3:
        return None
    mean, std = x[finite].mean(), x[finite].std()
    if not std > 0:
        return None
    return np.where(finite, (x - mean) / std, 0.0)


def characterize(
    timestamps: np.ndarray,
    values: np.ndarray,
    alert_row: int | None,
    step: float,
    *,
    max_lag_seconds: float,
    min_samples: int = MIN_SAMPLES,
) -> list[SeriesFinding]:
    """Change, correlation and lead/lag of every row.

    `lag_seconds` > 0: the row changed before the alert's series. When both rows have a
    detected onset, the lag is the onset difference; otherwise it is the cross-correlation
    peak of the differenced series (only if |r| >= 0.3), else None.
    """
    if values.shape[0] == 0:
        return []
    changes = characterize_changes(timestamps, values, split_at=None, min_samples=min_samples)
    if alert_row is not None:  # the alert says its series matters now: a change at the newest points counts
        changes[alert_row] = _with_fresh_change(changes[alert_row], timestamps, values[alert_row])
    alert_change = changes[alert_row] if alert_row is not None else None
    alert_onset = (
        alert_change.onset if isinstance(alert_change, SeriesChange) and alert_change.anomalous else None
    )
    max_lag = max(1, int(max_lag_seconds // step))
    peaks = xcorr_leads(values[alert_row], values, max_lag) if alert_row is not None else []
    findings = []
    for row, change in enumerate(changes):
        points = int(np.isfinite(values[row]).sum())
        correlation = lag = None
        if alert_row is not None:
            if row == alert_row:
                correlation, lag = 1.0, 0.0
            else:
                correlation = pearson(values[alert_row], values[row])
                lag = _lag(change, alert_onset, peaks[row], step)
        if isinstance(change, InsufficientData):
            findings.append(SeriesFinding(points, None, change.reason, correlation, lag))
        else:
            findings.append(SeriesFinding(points, change, None, correlation, lag))
    return findings


def _with_fresh_change(
    change: SeriesChange | InsufficientData, timestamps: np.ndarray, row: np.ndarray
) -> SeriesChange | InsufficientData:
    """`change`, or a change too recent for it at the end of the window (`detectors.fresh_change`)."""
    if isinstance(change, SeriesChange) and change.anomalous:
        return change
    fresh = fresh_change(timestamps, row)
    return fresh if fresh is not None else change


def _lag(
    change: SeriesChange | InsufficientData,
    alert_onset: float | None,
    peak: tuple[int, float] | None,
    step: float,
) -> float | None:
    if alert_onset is not None and isinstance(change, SeriesChange) and change.anomalous and change.onset:
        return float(alert_onset - change.onset)
    return None if peak is None else float(peak[0] * step)
