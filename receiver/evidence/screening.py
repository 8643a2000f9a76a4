"""Which related series to keep when more match than `context.max_related_series`: those that moved first.

Ranked by labels alone (`related.rank_related`), a namespace of 1,300 series cut to 200 keeps each pod's
first few series by kind and name, and the one that moved (a broker's request handlers, busy since the
incident began) is as likely as not among those left out. So the candidates (at most
`context.max_screened_series` of them, in ranked order) are read once, at the analyst's resolution at most,
and each is judged against its own history as the evidence judges every series
(`detectors.characterize_changes`); a counter by its increase per step. The ones that changed are kept
first, in their ranked order (most specific and breadth first by subject still), with the size of each
use among them (`sizes_of_moved`), then the rest in theirs up to the budget.

The read is a few queries, not one per metric: the series of each identifying label that found
candidates, of the candidates' metric names (`{namespace="data",__name__=~"m1|m2|..."}`, cut to fit
`context.max_query_length`), unrated, so one query carries counters and gauges alike.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from analyst.builtin.limits import is_limit_of, names_a_size
from detectors import SeriesChange, characterize_changes
from detectors.grid import align, grid
from detectors.rolling import window_sum
from detectors.rules import DEFAULT_RULE
from receiver.evidence.appeared import status_appeared
from receiver.evidence.derived import LIMIT_KEYS, LIMITED, LIMITS
from receiver.evidence.fetching import FetchScope, Window, label_key, names_selectors
from receiver.evidence.source import SeriesData, gather_then_raise

Labels = Mapping[str, str]
# The points a screened series is read at when the analyst is handed none (`max_values_per_series` 0):
# that setting's default.
DEFAULT_SCREEN_POINTS = 240


@dataclass(frozen=True)
class Screened:
    """The candidates kept, and of the `screened` first ones how many `moved` (None: none screened)."""

    kept: list[Labels]
    moved: int | None = None
    screened: int = 0


@dataclass(frozen=True)
class ScreenQuery:
    """What the candidates were found by: the identifying (label, value) pairs in their order, the scope
    labels every lookup agreed with, and the metrics read as counters."""

    identifying: Sequence[tuple[str, str]]
    scope_labels: Mapping[str, str]
    counters: Collection[str]
    rate_seconds: float = 0.0  # the evidence's rate() window: a counter is judged by its increase over it


def screening_window(window: Window, points: int) -> Window:
    """`window` at a step (a multiple of its own) that gives at most `points` points: the screen need not
    read finer than the analyst does (`context.max_values_per_series`)."""
    span = window.end - window.start
    factor = max(1, math.ceil(span / window.step / max(points, 1)))
    return Window(window.start, window.end, window.step * factor)


async def moved_first(
    candidates: Sequence[Labels], budget: int, screened: int, query: ScreenQuery, scope: FetchScope
) -> Screened:
    """At most `budget` of `candidates` (ranked): of the `screened` first, those that changed within the
    scope's window, then the rest, each in ranked order. Without a screen (`screened` at most `budget`),
    the first `budget`. A failed read raises MetricSourceError."""
    if len(candidates) <= budget or screened <= budget:
        return Screened(list(candidates[:budget]))
    pool = candidates[:screened]
    found = await _read(pool, query, scope)
    rows = [found.get(label_key(item)) for item in pool]
    counted = [item.get("__name__", "") in query.counters for item in pool]
    span = max(1, math.ceil(query.rate_seconds / scope.window.step))
    moved = await asyncio.to_thread(_changed, rows, counted, scope.window, span)
    sizes = sizes_of_moved(pool, moved)
    order: list[int] = []  # what moved, in ranked order, each with its sizes right after it
    for i in (i for i, yes in enumerate(moved) if yes):
        order += [j for j in (i, *sizes.get(i, ())) if j not in order]
    taken, ordered = set(order[:budget]), set(order)
    rest = [i for i in range(len(pool)) if i not in ordered]
    taken.update(rest[: budget - len(taken)])
    return Screened([item for i, item in enumerate(pool) if i in taken], sum(moved), len(pool))


def sizes_of_moved(pool: Sequence[Labels], moved: Sequence[bool]) -> dict[int, list[int]]:
    """The sizes in `pool` of each use that moved (by index): a limit seldom moves, yet without it the
    analyst cannot tell a pool at 100 % of its connections, or a container at its memory limit, from one
    that grew from 10 %. Sizes named beside their use (the same labels, names `limits.is_limit_of` pairs:
    `hikaricp_connections_max` of `hikaricp_connections_active`) and kube-state-metrics' container limits
    of cAdvisor's usage (`derived.LIMITED`)."""
    named: dict[frozenset[tuple[str, str]], list[int]] = {}
    limits: dict[tuple[str, tuple[str | None, ...]], list[int]] = {}
    for j, item in enumerate(pool):
        name = item.get("__name__", "")
        if name == LIMITS:
            limits.setdefault((item.get("resource", ""), tuple(item.get(k) for k in LIMIT_KEYS)), []).append(
                j
            )
        elif names_a_size(name):
            named.setdefault(label_key(item, drop_name=True), []).append(j)
    out: dict[int, list[int]] = {}
    for i, item in enumerate(pool):
        if not moved[i]:
            continue
        name = item.get("__name__", "")
        beside = [
            j
            for j in named.get(label_key(item, drop_name=True), ())
            if is_limit_of(pool[j]["__name__"], name)
        ]
        if name in LIMITED:
            beside += limits.get((LIMITED[name][0], tuple(item.get(k) for k in LIMIT_KEYS)), [])
        if beside:
            out[i] = beside
    return out


async def _read(
    pool: Sequence[Labels], query: ScreenQuery, scope: FetchScope
) -> dict[frozenset[tuple[str, str]], SeriesData]:
    """The series of `pool` over the scope's window, by label set: per identifying pair, the metrics of the
    candidates it is the first to name, in runs that fit `context.max_query_length`."""
    names: dict[tuple[str, str], set[str]] = {}
    for item in pool:
        pair = next(((k, v) for k, v in query.identifying if item.get(k) == v), None)
        if pair is not None:
            names.setdefault(pair, set()).add(item.get("__name__", ""))
    length = scope.settings.max_query_length
    selectors = [
        selector
        for (key, value), metrics in names.items()
        for selector in names_selectors({key: value}, query.scope_labels, sorted(metrics), length)
    ]
    answers = await gather_then_raise(scope.query_range(selector) for selector in selectors)
    return {label_key(data.labels): data for answer in answers for data in answer}


def _changed(
    rows: Sequence[SeriesData | None], counted: Sequence[bool], window: Window, span: int = 1
) -> list[bool]:
    """Whether each series (None: not read) changed within the window against its own history; a counter
    (`counted`) by its increase over `span` steps (the evidence's rate() window: the increase per step
    of a counter of rare events, a restart here and there, is a few ones among zeros, which the evidence's
    rate() spreads over the points its window covers)."""
    present = [(i, row) for i, row in enumerate(rows) if row is not None]
    moved = [False] * len(rows)
    if not present:
        return moved
    timestamps = grid(window.start, window.end, window.step)
    values = align([row for _, row in present], timestamps, window.step)
    is_counter = np.array([counted[i] for i, _ in present])
    labels = [row.labels for _, row in present]
    values = status_appeared(values, labels, DEFAULT_RULE.min_samples, counters=is_counter.tolist())
    if is_counter.any():
        values[is_counter] = _increases(values[is_counter], span)
    for (i, _), change in zip(present, characterize_changes(timestamps, values), strict=True):
        moved[i] = isinstance(change, SeriesChange) and change.anomalous
    return moved


def _increases(counters: np.ndarray, span: int = 1) -> np.ndarray:
    """Each counter's increase over the last `span` steps (NaN first; after a reset, the value itself, as
    Prometheus' rate() reads a reset; NaN where no step of the span was read)."""
    out = np.full(counters.shape, np.nan)
    step = np.diff(counters, axis=1)
    out[:, 1:] = np.where(step < 0, counters[:, 1:], step)
    if span > 1:
        present = np.isfinite(out)
        sums = window_sum(np.cumsum(np.where(present, out, 0.0), axis=1), span)
        counts = window_sum(np.cumsum(present, axis=1), span)
        out = np.where(counts > 0, sums, np.nan)
    return out
