"""How many query-grid points one sample of a series fills.

A range query returns, at every step, the newest sample at or before it: a series scraped every 60 s on a
15-s grid shows each sample four times, and a test that takes the grid's points for samples counts four
times the evidence there is (a noise series then "changes" with z in the hundreds, at the window's start).
Samples arrive on the series' own clock, so the points where the value changes all fall one sample
interval apart: on a grid of d points per sample, on one residue modulo d. A series sampled at every step
changes at any point, and one that merely holds a value for a while (a pool at 10, 10, 11, 10...) changes
at scattered residues. Each row's factor is the largest d for which all but a tenth of its changes share
one residue, if it changes often enough to tell (MIN_CHANGES); else 1. `rate()` of a slow counter changes
twice per sample interval (a sample enters, an older one leaves the window), which this reads as half the
interval: still far fewer samples than points.

The points a sample first shows at fall on one residue, its phase: taking every d-th point from there shows
each sample once, what a query at the series' own interval returns (`newest_phase`). A series whose interval
changed within the grid (60 s, then 15 s) has no single factor; `coarsest_sampling` also reads the factor
of each span of the grid and keeps the largest, so that the series is judged on one grid throughout.
"""

from __future__ import annotations

import math

import numpy as np

from detectors.rolling import forward_fill

MIN_CHANGES = 8  # fewer value changes cannot tell a sample interval from chance (2^-7 for d = 2)
MAX_REPEATS = 20  # Prometheus' 5-minute lookback on a 15-s grid: a sample fills at most 20 points
TOLERATED = 0.1  # share of changes off the residue (a scrape whose timestamp jitters across a step)


def sample_repeats(values: np.ndarray, min_changes: int = MIN_CHANGES) -> np.ndarray:
    """Per row of a (k, n) grid (NaN for gaps), the number of grid points one sample fills (>= 1); a row
    needs `min_changes` changes of value to be read at all."""
    k, n = values.shape
    out = np.ones(k)
    if n < 2 or k == 0:
        return out
    changed = _changed(values)
    changes = changed.sum(axis=1)
    allowed = np.floor(TOLERATED * changes)
    # of two changes at neighbouring points at most one lies on a residue, so a row with more such pairs
    # than twice the changes allowed off it is sampled at every step
    neighbours = (changed[:, 1:] & changed[:, :-1]).sum(axis=1)
    undecided = (changes >= min_changes) & (neighbours <= 2 * allowed)
    for d in range(min(MAX_REPEATS, n // min_changes), 1, -1):
        if not undecided.any():
            break
        rows = np.flatnonzero(undecided)
        width = -(-changed.shape[1] // d) * d
        padded = np.zeros((rows.size, width), dtype=np.int32)
        padded[:, : changed.shape[1]] = changed[rows]
        on_one_residue = padded.reshape(rows.size, -1, d).sum(axis=1).max(axis=1)
        fits = changes[rows] - on_one_residue <= allowed[rows]
        out[rows[fits]] = d
        undecided[rows[fits]] = False
    return out


def _changed(values: np.ndarray) -> np.ndarray:
    """(k, n - 1): whether column j + 1 shows a value other than the last one before it."""
    finite = np.isfinite(values)
    before = forward_fill(values)[:, :-1]
    return finite[:, 1:] & np.isfinite(before) & (values[:, 1:] != before)


def coarsest_sampling(values: np.ndarray, first_column: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a (k, n) grid (NaN for gaps) whose first column is column `first_column` of a grid laid
    from 0: the largest factor read off the whole row or any span of it, its phase (`newest_phase`), and
    whether the sampling changed (a span read coarser than the whole row). Each of m spans is one more
    chance to read a factor into chance changes, so a span needs log2(m) more changes than MIN_CHANGES
    (together they keep a row's chance, 2^-7) and is long enough to show them at MAX_REPEATS. Spans are
    laid from column 0, so that successive windows cut them alike."""
    k, n = values.shape
    repeats = sample_repeats(values)
    tests = -(-n // (MAX_REPEATS * MIN_CHANGES))
    need = MIN_CHANGES + math.ceil(math.log2(max(tests, 1)))
    span = MAX_REPEATS * need
    lead = first_column % span
    spans = -(-(lead + n) // span)
    coarsest = repeats
    if k and spans > 1:
        padded = np.full((k, spans * span), np.nan)
        padded[:, lead : lead + n] = values
        by_span = sample_repeats(padded.reshape(k * spans, span), need).reshape(k, spans)
        coarsest = np.maximum(by_span.max(axis=1), repeats)
    return coarsest, newest_phase(values, coarsest, first_column), coarsest > repeats


def newest_phase(values: np.ndarray, repeats: np.ndarray, first_column: int = 0) -> np.ndarray:
    """Per row of a (k, n) grid whose first column is column `first_column` of a grid laid from 0, and
    whose samples fill `repeats` points each: the column, modulo that, at which most of its newest
    MIN_CHANGES changes after a value held that long fall, where each new sample first shows now (0 for
    rows of one point a sample). Changes a step apart (a part sampled faster) do not vote."""
    phase = np.zeros(repeats.size, dtype=np.int64)
    rows = np.flatnonzero(repeats > 1)
    if rows.size == 0 or values.shape[1] < 2:
        return phase
    changed = _changed(values[rows])
    every = repeats[rows].astype(np.int64)
    at = np.where(changed, np.arange(changed.shape[1]), -1)
    previous = np.maximum.accumulate(np.c_[np.full(rows.size, -1), at[:, :-1]], axis=1)
    held = changed & (previous >= 0) & (at - previous >= every[:, None])
    newest = held & (np.cumsum(held[:, ::-1], axis=1)[:, ::-1] <= MIN_CHANGES)
    row, column = np.nonzero(newest)
    votes = np.zeros((rows.size, MAX_REPEATS), dtype=np.int64)
    np.add.at(votes, (row, (first_column + column + 1) % every[row]), 1)  # changed[:, j] is column j + 1
    phase[rows] = votes.argmax(axis=1)
    return phase
