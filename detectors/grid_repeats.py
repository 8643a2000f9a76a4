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
each sample once (`sample_grid`), what a query at the series' own interval returns. A series whose interval
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


def sample_repeats(values: np.ndarray) -> np.ndarray:
    """Per row of a (k, n) grid (NaN for gaps), the number of grid points one sample fills (>= 1)."""
    return sample_grid(values)[0]


def sample_grid(values: np.ndarray, min_changes: int = MIN_CHANGES) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a (k, n) grid (NaN for gaps): the grid points one sample fills (d >= 1), and the column
    modulo d at which each new sample first shows (0 for d = 1). A row needs `min_changes` changes of value
    to be read at all."""
    k, n = values.shape
    out, phase = np.ones(k), np.zeros(k, dtype=np.int64)
    if n < 2 or k == 0:
        return out, phase
    finite = np.isfinite(values)
    before = forward_fill(values)[:, :-1]
    changed = finite[:, 1:] & np.isfinite(before) & (values[:, 1:] != before)
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
        per_residue = padded.reshape(rows.size, -1, d).sum(axis=1)
        fits = changes[rows] - per_residue.max(axis=1) <= allowed[rows]
        out[rows[fits]] = d
        phase[rows[fits]] = (per_residue[fits].argmax(axis=1) + 1) % d  # changed[:, j] is column j + 1
        undecided[rows[fits]] = False
    return out, phase


def coarsest_sampling(values: np.ndarray, first_column: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of a (k, n) grid (NaN for gaps) whose first column is column `first_column` of a grid laid
    from 0: the largest factor read off the whole row or any span of it, its phase (modulo it, counted
    from column 0; from the newest span that shows it: where samples arrive now), and whether the
    sampling changed (a span read coarser than the whole row). Each of m spans is one more chance to read
    a factor into chance changes, so a span needs log2(m) more changes than MIN_CHANGES (together they
    keep a row's chance, 2^-7) and is long enough to show them at MAX_REPEATS. Spans are laid from
    column 0, so that successive windows cut them alike."""
    k, n = values.shape
    repeats, phase = sample_grid(values)
    phase = (phase + first_column) % repeats.astype(np.int64)
    tests = -(-n // (MAX_REPEATS * MIN_CHANGES))
    need = MIN_CHANGES + math.ceil(math.log2(max(tests, 1)))
    span = MAX_REPEATS * need
    lead = first_column % span
    spans = -(-(lead + n) // span)
    if k == 0 or spans < 2:
        return repeats, phase, np.zeros(k, dtype=bool)
    padded = np.full((k, spans * span), np.nan)
    padded[:, lead : lead + n] = values
    span_repeats, span_phase = (
        part.reshape(k, spans) for part in sample_grid(padded.reshape(k * spans, span), need)
    )
    coarsest = np.maximum(span_repeats.max(axis=1), repeats)
    shows = span_repeats == coarsest[:, None]
    rows = np.flatnonzero(shows.any(axis=1) & (coarsest > 1))
    newest = spans - 1 - np.argmax(shows[rows, ::-1], axis=1)
    first = first_column - lead + newest * span  # the first column of that newest span
    phase[rows] = (first + span_phase[rows, newest]) % coarsest[rows].astype(np.int64)
    changed = coarsest > repeats
    return coarsest, phase, changed
