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
"""

from __future__ import annotations

import numpy as np

from detectors.rolling import forward_fill

MIN_CHANGES = 8  # fewer value changes cannot tell a sample interval from chance (2^-7 for d = 2)
MAX_REPEATS = 20  # Prometheus' 5-minute lookback on a 15-s grid: a sample fills at most 20 points
TOLERATED = 0.1  # share of changes off the residue (a scrape whose timestamp jitters across a step)


def sample_repeats(values: np.ndarray) -> np.ndarray:
    """Per row of a (k, n) grid (NaN for gaps), the number of grid points one sample fills (>= 1)."""
    k, n = values.shape
    out = np.ones(k)
    if n < 2 or k == 0:
        return out
    finite = np.isfinite(values)
    before = forward_fill(values)[:, :-1]
    changed = finite[:, 1:] & np.isfinite(before) & (values[:, 1:] != before)
    changes = changed.sum(axis=1)
    allowed = np.floor(TOLERATED * changes)
    # of two changes at neighbouring points at most one lies on a residue, so a row with more such pairs
    # than twice the changes allowed off it is sampled at every step
    neighbours = (changed[:, 1:] & changed[:, :-1]).sum(axis=1)
    undecided = (changes >= MIN_CHANGES) & (neighbours <= 2 * allowed)
    for d in range(min(MAX_REPEATS, n // MIN_CHANGES), 1, -1):
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
