"""What evidence collection fetches with: the window, a fetched series, selectors for a group of series
and the `rate()` window of a counter."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from analyst.evidence import SeriesRole
from receiver.evidence.promql import family_siblings, is_counter_name, regex_selector
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSource, MetricSourceError, SeriesData

# A counter's rate() window spans this many scrape intervals (and query steps): the shortest window that
# always holds two samples (rate() needs two), with half an interval to spare for scrape jitter. Shorter
# is sharper: a change shows in full one window after it starts.
RATE_INTERVALS = 2.5


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    step: float


@dataclass(frozen=True)
class FetchScope:
    """Where and over what a fetch runs, and where its notes go."""

    source: MetricSource
    settings: ContextSettings
    window: Window
    notes: list[str]

    async def query_range(self, query: str) -> list[SeriesData]:
        """`query` over the window."""
        return await self.source.query_range(query, self.window.start, self.window.end, self.window.step)

    async def rate_span(self, counter: str) -> float:
        """The rate() window of a counter selector: `context.rate_window_seconds`, else
        `counter_rate_window`."""
        return self.settings.rate_window_seconds or await counter_rate_window(
            counter, self.source, self.window
        )


@dataclass(frozen=True)
class Fetched:
    """A fetched series and where it came from (`component`: where it lives, when its labels do not say;
    `joined`: labels its info series adds, which the analyst sees beside its own but its id does not)."""

    data: SeriesData
    role: SeriesRole
    query: str
    metric: str
    component: str | None = None
    joined: Mapping[str, str] = field(default_factory=dict)

    @property
    def evidence_labels(self) -> dict[str, str]:
        """The labels the analyst sees: the series' own, and the joined ones it lacks."""
        return {**self.joined, **self.data.labels}


def named(data: SeriesData, metric: str, query: str) -> Fetched:
    """A result series of a query over a counter or derived from others, as the related series `metric`
    (rate() and arithmetic drop the name)."""
    return Fetched(replace(data, labels={"__name__": metric, **data.labels}), "related", query, metric)


def label_key(labels: Mapping[str, str], *, drop_name: bool = False) -> frozenset[tuple[str, str]]:
    return frozenset((k, v) for k, v in labels.items() if not (drop_name and k == "__name__"))


def members_selector(metric: str, members: Sequence[Mapping[str, str]]) -> str:
    """One selector for `members` of `metric`: their common labels exactly, the others as alternations, with
    the empty value where a member lacks the label (`container=~"app|"`: in PromQL an absent label is empty,
    so cAdvisor's pod-level series, which has no `container`, still matches beside its containers')."""
    keys = set().union(*(m.keys() for m in members)) - {"__name__"}
    common = {k: members[0][k] for k in keys if all(m.get(k) == members[0].get(k) for m in members)}
    varying = {k: [m.get(k, "") for m in members] for k in keys - set(common)}
    return regex_selector(metric, common, varying)


async def counter_metrics(
    groups: Mapping[str, Sequence[Mapping[str, str]]], known: Collection[str], scope: FetchScope
) -> set[str]:
    """The metrics of `groups` (name -> members) to put under rate(): those named as counters
    (`is_counter_name`), but a `_count` or `_sum` only when its histogram's or summary's sibling is among
    the `known` metric names or, asked for, has series of the same members."""
    unsure = [m for m in groups if (sibs := family_siblings(m)) and not any(s in known for s in sibs)]
    confirmed = await asyncio.gather(*(_has_siblings(m, groups[m], scope) for m in unsure))
    gauges = {m for m, yes in zip(unsure, confirmed, strict=True) if not yes}
    return {m for m in groups if is_counter_name(m)} - gauges


async def _has_siblings(metric: str, members: Sequence[Mapping[str, str]], scope: FetchScope) -> bool:
    """Whether the members of `metric` have `family_siblings` series in the window (the naming convention
    decides when the source fails)."""
    selectors = [members_selector(sibling, members) for sibling in family_siblings(metric)]
    try:
        return bool(await scope.source.series(selectors, scope.window.start, scope.window.end, limit=1))
    except MetricSourceError:
        return True


def rate_floor(window: Window) -> float:
    """The shortest rate() window of a counter: RATE_INTERVALS query steps, and at least 60 s."""
    return max(RATE_INTERVALS * window.step, 60.0)


async def counter_rate_window(selector: str, source: MetricSource, window: Window) -> float:
    """The rate() window for a counter selector: RATE_INTERVALS of its scrape interval, as measured by
    `count_over_time` over the evidence window (the median over its series), and at least RATE_INTERVALS
    query steps and 60 s. With one-minute scrapes, a window of 4 x a 15-s step holds one sample or none,
    and rate() needs two: every such series would be lost."""
    floor = rate_floor(window)
    span = window.end - window.start
    if span <= 0:
        return floor
    probe = f"count_over_time({selector}[{math.ceil(span):d}s])"
    results = await source.query_range(probe, window.end, window.end, window.step)
    counts = [float(r.values[-1]) for r in results if r.values.size and np.isfinite(r.values[-1])]
    samples = float(np.median(counts)) if counts else 0.0
    if samples < 2:
        return floor
    return float(max(floor, math.ceil(RATE_INTERVALS * span / (samples - 1))))
