"""Each series of a rule detected at its own sampling interval, whatever the query's step.

A range query at a step shorter than a series' scrape interval repeats each sample on the grid (a 60-s
series on a 15-s step: four times). The default detector's step and burst features then see mostly zero
steps, their scale deflates and noise looks large: on a quiet day a 60-s white-noise series on a 15-s step
opened twice the false incidents of the same series at 60 s, at HIGH severity instead of LOW. So each
series is detected on the grid points where its samples first show, every d-th point
(`detectors.grid_repeats`): what a query at its own interval returns. A series whose interval changed
within the lookback is judged at the coarser one throughout, so that a change of sampling is not read as a
change of the value (a rule over 300 white-noise series whose job went from 60-s to 15-s scrapes opened
incidents on all 300 within 25 minutes). Series sampled at every step are detected on the whole grid, as
before; so are multivariate rules, which compare the series point by point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors import BatchResult, DetectionRule, detect_rules
from detectors.grid_repeats import coarsest_sampling
from detectors.records import merge_row_tables


@dataclass(frozen=True)
class NativeGrid:
    """How each series of a (k, n) block sits on its grid: the points one of its samples fills
    (`repeats`), the column, modulo that, at which each sample first shows (`phase`, of a grid laid from
    time 0, whose column `first_column` is the block's first), and whether its sampling changed within the
    block (`changed`: it is judged at the coarsest)."""

    repeats: np.ndarray
    phase: np.ndarray
    changed: np.ndarray
    first_column: int = 0

    def groups(self, n: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(rows, columns) per set of series sampled alike: the columns their samples first show at."""
        columns = self.first_column + np.arange(n)
        keys = np.stack([self.repeats.astype(np.int64), self.phase])
        found, which = np.unique(keys, axis=1, return_inverse=True)
        return [
            (np.flatnonzero(which.ravel() == i), np.flatnonzero(columns % every == phase))
            for i, (every, phase) in enumerate(found.T.tolist())
        ]


def native_grid(timestamps: np.ndarray, values: np.ndarray) -> NativeGrid:
    """`NativeGrid` of a (k, n) block on the regular grid `timestamps` (NaN = no value)."""
    step = float(timestamps[1] - timestamps[0]) if timestamps.size > 1 else 1.0
    first_column = round(float(timestamps[0]) / step) if timestamps.size else 0
    repeats, phase, changed = coarsest_sampling(values, first_column)
    return NativeGrid(repeats, phase, changed, first_column)


def detect_native(
    rules: Sequence[DetectionRule],
    timestamps: np.ndarray,
    values: np.ndarray,
    names: Sequence[str],
    native: NativeGrid | None = None,
) -> list[BatchResult]:
    """`detect_rules` of each set of series sampled alike on its own grid (`native`, read from `values` if
    not given), merged into one result per rule over all of `names`, in their order."""
    native = native if native is not None else native_grid(timestamps, values)
    if (native.repeats == 1).all() or all(rule.method == "multivariate" for rule in rules):
        return detect_rules(rules, timestamps, values, names)
    each = [rule for rule in rules if rule.method != "multivariate"]
    parts = [
        (rows, detect_rules(each, timestamps[cols], values[rows][:, cols], _at(names, rows)))
        for rows, cols in native.groups(timestamps.size)
    ]
    merged = iter([_merged(names, [(rows, found[j]) for rows, found in parts]) for j in range(len(each))])
    together = [rule for rule in rules if rule.method == "multivariate"]
    whole = iter(detect_rules(together, timestamps, values, names) if together else [])
    return [next(whole) if rule.method == "multivariate" else next(merged) for rule in rules]


def _at(names: Sequence[str], rows: np.ndarray) -> list[str]:
    return [names[i] for i in rows.tolist()]


def _merged(names: Sequence[str], parts: Sequence[tuple[np.ndarray, BatchResult]]) -> BatchResult:
    """One result over `names` from results over subsets of them (`rows` of each)."""
    table = merge_row_tables(names, [(rows, found.table) for rows, found in parts])
    scores = np.full(len(names), np.nan)
    for rows, found in parts:
        scores[rows] = found.scores
    insufficient = {name: problem for _, found in parts for name, problem in found.insufficient.items()}
    return BatchResult(table, scores, insufficient)
