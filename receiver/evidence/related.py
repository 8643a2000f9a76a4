"""Which series are related to an alert: found by each of its identifying labels, ranked, cut to the budget.

Each identifying label is its own `/api/v1/series` lookup, up to 10 x `context.max_related_series` series.
A lookup that comes back that full was cut in the backend's order (by metric name), so what the evidence
kept would depend on how the cause's metric is named. Its metric names are then counted instead (one PromQL
query), that limit is spread over them a kind at a time, as the budget is spread below (`telling_first`),
and the series of the chosen names are looked up. The candidates are ranked most specific first and
breadth first by subject and kind (`rank_related`).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from analyst.builtin.entities import KIND_WEIGHT, SeriesKind, series_kind, telling_label_values
from analyst.builtin.exporters import pod_in
from analyst.builtin.limits import left_of, may_have_limit, names_a_size, size_of, use_of
from receiver.evidence.fetching import Fetched, FetchScope, label_key, names_selectors
from receiver.evidence.promql import scoped_selector
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSourceError, gather_then_raise

T = TypeVar("T")
Labels = dict[str, str]
# A histogram's buckets and a counter's `_created` timestamps are never related series, whatever
# `context.exclude_metrics` lists: a histogram is read through its `_sum` and `_count`.
NEVER_RELATED = re.compile(r".*_(bucket|created)")
# Each identifying label's lookup returns at most this many times `context.max_related_series` series.
LOOKUP_FACTOR = 10


@dataclass(frozen=True)
class Candidates:
    """The series the lookups found; at least `matched` series matched (all of them when `complete`), of
    the metrics `names` (every name known to match, the skipped ones included)."""

    found: list[Labels]
    matched: int
    complete: bool
    names: frozenset[str]


async def related_candidates(
    identifying: Sequence[tuple[str, str]], scope_labels: Mapping[str, str], scope: FetchScope
) -> Candidates:
    """The series sharing each (label, value) of `identifying` that agree with `scope_labels`, one lookup
    per label, run at once."""
    lookups = await gather_then_raise(_lookup({k: v}, scope_labels, scope) for k, v in identifying)
    return Candidates(
        [item for lookup in lookups for item in lookup.found],
        max((lookup.matched for lookup in lookups), default=0),
        all(lookup.complete for lookup in lookups),
        frozenset().union(*(lookup.names for lookup in lookups)),
    )


async def _lookup(exact: Mapping[str, str], scope_labels: Mapping[str, str], scope: FetchScope) -> Candidates:
    """The series of one identifying label; when the answer is full, those of the metric names
    `spread_over_kinds` chooses among all that match."""
    limit = scope.settings.max_related_series * LOOKUP_FACTOR
    selector = scoped_selector(exact, scope_labels)
    found = await _series(selector, scope, limit)
    if len(found) < limit:
        return Candidates(found, len(found), True, frozenset(_name(item) for item in found))
    try:
        counts = await metric_counts(selector, scope)
    except MetricSourceError as exc:
        scope.notes.append(
            f"the related series of {selector} were cut at {limit} in the backend's order: their metrics "
            f"could not be counted ({exc})"
        )
        kept = sum(not skipped(_name(item), scope.settings) for item in found)
        return Candidates(found, kept, False, frozenset(_name(item) for item in found))
    wanted = {name: n for name, n in counts.items() if not skipped(name, scope.settings)}
    chosen = spread_over_kinds(wanted, limit)
    if not chosen:
        return Candidates([], 0, True, frozenset(counts))
    selectors = names_selectors(exact, scope_labels, chosen, scope.settings.max_query_length)
    answers = await gather_then_raise(_series(selector, scope, limit) for selector in selectors)
    complete = len(chosen) == len(wanted) and all(len(answer) < limit for answer in answers)
    return Candidates(
        [item for answer in answers for item in answer],
        sum(wanted.values()),
        complete,
        frozenset(counts) | {_name(item) for item in found},
    )


async def _series(selector: str, scope: FetchScope, limit: int) -> list[Labels]:
    window = scope.window
    return await scope.source.series([selector], window.start, window.end, limit=limit)


async def metric_counts(selector: str, scope: FetchScope) -> dict[str, int]:
    """How many series of each metric name `selector` matches with samples in the window: one instant
    query at its end, `count by (__name__) (last_over_time(selector[window]))` (last_over_time keeps the
    name, in Prometheus and VictoriaMetrics alike)."""
    window = scope.window
    span = max(math.ceil(window.end - window.start), 1)
    query = f"count by (__name__) (last_over_time({selector}[{span}s]))"
    results = await scope.source.query_range(query, window.end, window.end, window.step)
    return {
        data.metric: int(data.values[-1])
        for data in results
        if data.metric and data.values.size and math.isfinite(data.values[-1])
    }


def spread_over_kinds(counts: Mapping[str, int], limit: int) -> list[str]:
    """Metric names (`counts`: name -> its series) whose series fit in `limit`, a kind at a time as
    `telling_first` orders them: the first name of each kind, then the second, ... A name with more series
    than are left is passed over for the next; the first is taken whatever its size."""
    ordered = [_name(item) for item in telling_first([{"__name__": name} for name in counts])]
    chosen: list[str] = []
    total = 0
    for name in ordered:
        if not chosen or total + counts[name] <= limit:
            chosen.append(name)
            total += counts[name]
    return chosen


def skipped(name: str, settings: ContextSettings) -> bool:
    """Whether a metric is never a related series: unnamed, a bucket or `_created` (`NEVER_RELATED`), or
    one `context.exclude_metrics` lists."""
    return (
        not name
        or NEVER_RELATED.fullmatch(name) is not None
        or any(re.fullmatch(pattern, name) for pattern in settings.exclude_metrics)
    )


def rank_related(
    found: Sequence[Mapping[str, str]],
    identifying: Sequence[tuple[str, str]],
    expr: str | None,
    already: Sequence[Fetched],
    settings: ContextSettings,
    alert_labels: Mapping[str, str] | None = None,
) -> list[Labels]:
    """Related candidates, most specific first: more shared identifying labels, then earlier label; among
    equally specific ones, those carrying one of the alert's label values that tell series apart
    (`telling_label_values`: the `venue="lmax"` of an alert on the gateway's latency to it) first, the
    analyst ties them to what fired; and breadth first (`_breadth_first`)."""
    seen = {label_key(f.data.labels) for f in already}
    seen_unnamed = {label_key(f.data.labels, drop_name=True) for f in already}
    ranked = []
    for item in found:
        name = _name(item)
        if skipped(name, settings) or label_key(item) in seen:
            continue
        if expr and name in expr and label_key(item, drop_name=True) in seen_unnamed and not _sized(name):
            continue  # the raw series behind the alert's own expression
        shared = [i for i, (k, v) in enumerate(identifying) if item.get(k) == v]
        ranked.append(((-len(shared), min(shared, default=99), name, sorted(item.items())), dict(item)))
    ranked.sort(key=lambda pair: pair[0])
    tiers: dict[tuple[int, int], dict[frozenset[tuple[str, str]], Labels]] = {}
    for (fewer, first, *_), item in ranked:
        tiers.setdefault((fewer, first), {}).setdefault(label_key(item), item)
    telling = telling_label_values(alert_labels or {}, (item for _, item in ranked))
    seen_keys: set[frozenset[tuple[str, str]]] = set()
    out = []
    for tier in tiers.values():
        fresh = [item for key, item in tier.items() if key not in seen_keys]
        seen_keys.update(tier)
        tied = [any(item.get(k) == v for k, v in telling) for item in fresh]
        out += _breadth_first([item for item, yes in zip(fresh, tied, strict=True) if yes], settings)
        out += _breadth_first([item for item, yes in zip(fresh, tied, strict=True) if not yes], settings)
    return out


def _breadth_first(tier: Sequence[Labels], settings: ContextSettings) -> list[Labels]:
    """Equally specific candidates interleaved by subject (the pod, else the first component label):
    every subject's most telling series (`telling_first`), then every subject's second, and so on. Under
    `max_related_series` every component of a large namespace keeps its CPU, memory and latency, instead of
    the alphabetically first metrics of every pod."""
    subjects: dict[str, list[Labels]] = {}
    for item in tier:
        subject = pod_in(item) or next((item[k] for k in settings.component_labels if item.get(k)), "")
        subjects.setdefault(subject, []).append(item)
    return interleaved([telling_first(items) for items in subjects.values()])


def _sized(name: str) -> bool:
    """A use whose size a series may give, or a size (`limits`): behind an alert's `use / size * 100 > 90`
    they say which resource ran out and how large it is, which the ratio alone does not."""
    return may_have_limit(name) or names_a_size(name)


def telling_first(items: Sequence[Labels]) -> list[Labels]:
    """One subject's series, a kind at a time: the first of each kind (saturation, availability and market
    drivers, latency, errors, outbound latency, traffic, other, in that order of weight), then the second of
    each, and so on. Within a kind, a use whose size is among the series (the same labels, a name
    `limits.is_limit_of` pairs: a pool's `_in_use` and its `_max`) comes first, its size right after it: the
    analyst judges it against that limit, which no other series of its kind says. Then by name."""
    sizes: dict[tuple[tuple[str, ...], frozenset[tuple[str, str]]], list[Labels]] = {}
    for item in items:
        if (of := size_of(_name(item))) is not None:
            sizes.setdefault((of, label_key(item, drop_name=True)), []).append(item)
    groups: list[tuple[bool, str, list[Labels]]] = []
    placed: set[int] = set()
    for item in items:
        used = use_of(_name(item)) or left_of(_name(item))
        beside = sizes.get((used, label_key(item, drop_name=True)), []) if used is not None else []
        groups.append((not beside, _name(item), [item, *beside]))
    kinds: dict[SeriesKind, list[list[Labels]]] = {}
    for _, name, (item, *beside) in sorted(groups, key=lambda g: g[:2]):
        if id(item) in placed:
            continue
        fresh = [size for size in beside if id(size) not in placed]
        placed.update(map(id, [item, *fresh]))
        kinds.setdefault(series_kind(name, item), []).append([item, *fresh])
    queues = [queue for _, queue in sorted(kinds.items(), key=lambda p: -KIND_WEIGHT[p[0]])]
    return [item for group in interleaved(queues) for item in group]


def new_subjects_series(
    groups: Sequence[Sequence[Labels]], already: Sequence[Fetched], settings: ContextSettings
) -> list[list[Labels]]:
    """Each group of looked-up series (a node's, the failed probes'...) most telling first
    (`telling_first`), without those `skipped`, already fetched, or in an earlier group."""
    seen = {label_key(f.data.labels) for f in already}
    out = []
    for group in groups:
        fresh = {
            key: item
            for item in group
            if not skipped(item.get("__name__", ""), settings) and (key := label_key(item)) not in seen
        }
        seen.update(fresh)
        out.append(telling_first(list(fresh.values())))
    return out


def interleaved(queues: Sequence[Sequence[T]]) -> list[T]:
    """The first of each queue, then the second of each, and so on."""
    return [item for turn in itertools.zip_longest(*queues) for item in turn if item is not None]


def _name(item: Mapping[str, str]) -> str:
    return item.get("__name__", "")
