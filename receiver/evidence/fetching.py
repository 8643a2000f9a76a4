"""What evidence collection fetches with: the window, a fetched series, selectors for a group of series
(cut into several queries when one would be too long for the backend) and the `rate()` window of a counter."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

import numpy as np

from analyst.evidence import SeriesRole
from receiver.evidence.promql import family_siblings, is_counter_name, regex_selector, scoped_selector
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSource, MetricSourceError, SeriesData, gather_then_raise

# A counter's rate() window spans this many scrape intervals (and query steps): the shortest window that
# always holds two samples (rate() needs two), with half an interval to spare for scrape jitter. Shorter
# is sharper: a change shows in full one window after it starts.
RATE_INTERVALS = 2.5

T = TypeVar("T")
# The label sets of a group of series of one metric, and a query over some of them.
Members = Sequence[Mapping[str, str]]
MemberQuery = Callable[[Members], str]


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

    async def members_rate_span(self, metric: str, members: Members) -> float:
        """`rate_span` of the counter `metric`'s `members`, its probe cut like their queries
        (`member_queries`)."""
        if self.settings.rate_window_seconds:
            return self.settings.rate_window_seconds
        probes = member_queries(
            members,
            lambda part: rate_probe(members_selector(metric, part), self.window),
            self.settings.max_query_length,
        )
        return await probed_rate_window([query for _, query in probes], self.source, self.window)

    async def query_members(
        self, members: Members, render: MemberQuery, *, split: Collection[str] | None = None
    ) -> list[tuple[str, SeriesData]]:
        """`render(members)` over the window, each result series with the query that returned it: one
        query, or the chunks `member_queries` cuts for `context.max_query_length`, run at once (the source
        bounds the calls in flight) and merged as one query's answer."""
        queries = [q for _, q in member_queries(members, render, self.settings.max_query_length, split)]
        if len(queries) == 1:
            return [(queries[0], data) for data in await self.query_range(queries[0])]
        answers = await gather_then_raise(self.query_range(q) for q in queries)
        return merged_answers(queries, answers)


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


def names_selectors(
    exact: Mapping[str, str], scope: Mapping[str, str], names: Sequence[str], max_length: int
) -> list[str]:
    """`scoped_selector(exact, scope, run)` for consecutive runs of `names`, each as long as fits
    `max_length` bytes (`chunk_alternatives`)."""
    runs = chunk_alternatives(names, lambda run: query_fits(scoped_selector(exact, scope, run), max_length))
    return [scoped_selector(exact, scope, run) for run in runs]


def query_fits(query: str, max_length: int) -> bool:
    """Whether `query` is at most `max_length` bytes, as VictoriaMetrics counts (UTF-8)."""
    return len(query.encode()) <= max_length


def chunk_alternatives(alternatives: Sequence[T], fits: Callable[[Sequence[T]], bool]) -> list[Sequence[T]]:
    """`alternatives` cut, in order, into consecutive runs, each the longest from where the last ended that
    `fits` (which must hold for every shorter run too); an alternative that does not fit alone is a run of
    its own."""
    chunks: list[Sequence[T]] = []
    start = 0
    while start < len(alternatives):
        size = _longest_fitting_run(alternatives, start, fits)
        chunks.append(alternatives[start : start + size])
        start += size
    return chunks


def _longest_fitting_run(alternatives: Sequence[T], start: int, fits: Callable[[Sequence[T]], bool]) -> int:
    """The length of the longest run from `start` that fits (at least 1): doubling, then bisecting, so a run
    of n costs about 2 log2(n) renderings."""
    remaining = len(alternatives) - start
    good, size = 0, 1
    while size <= remaining and fits(alternatives[start : start + size]):
        good, size = size, size * 2
    bad = min(size, remaining + 1)
    while bad - good > 1:
        middle = (good + bad) // 2
        if fits(alternatives[start : start + middle]):
            good = middle
        else:
            bad = middle
    return max(good, 1)


def longest_alternation(members: Members, labels: Collection[str] | None = None) -> str | None:
    """The label (of `labels`, if given) with the longest alternation in `members_selector(members)`; None
    when the members agree on all of them."""
    keys = set().union(*(m.keys() for m in members)) - {"__name__"}
    lengths: dict[str, int] = {}
    for key in sorted(keys if labels is None else keys & set(labels)):
        values = {m.get(key, "") for m in members}
        if len(values) > 1:
            lengths[key] = sum(len(v) + 1 for v in values)
    return max(lengths, key=lengths.__getitem__) if lengths else None


def member_queries(
    members: Members, render: MemberQuery, max_length: int, split: Collection[str] | None = None
) -> list[tuple[Members, str]]:
    """(members, query) pairs covering `members`: all of them when `render`'s query fits `max_length`, else
    chunks cut along the alternatives of their longest alternation (of the `split` labels, if given), each
    value's members in one chunk: a chunk's selector matches only its own values of that label, so a group
    of an aggregation by it stays whole. A value whose members alone do not fit is sent alone, for the
    backend to say why it refuses."""
    whole = render(members)
    key = None if query_fits(whole, max_length) else longest_alternation(members, split)
    if key is None:
        return [(members, whole)]
    by_value: dict[str, list[Mapping[str, str]]] = {}
    for member in members:
        by_value.setdefault(member.get(key, ""), []).append(member)
    values = sorted(by_value, key=lambda v: (not v, v))  # as `regex_selector` orders the alternation

    def of(run: Sequence[str]) -> list[Mapping[str, str]]:
        return [member for value in run for member in by_value[value]]

    runs = chunk_alternatives(values, lambda run: query_fits(render(of(run)), max_length))
    return [(part, render(part)) for part in map(of, runs)]


def merged_answers(
    queries: Sequence[str], answers: Sequence[Sequence[SeriesData]]
) -> list[tuple[str, SeriesData]]:
    """The series of several queries' answers, each once (with the first query that returned it), sorted by
    their labels as Prometheus sorts one range query's series."""
    found: dict[frozenset[tuple[str, str]], tuple[str, SeriesData]] = {}
    for query, answer in zip(queries, answers, strict=True):
        for data in answer:
            found.setdefault(label_key(data.labels), (query, data))
    return sorted(found.values(), key=lambda pair: sorted(pair[1].labels.items()))


def rated_selector(metric: str, window: str | None, members: Members) -> str:
    """`members_selector`, under rate() over `window` (a PromQL range) when one is given."""
    selector = members_selector(metric, members)
    return f"rate({selector}[{window}])" if window else selector


async def counter_metrics(
    groups: Mapping[str, Sequence[Mapping[str, str]]], known: Collection[str], scope: FetchScope
) -> set[str]:
    """The metrics of `groups` (name -> members) to put under rate(): those named as counters
    (`is_counter_name`), but a `_count` or `_sum` only when its histogram's or summary's sibling is among
    the `known` metric names or, asked for, has series of the same members; and those their exporters
    declare counters (`# TYPE x counter`: a legacy counter without `_total`, as Prometheus' metadata says)."""
    unsure = [m for m in groups if (sibs := family_siblings(m)) and not any(s in known for s in sibs)]
    confirmed, declared = await asyncio.gather(
        asyncio.gather(*(_has_siblings(m, groups[m], scope) for m in unsure)), _declared_types(scope)
    )
    gauges = {m for m, yes in zip(unsure, confirmed, strict=True) if not yes}
    legacy = {m for m in groups if declared.get(m) == "counter"}  # `# TYPE x counter`, no `_total`
    return ({m for m in groups if is_counter_name(m)} - gauges) | legacy


async def _declared_types(scope: FetchScope) -> dict[str, str]:
    """The metrics' declared types (`MetricSource.metric_types`); none when the source cannot say."""
    try:
        return await scope.source.metric_types()
    except MetricSourceError:
        return {}


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
    return await probed_rate_window([rate_probe(selector, window)], source, window)


def rate_probe(selector: str, window: Window) -> str:
    """The query measuring a counter selector's samples per evidence window (`counter_rate_window`)."""
    return f"count_over_time({selector}[{math.ceil(window.end - window.start):d}s])"


async def probed_rate_window(probes: Sequence[str], source: MetricSource, window: Window) -> float:
    """`counter_rate_window` from `rate_probe` queries over parts of one counter's series (the median over
    all their series)."""
    floor = rate_floor(window)
    span = window.end - window.start
    if span <= 0:
        return floor
    if len(probes) == 1:
        results = await source.query_range(probes[0], window.end, window.end, window.step)
    else:
        answers = await gather_then_raise(
            source.query_range(p, window.end, window.end, window.step) for p in probes
        )
        results = [data for _, data in merged_answers(probes, answers)]
    counts = [float(r.values[-1]) for r in results if r.values.size and np.isfinite(r.values[-1])]
    samples = float(np.median(counts)) if counts else 0.0
    if samples < 2:
        return floor
    return float(max(floor, math.ceil(RATE_INTERVALS * span / (samples - 1))))
