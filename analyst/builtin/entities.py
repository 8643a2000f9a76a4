"""Rank the components of an incident (service, pod, instance...) as its cause, from all of their series.

Each series is judged against its own history (BARO-style robust scoring): its values since shortly
before the alert, in units of the spread (IQR) of its values before that, counted only in the direction
that hurts for its kind of metric. A series whose own change began inside that history and was still
worsening when the alert fired (a leak, a disk filling up) is judged against the history before its
change began, from where it first left its noise; a slow climb through wide noise counts when it rose
steadily from a flat stretch (rank-based trend tests, `kept_worsening`). The window opens where a cause
of the alert could start: five minutes before the alert's own series left its noise (an alert fires
after its rule's `for:`), or before the alert; a series already beyond its noise there counts half, a
leftover of something earlier. A small taxonomy weighs the
kinds: saturation (CPU, memory...) stays in the component where it happens; latency and errors also
show in every caller; a component's outbound (client) latency mostly reflects its callees;
throughput-like series (bytes, packets, operations, syscalls) move with load wherever it comes from;
what is left of a capacity (a disk's free bytes) falling is saturation.
A component's score is its strongest weighted series. With a call graph, a component whose callees
show comparable symptoms gets its own latency and errors discounted (they are explained from below);
its saturation never is. The alerting component competes like any other, except that when another
component changed clearly before it, comparably strongly and not only in symptoms, its series that
restate the alert do not count: they are what needs explaining (temporal precedence); and its other
symptoms, explained by that change, do not outrank it. A market driver comes from outside: one that moved
with the alerting component, strongly enough, explains it too. Without a call graph the alert's own
labels tie components to it: a series of another component that carries the alert's `book` or `desk`
(any label beyond components and scope) counts double.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from analyst.builtin.calls import callers_view_of, side_of
from analyst.builtin.categories import (
    OUTCOME_LABELS,
    MetricFamily,
    failed_requests,
    metric_family,
    timed_part,
)
from analyst.builtin.limits import AT_LIMIT, is_limit_of, left_of, may_have_limit, names_a_size, utilisation
from analyst.builtin.protocols import waits_on_servers
from analyst.builtin.ranking import (
    EXPLAINING_STRENGTH_RATIO,
    SIMULTANEOUS_SECONDS,
    alert_component,
    find_alert_series,
)
from analyst.builtin.topology import COMPONENT_LABELS, CallGraph, address_host, component_of
from analyst.evidence import Evidence, SeriesEvidence, SeriesValues
from detectors import nan_stats

# A cause may start this long before the alert's own series left its noise, or before the alert fires
# (`causes_could_start`: `for:` durations, scrape and rule intervals).
ONSET_MARGIN_SECONDS = 300.0
# History before that used as each series' normal behaviour.
BASELINE_SECONDS = 3600.0
MIN_BASELINE_POINTS = 5
# Spread floor as a share of the level: a series that never moved is not infinitely surprised by 1 %.
RELATIVE_SCALE_FLOOR = 0.01
# Spiky series: the spread is at least what makes this share of the history's deviations ordinary
# (1.645 = the normal 90 % two-sided quantile), so a series that often spikes is not news when it spikes.
TAIL_QUANTILE = 90.0
TAIL_Z = 1.645
# A robust z below this is ordinary noise; at or above it the series counts as changed (onset).
CHANGE_Z = 3.0
MIN_ENTITIES = 5
# A series of another component that carries one of the alert's own label values beyond components and
# scope (`alert_label_values`: the alert's `book`, `desk`, `topic`) counts this much more: one step of
# KIND_WEIGHT's halving, as the labels tie it to what fired.
SHARED_LABEL_FACTOR = 2.0
# When the alerting component's own resource reached its limit before the alert fired (`own_limit`), a
# component with no tie to it (no call either way, none of the alert's label values) counts at most this
# share of that: the same step of KIND_WEIGHT's halving. A restart of an unrelated UI during a rollout no
# longer outranks the connector's file descriptors at their limit, which explain its errors.
UNTIED_SHARE = 0.5
# A series already beyond its noise when the window opens (where a cause of this alert could start at the
# earliest: `causes_could_start`) changed before any cause could: a leftover of something earlier (temporal
# precedence). Its shift counts this much (unless it is a climb that was still worsening when the alert
# fired: `climbing_shift`).
EARLIER_CHANGE_DISCOUNT = 0.5
# Latency and errors that something else explains (a callee that changed as strongly, or the alert
# itself, which is what needs explaining) count this much.
SYMPTOM_DISCOUNT = 0.5


class SeriesKind(StrEnum):
    SATURATION = "saturation"
    AVAILABILITY = "availability"
    LATENCY = "latency"
    ERRORS = "errors"
    OUTBOUND_LATENCY = "outbound_latency"
    THROUGHPUT = "throughput"
    MARKET = "market"
    OTHER = "other"


# Each step down halves: saturation stays where it happens, and so does availability (a target's `up`, a
# container's restarts: a caller's stay as they were when its callee dies); latency and errors also travel
# to every caller; outbound latency is mostly the callees'; throughput moves with load wherever it comes from.
# A market driver (volatility, funding, liquidity, traded volume, a data feed) comes from outside the system:
# nothing in it moves the market, so where one changes it is a cause, like a resource where it saturates.
KIND_WEIGHT: Mapping[SeriesKind, float] = {
    SeriesKind.SATURATION: 1.0,
    SeriesKind.AVAILABILITY: 1.0,
    SeriesKind.LATENCY: 0.5,
    SeriesKind.ERRORS: 0.5,
    SeriesKind.OUTBOUND_LATENCY: 0.25,
    SeriesKind.THROUGHPUT: 0.125,
    SeriesKind.MARKET: 1.0,
    SeriesKind.OTHER: 0.125,
}
# Kinds that describe symptoms a failing callee can cause in its callers.
SYMPTOM_KINDS = frozenset({SeriesKind.LATENCY, SeriesKind.ERRORS, SeriesKind.OUTBOUND_LATENCY})
# Kinds whose change can explain another component's symptoms by coming first: not symptoms themselves,
# nor throughput (which moves with load wherever it comes from); `other` holds business signals.
CAUSE_KINDS = frozenset({SeriesKind.SATURATION, SeriesKind.AVAILABILITY, SeriesKind.MARKET, SeriesKind.OTHER})
# Kinds with a direction that hurts, whose change can be a climb that began inside the baseline hour (a leak,
# a disk filling up, a queue or latency creeping up): not the two-way kinds, which move with load or markets.
TWO_WAY_KINDS = frozenset({SeriesKind.THROUGHPUT, SeriesKind.MARKET, SeriesKind.OTHER})
CLIMB_KINDS = frozenset(SeriesKind) - TWO_WAY_KINDS
# Kinds that move with the load a component is given (its requests, bytes, business counts): their change
# says the traffic changed, not that the component did (`preceding_changes`).
LOAD_KINDS = frozenset({SeriesKind.THROUGHPUT, SeriesKind.OTHER})
# The metric families (`analyst.builtin.categories`) of market drivers, and a database connection pool's
# use: a name the kind patterns leave to throughput or other (`md_realized_volatility`,
# `hikaricp_connections_active`, `go_sql_in_use_connections`) takes the kind its family says. A pool is
# named as a pool or a database's: a web server's active connections (`nginx_connections_active`) move
# with load.
POOL_USE = re.compile(
    r"(pool|connections?).*(in_?use|active|busy|pending|wait)|(in_?use|active|busy|pending|wait).*connections?"
)
POOL_OWNER = re.compile(r"pool|hikaricp|pgbouncer|(^|_)(db|database|sql|pg|postgres|mysql|mongo|redis)(_|$)")
MARKET_FAMILIES = frozenset(
    {
        MetricFamily.VOLATILITY,
        MetricFamily.FUNDING,
        MetricFamily.LIQUIDITY,
        MetricFamily.VOLUME,
        MetricFamily.DATA_FEED,
    }
)

# A message broker's queue backlog (RabbitMQ's ready and unacknowledged messages, a Kafka consumer group's
# lag, SQS' visible messages): work waiting for its consumers, which grows when they slow down or when
# producers send more, not a resource of the broker's running out.
MESSAGE_BACKLOG = re.compile(
    r"rabbitmq_(detailed_)?queue_messages|kafka_consumergroup_lag|aws_sqs_approximate_number_of_messages"
)
# `up`, `mysql_up`, `redis_up`: whether a scrape target (or the service an exporter watches) answers
TARGET_UP = re.compile(r"(^|_)up$")
# What is left of a capacity (`node_filesystem_avail_bytes`, `node_memory_MemAvailable_bytes`,
# `kubelet_volume_stats_available_bytes`, `node_filesystem_files_free`), or the share of its time a pool
# of workers sat idle (Kafka's `kafka_server_kafkarequesthandlerpool_requesthandleravgidle_percent` and
# `kafka_network_socketserver_networkprocessoravgidle_percent`): saturation, as it falls.
CAPACITY_LEFT = re.compile(
    r"(avail|available|free)_(bytes|inodes)|files_free$|(filesystem|disk|volume|memory).*(avail|free)"
    r"|idle_?(percent|pct|ratio|fraction)$"
)
_KIND_PATTERNS: tuple[tuple[SeriesKind, str], ...] = (
    (SeriesKind.SATURATION, CAPACITY_LEFT.pattern),
    # a target that answers; kube-state-metrics' container restarts and why a container was terminated or
    # is waiting
    (
        SeriesKind.AVAILABILITY,
        rf"{TARGET_UP.pattern}|restarts?(_total)?$|(terminated|waiting)_reason|oom_?kill|systemd_unit_state",
    ),
    # errors; a NIC's `errs` and drops (node_exporter's `node_network_receive_errs_total`), TCP retransmits
    (
        SeriesKind.ERRORS,
        r"success|availab|apdex|error|fail|5xx|exception|reject|timeout|(^|_)errs(_|$)|(^|_)drop(s|ped)?(_|$)"
        r"|retrans",
    ),
    (SeriesKind.OUTBOUND_LATENCY, r"client.*(latency|duration|seconds)|(outbound|upstream|downstream)"),
    (
        SeriesKind.LATENCY,
        r"latency|duration|response_time|(^|_)rtt?(_|$)|round_?trip|delay|_seconds_(bucket|sum|avg)",
    ),
    (
        SeriesKind.SATURATION,
        r"cpu|throttl|(^|_)load|mem|heap|(^|_)gc(_|$)|oom|rss|swap|disk_(usage|used)"
        r"|(^|_)fs_|inode|saturat|pool.*(use|active|wait)|queue|threads",
    ),
    (
        SeriesKind.THROUGHPUT,
        r"bytes|packets|(^|_)ops|syscall|request|(^|_)(rps|qps|tps)(_|$)|throughput"
        r"|workload|(^|_)io_|iops|network|transmit|receive",
    ),
)
_COMPILED = tuple((kind, re.compile(pattern)) for kind, pattern in _KIND_PATTERNS)
# Kinds whose bad direction is down (a success ratio, a disk's free bytes falling); the rest hurt rising.
_DOWN_IS_BAD = re.compile(rf"success|availab|apdex|{TARGET_UP.pattern}|{CAPACITY_LEFT.pattern}")


def series_kind(metric: str, labels: Mapping[str, str] | None = None) -> SeriesKind:
    """The kind of a series by its metric name. Of a timing histogram or summary, `_count` counts requests
    (throughput) and `_sum` is busy time (more of it with more traffic as with slower requests); its latency
    is the mean the evidence derives, `<base>:mean`, whose kind is the base's. A count of requests whose
    outcome label says the server failed (`code="503"`, `grpc_code="Unavailable"`) counts errors. A latency
    the calling side timed (`reporter="source"`, `direction="outbound"`, a client span) is outbound, unless
    it names the callee: then it is the callee's latency as its callers see it (`analyst.builtin.calls`)."""
    name = metric.lower()
    timed, kind = _kind_by_name(name)
    if timed == "_sum":
        return SeriesKind.OTHER
    name = name.removesuffix(":mean")
    counted = kind in (SeriesKind.THROUGHPUT, SeriesKind.OTHER)
    if counted and failed_requests(metric, labels):
        return SeriesKind.ERRORS
    if counted and timed is None:
        family = metric_family(name, labels)
        if family in MARKET_FAMILIES:
            return SeriesKind.MARKET
        if POOL_USE.search(name) and POOL_OWNER.search(name):
            return SeriesKind.SATURATION
    if kind is SeriesKind.LATENCY and labels and side_of(labels) == "caller" and not callers_view_of(labels):
        return SeriesKind.OUTBOUND_LATENCY  # the reporting pod's wait on its callees
    if MESSAGE_BACKLOG.match(name):
        return SeriesKind.THROUGHPUT  # a queue's messages waiting: its consumers' pace against its producers'
    if kind in (SeriesKind.LATENCY, SeriesKind.SATURATION) and waits_on_servers(name):
        return SeriesKind.OUTBOUND_LATENCY  # a Kafka producer's record queue time: its wait on the brokers
    return kind


@functools.lru_cache(maxsize=8192)
def _kind_by_name(name: str) -> tuple[str | None, SeriesKind]:
    """(`timed_part`, kind) of a lower-case name alone; the same few hundred names recur in every
    incident's evidence, so each is matched against the patterns once."""
    if (timed := timed_part(name)) is not None:
        return timed, SeriesKind.OTHER if timed == "_sum" else SeriesKind.THROUGHPUT
    base = name.removesuffix(":mean")
    return None, next((k for k, pattern in _COMPILED if pattern.search(base)), SeriesKind.OTHER)


@dataclass(frozen=True)
class SeriesShift:
    """How far one series moved since shortly before the alert, against its own history."""

    series: SeriesEvidence
    kind: SeriesKind
    z: float
    weighted: float
    onset: float | None
    baseline: float
    peak: float
    replaced_at: float | None = None  # judged as the continuation of replaced pods' series, from then
    limit: float | None = None  # the resource's size, from a series beside it (`with_limits`)
    tied_by: tuple[tuple[str, str], ...] = ()  # the alert's label values it carries (`on_the_alerts_labels`)
    resized: tuple[float, float] | None = None  # its size first and last, when it changed: values are shares

    @property
    def share(self) -> float | None:
        """The peak as a share of the resource's limit: by a size series beside it, else by its name (a
        percent, a ratio: `limits.utilisation`)."""
        if self.limit is not None:  # what is left of it (a disk's available bytes): the rest is in use
            used = self.limit - self.peak if left_of(self.series.metric) is not None else self.peak
            return used / self.limit
        return utilisation(self.series.metric, self.peak)

    @property
    def at_limit(self) -> bool:
        """The peak is a utilisation of AT_LIMIT or more."""
        share = self.share
        return share is not None and share >= AT_LIMIT


@dataclass(frozen=True)
class RankedEntity:
    """One component with the series that placed it; `score` is its strongest weighted shift."""

    name: str
    score: float
    onset: float | None
    shifts: tuple[SeriesShift, ...]
    explained_by: tuple[str, ...] = ()

    @property
    def strongest(self) -> SeriesShift | None:
        return self.shifts[0] if self.shifts else None

    @property
    def changed(self) -> bool:
        """Some series of the component moved beyond its usual noise."""
        return any(s.z >= CHANGE_Z for s in self.shifts)


def series_shift(
    series: SeriesEvidence, alert_time: float, causes_since: float | None = None
) -> SeriesShift | None:
    """Robust shift of a series in its window, from `causes_since` (the earliest a cause of the alert could
    start: `causes_could_start`), at the latest and by default ONSET_MARGIN_SECONDS before `alert_time`,
    against the hour before it; None without enough history. A change under way when the window opened
    is a leftover (`_shift`); with `causes_since` -inf none is, and its onset is where its run began."""
    return series_shifts([series], alert_time, causes_since)[0]


def series_shifts(
    series: Sequence[SeriesEvidence],
    alert_time: float,
    causes_since: float | None = None,
    saturating: Collection[int] = (),
) -> list[SeriesShift | None]:
    """`series_shift` of each series; the baselines of series on one time grid are summarised at once.
    The series of `saturating` (by index) are judged as saturation whatever their name's kind
    (`saturating_uses`).

    When no series has MIN_BASELINE_POINTS points before the usual window (a cold start: the recording,
    or the whole system, began just before the alert), each series' window opens after its own first
    MIN_BASELINE_POINTS points instead, if they came before the alert: the history it has is the only
    normal it has shown. A single young series among older ones (a pod started minutes ago) is not
    judged on so little; the others carry the incident."""
    shifts: list[SeriesShift | None] = [None] * len(series)
    grids: dict[tuple[float, float, int], list[int]] = {}
    for i, s in enumerate(series):
        if s.values is not None and s.available and s.values.values:
            grids.setdefault((s.values.start, s.values.step, len(s.values.values)), []).append(i)
    usual = alert_time - ONSET_MARGIN_SECONDS
    if causes_since is not None and math.isfinite(causes_since):
        usual = min(usual, causes_since)
    sampled: dict[tuple[float, float, int], tuple[np.ndarray, np.ndarray, list[np.ndarray]]] = {}
    for (start, step, size), members in grids.items():
        matrix = np.array([series[i].values.values for i in members], dtype=np.float64)  # type: ignore[union-attr]
        times = start + step * np.arange(size)
        sampled[(start, step, size)] = (matrix, times, [times[np.isfinite(row)] for row in matrix])
    cold = not any(
        np.count_nonzero(when < usual) >= MIN_BASELINE_POINTS
        for _, _, rows_times in sampled.values()
        for when in rows_times
    )
    for grid, members in grids.items():
        matrix, times, row_times = sampled[grid]
        by_cut: dict[float, list[int]] = {}
        for row, when in enumerate(row_times):
            by_cut.setdefault(cold_start_window(when, alert_time) if cold else usual, []).append(row)
        for cut, rows in by_cut.items():
            in_baseline = (times < cut) & (times >= cut - BASELINE_SECONDS)
            recent = times >= cut
            since = cut if causes_since is None else min(cut, causes_since)
            if not recent.any() or in_baseline.sum() < MIN_BASELINE_POINTS:
                continue
            centre, spread = baseline_summary(matrix[rows][:, in_baseline])
            kinds = [
                SeriesKind.SATURATION
                if members[row] in saturating
                else series_kind(series[members[row]].metric, series[members[row]].labels)
                for row in rows
            ]
            metrics = [series[members[row]].metric for row in rows]
            until_alert = recent & (times <= alert_time)
            climbs = climbs_before(matrix[rows], times, in_baseline, until_alert, kinds, metrics)
            for k, row in enumerate(rows):
                if np.isfinite(centre[k]):
                    s, values, kind = series[members[row]], matrix[row], kinds[k]
                    shifts[members[row]] = (
                        climbing_shift(s, kind, climbs[k], values, times, recent) if k in climbs else None
                    ) or _shift(s, kind, values, times, recent, float(centre[k]), float(spread[k]), since)
    return shifts


@dataclass(frozen=True)
class Climb:
    """A series' final run in its baseline hour (`times`, `values`) from `start` (`own_onsets`), that its
    window went beyond: `top`, its worst value up to the alert, `now`, its value at the alert, `window`,
    its values from the window's opening up to the alert, `history`, all its values before the run.
    `centre` and `spread` summarise the hour before the run; `sign` is the direction that hurts."""

    times: np.ndarray
    values: np.ndarray
    start: int
    sign: float
    centre: float
    spread: float
    now: float
    top: float
    window: np.ndarray
    history: np.ndarray


def climbs_before(
    matrix: np.ndarray,
    times: np.ndarray,
    in_baseline: np.ndarray,
    until_alert: np.ndarray,
    kinds: Sequence[SeriesKind],
    metrics: Sequence[str],
) -> dict[int, Climb]:
    """The rows of `matrix` (series of `kinds` on the grid `times`) whose final run in the baseline hour
    above the median of what came before it (`own_onsets`) their window went beyond before the alert
    (`until_alert`): the candidates for `climbing_shift`, by row."""
    signs = np.array([_climb_sign(metric, kind) for metric, kind in zip(metrics, kinds, strict=True)])
    values = matrix[:, in_baseline]
    directed = signs[:, None] * values
    onsets = own_onsets(directed)
    window = signs[:, None] * matrix[:, until_alert]
    present = np.isfinite(window)
    latest = window.shape[1] - 1 - np.argmax(present[:, ::-1], axis=1)
    now = np.where(present.any(axis=1), window[np.arange(len(window)), latest], np.nan)
    columns = np.arange(values.shape[1])
    top = nan_stats.nanmax(window, axis=1)  # NaN for rows without a run or a window: never candidates
    climbed = nan_stats.nanmax(np.where(columns >= onsets[:, None], directed, np.nan), axis=1)
    rows = np.flatnonzero((onsets >= 0) & (top > climbed))
    if not rows.size:
        return {}
    centre, spread = baseline_summary(np.where(columns < onsets[rows, None], values[rows], np.nan))
    return {
        int(row): Climb(
            times[in_baseline],
            values[row],
            int(onsets[row]),
            float(signs[row]),
            float(centre[k]),
            float(spread[k]),
            float(signs[row] * now[row]),
            float(signs[row] * top[row]),
            matrix[row, until_alert],
            matrix[row, times < times[in_baseline][onsets[row]]],
        )
        for k, row in enumerate(rows)
        if np.isfinite(centre[k])
    }


def _climb_sign(metric: str, kind: SeriesKind) -> float:
    """+1 or -1: the direction that hurts for a series of a CLIMB_KINDS kind (NaN for other kinds)."""
    if kind not in CLIMB_KINDS:
        return math.nan
    return -1.0 if _DOWN_IS_BAD.search(metric.lower()) else 1.0


def climbing_shift(
    series: SeriesEvidence,
    kind: SeriesKind,
    climb: Climb,
    values: np.ndarray,
    times: np.ndarray,
    recent: np.ndarray,
) -> SeriesShift | None:
    """The shift of a series whose own change began inside its baseline hour, beyond its noise there, then
    kept worsening (`kept_worsening`) and was still beyond its noise when the alert fired (a leak, a disk
    filling up): judged against the part of the hour before that change, with the onset where it first
    left its noise, and not a leftover. None for any other series (a change that was over, or had stopped
    worsening, by the window is judged as usual)."""
    shift = _shift(series, kind, values, times, recent, climb.centre, climb.spread, since=-math.inf)
    if shift is None:
        return None
    scale = floored_spread(climb.spread, climb.centre, shift.peak)
    run = climb.sign * (climb.values[climb.start :] - climb.centre) / scale
    now = climb.sign * (climb.now - climb.centre) / scale
    left = np.flatnonzero(run >= CHANGE_Z)
    if not left.size or now < CHANGE_Z or not kept_worsening(climb, left[0], scale):
        return None  # within its noise before the window, flat since, or over by the alert
    return dataclasses.replace(shift, onset=float(climb.times[climb.start + left[0]]))


def kept_worsening(climb: Climb, left: int, scale: float) -> bool:
    """The climb went on after it left its noise (at `left` in its run): its worst value in the window is
    CHANGE_Z spreads beyond its worst before; or, from a flat stretch (noise around a level, without a
    trend or wandering: `trend_z`, `wandering_z`), it rose steadily from there (noise around a line, not
    in steps), and in the last half of that rise still trended up, by CHANGE_Z spreads or more (a slow
    climb through wide noise, whose peaks say little). A level that moved and stayed is neither."""
    climbed = float(np.nanmax(climb.sign * (climb.values[climb.start :] - climb.centre) / scale))
    if climb.sign * (climb.top - climb.centre) / scale - climbed >= CHANGE_Z:
        return True
    before = climb.sign * climb.history
    since = climb.sign * np.concatenate([climb.values[climb.start + left :], climb.window])
    flat = abs(trend_z(before)) < CHANGE_Z and wandering_z(before) < CHANGE_Z
    steady = wandering_z(off_trend(since)) < CHANGE_Z  # noise around a line, not steps or a bend
    later = since[since.size // 2 :]  # still rising, beyond its noise, up to the alert
    rising = trend_z(later) >= CHANGE_Z and theil_sen_slope(later) * (later.size - 1) >= CHANGE_Z * scale
    return flat and steady and rising


def trend_z(values: np.ndarray) -> float:
    """Mann-Kendall z of a rising trend in `values` (NaN = missing): how many spreads of its no-trend
    distribution the count of rising pairs minus falling pairs lies above zero. Rank-based, so it needs no
    noise estimate: a slow climb through wide noise counts as well as a fast one through narrow noise."""
    finite = values[np.isfinite(values)]
    n = finite.size
    if n < 3:
        return 0.0
    s = float(np.triu(np.sign(finite[None, :] - finite[:, None]), 1).sum())
    variance = n * (n - 1) * (2 * n + 5) / 18.0
    return (s - math.copysign(1.0, s)) / math.sqrt(variance) if s else 0.0


def theil_sen_slope(values: np.ndarray) -> float:
    """The median slope between pairs of `values` (NaN = missing) per point: robust to outliers."""
    at = np.flatnonzero(np.isfinite(values))
    if at.size < 2:
        return 0.0
    first, second = np.triu_indices(at.size, 1)
    return float(np.median((values[at[second]] - values[at[first]]) / (at[second] - at[first])))


def off_trend(values: np.ndarray) -> np.ndarray:
    """`values` (NaN = missing) less their Theil-Sen line (`theil_sen_slope`, median intercept)."""
    line = theil_sen_slope(values) * np.arange(values.size)
    finite = np.isfinite(values)
    return values - line - float(np.median(values[finite] - line[finite])) if finite.any() else values


def wandering_z(values: np.ndarray) -> float:
    """How many spreads of its distribution under independent noise the von Neumann ratio of `values`
    (NaN = missing; squared steps over squared deviations from the mean, 2 for noise around a level) lies
    below 2: a series that wanders (a random walk) steps little against how far it strays."""
    finite = values[np.isfinite(values)]
    n = finite.size
    spread = float(np.sum((finite - finite.mean()) ** 2)) if n >= 3 else 0.0
    if spread == 0.0:
        return 0.0
    ratio = float(np.sum(np.diff(finite) ** 2)) / spread
    return (2.0 - ratio) / math.sqrt(4.0 * (n - 2) / (n * n - 1))


def own_onsets(before: np.ndarray) -> np.ndarray:
    """Per row of `before` (bad direction up, NaN = missing or not climbing): where its final run above
    the median of what came before the run began, -1 without one or with fewer than MIN_BASELINE_POINTS
    values before it. Run and median are found again until they agree: a climb longer than half the
    hour lifts the first median into it."""
    rows, size = before.shape
    columns = np.arange(size)
    start = np.full(rows, size)
    found = np.full(rows, -1)
    active = np.flatnonzero(np.isfinite(before).any(axis=1))
    while active.size:
        prefix = np.sort(np.where(columns < start[active, None], before[active], np.nan), axis=1)  # NaN last
        count = np.count_nonzero(np.isfinite(prefix), axis=1)
        enough = count >= MIN_BASELINE_POINTS
        lower, upper = np.maximum(count - 1, 0) // 2, count // 2
        picked = np.arange(active.size)
        middle = (prefix[picked, lower] + prefix[picked, np.minimum(upper, size - 1)]) / 2
        not_above = ~(before[active] > middle[:, None])
        begins = np.where(not_above.any(axis=1), size - np.argmax(not_above[:, ::-1], axis=1), 0)
        settled = begins >= start[active]
        done = active[settled & enough & (start[active] < size)]
        found[done] = start[done]
        moving = ~settled & enough
        start[active[moving]] = begins[moving]
        active = active[moving]
    return found


def cold_start_window(sampled: np.ndarray, alert_time: float) -> float:
    """Where a series' window opens at a cold start (`sampled`: the times of its points, ascending):
    right after its first MIN_BASELINE_POINTS points if they came before the alert, else the usual
    ONSET_MARGIN_SECONDS before the alert (where it has too little history to be judged)."""
    if sampled.size > MIN_BASELINE_POINTS and sampled[MIN_BASELINE_POINTS] < alert_time:
        return float(sampled[MIN_BASELINE_POINTS])
    return alert_time - ONSET_MARGIN_SECONDS


def baseline_summary(before: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of `before` (NaN = missing): median and robust spread (IQR / 1.349, widened for spiky
    series to the TAIL_QUANTILE absolute deviation / TAIL_Z); NaN where fewer than
    MIN_BASELINE_POINTS values. Rows with the same gaps (usually all) are summarised in one pass."""
    centre = np.full(before.shape[0], np.nan)
    spread = np.full(before.shape[0], np.nan)
    present = np.isfinite(before)
    patterns: dict[bytes, list[int]] = {}
    for row in range(before.shape[0]):
        patterns.setdefault(present[row].tobytes(), []).append(row)
    for rows in patterns.values():
        columns = present[rows[0]]
        if columns.sum() < MIN_BASELINE_POINTS:
            continue
        values = before[np.ix_(rows, columns)]
        mid = np.median(values, axis=1)
        q1, q3 = np.percentile(values, [25, 75], axis=1)
        tail = np.percentile(np.abs(values - mid[:, None]), TAIL_QUANTILE, axis=1) / TAIL_Z
        centre[rows], spread[rows] = mid, np.maximum((q3 - q1) / 1.349, tail)
    return centre, spread


def _shift(
    series: SeriesEvidence,
    kind: SeriesKind,
    values: np.ndarray,
    times: np.ndarray,
    recent: np.ndarray,
    centre: float,
    spread: float,
    since: float,
) -> SeriesShift | None:
    """The shift of `series` in its window (`recent`) against `centre` and `spread`. One already beyond
    its noise when the window opened whose run beyond it may have begun before `since` (the window's
    opening, or -inf) is a leftover of something earlier: it counts EARLIER_CHANGE_DISCOUNT. One whose run
    began later has its onset where the run began."""
    recent_mask = recent & np.isfinite(values)
    if not recent_mask.any():
        return None
    after = values[recent_mask]
    before = ~recent & np.isfinite(values)
    scale = floored_spread(spread, centre, float(np.max(np.abs(after))))
    if kind is not SeriesKind.AVAILABILITY:  # a target's `up`, a restart: each unit is an event, not noise
        scale = max(scale, rounding_spread(values[before]))
    elif series.query.startswith("rate(") and rounding_spread(values[before]) == 0:
        # a count of events that never moved before (restarts from a clean history): one event is one unit
        # of its resolution, seen over the whole series, not 100 spreads by the 1 % floor
        scale = max(scale, rounding_spread(values[np.isfinite(values)]))
    deviation = (after - centre) / scale
    directed = _directed(series.metric, kind, deviation)
    if TARGET_UP.search(series.metric.lower()) and directed[-1] < CHANGE_Z:
        directed = np.minimum(directed, 0.0)  # answering again: a missed scrape, not a target that stopped
    earlier_directed = _directed(series.metric, kind, (values[before] - centre) / scale)
    best = _news(directed, earlier_directed)
    z = max(0.0, float(directed[best]))
    changed = np.flatnonzero(directed >= CHANGE_Z) if z >= CHANGE_Z else np.array([], dtype=np.intp)
    onset = float(times[recent_mask][changed[0]]) if changed.size else None
    earlier = 1.0
    if onset is not None and changed[0] == 0:  # beyond its noise from the window's first point: since when?
        quiet, began = run_start(earlier_directed, times[before])
        if quiet < since:  # it may have begun before any cause of the alert could: a leftover
            earlier = EARLIER_CHANGE_DISCOUNT  # and `onset` stays where the window saw it first
        elif began is not None:
            onset = began
    return SeriesShift(
        series=series,
        kind=kind,
        z=z,
        weighted=KIND_WEIGHT[kind] * z * earlier,
        onset=onset,
        baseline=centre,
        peak=float(after[best]),
    )


def rounding_spread(values: np.ndarray) -> float:
    """The spread of rounding `values` to their resolution q (their smallest step between distinct values),
    q / sqrt(12): the least noise a measurement in whole units has. A gauge of whole connections that is 0
    at nine points of ten has no spread by quantiles, yet a 1 is no news: floored only at 1 % of its level,
    it lay 100 spreads away. 0 for a constant series."""
    steps = np.diff(np.unique(values))
    return float(steps.min()) / math.sqrt(12.0) if steps.size else 0.0


def _news(directed: np.ndarray, earlier: np.ndarray) -> int:
    """The index of the window's largest deviation (`directed`, bad direction up) that the window reaches
    more often than the time before it (`earlier`) did: a level the series showed as often before is no
    news, however far from the median (a gauge of whole connections at 1 at one point in twelve before
    the alert and one in thirty after it; a series that always wobbles by 30 %). The largest deviation
    when there is nothing before it."""
    order = np.argsort(-directed, kind="stable")
    if earlier.size == 0:
        return int(order[0])
    reached = np.sort(earlier)
    levels = directed[order]
    # the share of the window at or beyond each of its levels, and of the time before it
    now = np.searchsorted(-levels, -levels, side="right") / levels.size
    then = (reached.size - np.searchsorted(reached, levels, side="left")) / reached.size
    fresh = np.flatnonzero(now > then)
    return int(order[fresh[0]]) if fresh.size else int(order[-1])


def floored_spread(spread: float, *levels: float) -> float:
    """`spread`, floored at RELATIVE_SCALE_FLOOR of the largest of `levels` in size (and above 0): a series
    that never moved is not infinitely surprised by 1 %."""
    return max(spread, RELATIVE_SCALE_FLOOR * max(abs(level) for level in levels), 1e-12)


def run_start(directed: np.ndarray, times: np.ndarray) -> tuple[float, float | None]:
    """Where the final run of `directed` deviations (in spreads, the bad direction up, at `times`) at or
    beyond CHANGE_Z began: the time of the last point within its noise before it (-inf without one: it may
    have begun any time before), and of the run's first point (None when the last point is within its
    noise: the run begins after `times`)."""
    within = np.flatnonzero(directed < CHANGE_Z)
    quiet = float(times[within[-1]]) if within.size else -math.inf
    start = int(within[-1]) + 1 if within.size else 0
    return quiet, float(times[start]) if start < directed.size else None


def _directed(metric: str, kind: SeriesKind, deviation: np.ndarray) -> np.ndarray:
    """Deviations counted in the direction that hurts for the series' kind (both ways for counts)."""
    if kind in TWO_WAY_KINDS:
        return np.abs(deviation)
    if _DOWN_IS_BAD.search(metric.lower()):
        return -deviation
    return deviation


# Labels naming one running instance of a component; a series that has only these (a pod's cAdvisor
# series, say) joins the component that other series with the same value name.
INSTANCE_LABELS = ("pod", "k8s_pod_name", "k8s.pod.name", "container", "instance")  # k8s_*: OpenTelemetry's
# Labels naming the node a pod runs on: the kubelet's (cAdvisor's series) and kube-state-metrics' `node`,
# OpenTelemetry's `k8s_node_name`.
HOST_LABELS = ("node", "k8s_node_name", "k8s.node.name")
# ... and the machine a target runs on off Kubernetes (`hosts_of`)
MACHINE_LABELS = (*HOST_LABELS, "host")
# Labels that say where a series lives, what kind of sample it is, or what the rule is, not what an alert
# is about (`alert_label_values`): components, instances and the workloads that own them (kube-state-metrics'
# `statefulset`, `owner_name`...), nodes and the scope; the classifiers many unrelated series share by
# chance (`cpu="0"`, `mode="idle"`, `code="500"`, `method`, a Kafka `partition="0"`, a network `interface`,
# a histogram's `le`, a summary's `quantile`, a filesystem's `device`, `mountpoint` and `fstype`, the
# Operator's scrape `endpoint`); the rule's name and severity.
_NOT_WHAT_IT_IS_ABOUT = frozenset(
    {
        *INSTANCE_LABELS,
        *COMPONENT_LABELS,
        *OUTCOME_LABELS,
        "statefulset",
        "daemonset",
        "replicaset",
        "job_name",
        "cronjob",
        "owner_name",
        "owner_kind",
        "workload",
        "controller",
        "node",
        "k8s_node_name",
        "host",
        "hostname",
        "namespace",
        "k8s_namespace_name",
        "k8s.namespace.name",
        "cpu",
        "mode",
        "state",
        "partition",
        "interface",
        "method",
        "verb",
        "reason",
        "type",
        "scope",
        "le",
        "quantile",
        "device",
        "mountpoint",
        "fstype",
        "endpoint",
        "alertname",
        "severity",
    }
)


def instance_aliases(series: Iterable[SeriesEvidence], jobs: Collection[str] = ()) -> dict[str, str]:
    """Instance label value -> component, where every series carrying that value agrees on the component.
    A scrape target known only by its address (its component is its `instance`) whose one `job` is a
    component other series name by another label (the market-data exporter's `job="market-data"` beside
    cAdvisor's `container="market-data"`) belongs to that component: the job names a workload there. A
    job no series names otherwise (`kubernetes-pods`, `node`) may span many components and names none,
    unless it is one of `jobs`, those an alert names as what fired (`alerts_job`)."""
    seen: dict[str, set[str]] = {}
    named: set[str] = set(jobs)
    addressed: dict[str, set[str]] = {}
    for s in series:
        component, job, address = component_of(s), s.labels.get("job"), s.labels.get("instance")
        if component and address == component and job:
            addressed.setdefault(address, set()).add(job)
        if component == job:
            continue  # a scrape job may span many components: too weak to name an instance's owner
        if component and component != address:
            named.add(component)
        for key in INSTANCE_LABELS:
            value = s.labels.get(key)
            if component and value and value != component:
                seen.setdefault(value, set()).add(component)
    aliases = {value: next(iter(found)) for value, found in seen.items() if len(found) == 1}
    owned = {
        address: workload
        for address, jobs in addressed.items()
        if len(jobs) == 1 and (workload := next(iter(jobs))) in named
    }
    for address, workload in owned.items():
        aliases.setdefault(address, workload)
    # a value whose series belong to a target known by its address (a Docker container's name on its
    # target's series) belongs to the workload that owns that address
    return {value: owned.get(owner, owner) for value, owner in aliases.items()}


def alerts_job(labels: Mapping[str, str]) -> list[str]:
    """The scrape job an alert names as what fired (`by (job, host)`), if it names no one target of it
    (`instance`): its targets are that component's (`instance_aliases`), however many jobs it spans
    elsewhere."""
    job = labels.get("job")
    return [job] if job and not labels.get("instance") else []


def _entity_name(series: SeriesEvidence, aliases: Mapping[str, str]) -> str | None:
    """The callee of a callers' view of calls (not the reporting proxy's pod), else the component its
    instance labels agree on, else its own."""
    if callee := callers_view_of(series.labels):
        return callee
    for key in INSTANCE_LABELS:
        value = series.labels.get(key)
        if value and value in aliases:
            return aliases[value]
    return component_of(series)


def rank_entities(evidence: Evidence) -> list[RankedEntity]:
    """Components best-first by their strongest weighted shift (all components with usable series). When
    another component changed clearly before the alerting one (`preceding_changes`), the alerting
    component's series that restate the alert count nothing, its errors no longer count in full, and its
    symptoms count no more than what changed first (`_below_explanation`). Other components' series that
    carry the alert's own label values count double (`on_the_alerts_labels`), once what came first is
    judged on the series' own strengths."""
    shifts: dict[str, list[SeriesShift]] = {}
    names = instance_aliases(evidence.series, alerts_job(evidence.alert.labels))
    entities = [_entity_name(series, names) for series in evidence.series]
    alert_series = find_alert_series(evidence)
    since = causes_could_start(alert_series, evidence.alert.starts_at, usable_activation(evidence))
    series, sizes, resized = as_shares_when_resized(evidence.series)
    saturating = saturating_uses(series, sizes)
    judged = series_shifts(series, evidence.alert.starts_at, since, saturating)
    judged = with_predecessors(series, judged, entities, evidence.alert.starts_at)
    judged = with_limits(judged, sizes, saturating, resized)
    judged = [ran_out(s, since, evidence.alert.starts_at) if s is not None else None for s in judged]
    for entity, shift in zip(entities, judged, strict=True):
        if entity and shift is not None:
            shifts.setdefault(entity, []).append(shift)
    graph = CallGraph.from_evidence(evidence.topology, evidence.series)
    alerting = alert_component(evidence, alert_series) or owner_of_what_fired(evidence, entities)
    shifts = _markets_that_came_later(
        shifts, _first_change(shifts.get(alerting or ""), evidence.alert.starts_at)
    )
    preceded = preceding_changes(alerting, shifts, alert_series) if alerting in shifts else ()
    shifts = on_the_alerts_labels(shifts, evidence, alerting)
    shifts = _what_fired_elsewhere(shifts, evidence, alerting)
    shifts = on_the_alerts_nodes(shifts, hosts_of(alerting, evidence.series, entities))
    shifts = _nodes_use_as_load(shifts, nodes_named(evidence.series) - {alerting or ""})
    limit = own_limit(shifts.get(alerting or "", ()), evidence.alert.starts_at)
    tied: set[str] = set()
    if limit is not None:  # what counts at most half of the resource that ran out does not explain it
        tied = _tied_to(alerting, graph, shifts)
        preceded = tuple(name for name in preceded if name in tied)
    if alerting is not None and preceded:  # what restates the alert is what needs explaining: not counted
        shifts[alerting] = [
            dataclasses.replace(s, weighted=0.0) if restates_the_alert(s, alert_series) else s
            for s in shifts[alerting]
        ]
    own_errors = alerting is not None and not preceded and not _errors_elsewhere(alerting, shifts)
    ranked = [
        _entity(name, members, shifts, graph, name == alerting, own_errors and name == alerting)
        for name, members in shifts.items()
    ]
    if preceded:
        ranked = [_below_explanation(e, ranked, preceded) if e.name == alerting else e for e in ranked]
    if limit is not None:
        cap = UNTIED_SHARE * limit
        ranked = [e if e.name in tied or e.score <= cap else _capped(e, cap) for e in ranked]
    ranked.sort(key=lambda e: (-e.score, e.onset if e.onset is not None else math.inf, e.name))
    return ranked


def own_limit(shifts: Iterable[SeriesShift], alert_time: float) -> float | None:
    """The weight of the alerting component's own resource (of its `shifts`) that reached its limit before
    the alert fired (a pool, its file descriptors, a disk, its CPU limit): what fully explains the alert
    from inside it; None without one."""
    found = [
        s.weighted
        for s in shifts
        if s.kind is SeriesKind.SATURATION
        and s.at_limit
        and s.z >= CHANGE_Z
        and s.onset is not None
        and s.onset <= alert_time
    ]
    return max(found, default=None)


def _tied_to(alerting: str | None, graph: CallGraph, shifts: Mapping[str, Sequence[SeriesShift]]) -> set[str]:
    """The components tied to the alerting one: itself, what it calls or is called by along the call graph
    (at any depth), and those with a series tied to what fired (carrying the alert's own label values, or
    on the node it runs on)."""
    if alerting is None:
        return set()
    callers, queue = {alerting}, deque([alerting])
    while queue:  # what calls it, at any depth
        for caller in graph.callers(queue.popleft()):
            if caller not in callers:
                callers.add(caller)
                queue.append(caller)
    tied = callers | set(graph.distances_from(alerting))
    return tied | {name for name, members in shifts.items() if any(s.tied_by for s in members)}


def _capped(
    entity: RankedEntity, cap: float, kinds: Collection[SeriesKind] = frozenset(SeriesKind)
) -> RankedEntity:
    """`entity` with each shift of `kinds` counting at most `cap`."""
    scored = sorted(
        (
            dataclasses.replace(s, weighted=min(s.weighted, cap)) if s.kind in kinds else s
            for s in entity.shifts
        ),
        key=lambda s: (-s.weighted, s.series.series_id),
    )
    return dataclasses.replace(entity, score=entity_score(scored), shifts=tuple(scored))


def causes_could_start(
    alert_series: SeriesEvidence | None, alert_time: float, active_since: float | None = None
) -> float:
    """The earliest a cause of the alert could start, where the analysis window opens: ONSET_MARGIN_SECONDS
    before its condition began to hold, which Prometheus records (`active_since`: it sends an alert when
    its condition has held for the rule's `for:`, five minutes or more in most rules), or where its own
    series left its noise (the start of its run beyond it, or of a step so old that its baseline hour
    holds it: `stepped_since`), whichever is earlier; else before the alert fired."""
    shift = series_shift(alert_series, alert_time, -math.inf) if alert_series is not None else None
    began = shift.onset if shift is not None and shift.onset is not None else alert_time
    stepped = stepped_since(alert_series, alert_time) if alert_series is not None else None
    candidates = (began, alert_time, stepped, active_since)
    return min(t for t in candidates if t is not None and math.isfinite(t)) - ONSET_MARGIN_SECONDS


def usable_activation(evidence: Evidence) -> float | None:
    """When the alert became active (`AlertInfo.active_since`), if the evidence holds the baseline hour
    before the window it opens; else None (the window opens as without it)."""
    active = evidence.alert.active_since
    if active is None or active > evidence.alert.starts_at:
        return None
    return active if holds_history_before(evidence.window_start, active) else None


def holds_history_before(window_start: float, active: float) -> bool:
    """Whether a window opening at `window_start` holds the history a cause starting at `active` is judged
    with: the ONSET_MARGIN_SECONDS it may lead by and the BASELINE_SECONDS before that."""
    return active - ONSET_MARGIN_SECONDS - BASELINE_SECONDS >= window_start


def stepped_since(series: SeriesEvidence, alert_time: float) -> float | None:
    """Where the series first left the noise of the time before it, in its final run away from the middle
    of that time inside its baseline hour (`own_onsets`, in the direction its window moved), when that run
    and the window both lie CHANGE_Z spreads away: a step older than the window, which its own baseline
    hour would otherwise hold (an alert's condition that held for a `for: 15m`). None otherwise."""
    if series.values is None or not series.values.values:
        return None
    values = np.array(series.values.values, dtype=np.float64)
    times = series.values.start + series.values.step * np.arange(values.size)
    cut = alert_time - ONSET_MARGIN_SECONDS
    hour = (times < cut) & (times >= cut - BASELINE_SECONDS) & np.isfinite(values)
    window = (times >= cut) & (times <= alert_time) & np.isfinite(values)
    if hour.sum() <= MIN_BASELINE_POINTS or not window.any():
        return None
    before, now = values[hour], values[window]
    sign = 1.0 if np.median(now) >= np.median(before) else -1.0
    start = int(own_onsets(sign * before[None, :])[0])
    if start < 0:
        return None
    centres, spreads = baseline_summary(before[None, :start])
    centre = float(centres[0])
    scale = floored_spread(float(spreads[0]), centre, float(np.max(np.abs(now))))
    run = sign * (before[start:] - centre) / scale
    away = min(float(np.median(run)), sign * (float(np.median(now)) - centre) / scale)
    left = np.flatnonzero(run >= CHANGE_Z)  # where the run first left the noise of the time before it
    return float(times[hour][start + left[0]]) if away >= CHANGE_Z and left.size else None


def sized_uses(series: Sequence[SeriesEvidence], beside: Mapping[int, int]) -> dict[int, float]:
    """Index -> size of each series whose resource's size a series beside it gives (`beside`: the same
    labels, a name `limits.is_limit_of` pairs, `size_series`): its latest value, when positive."""
    found: dict[int, float] = {}
    for i, j in beside.items():
        finite = _finite(series[j])
        if finite and finite[-1] > 0:
            found[i] = finite[-1]
    return found


def size_series(series: Sequence[SeriesEvidence]) -> dict[int, int]:
    """Index of each series whose resource's size a series beside it gives -> that size series' index."""
    sizes: dict[tuple[tuple[str, str], ...], list[tuple[str, int]]] = {}
    for j, s in enumerate(series):
        if s.values is not None and names_a_size(s.metric):  # a size is often constant: judged unavailable
            sizes.setdefault(_same_place(s), []).append((s.metric, j))  # as evidence, still a size
    found: dict[int, int] = {}
    if not sizes:
        return found
    for i, s in enumerate(series):
        if not may_have_limit(s.metric) and series_kind(s.metric, s.labels) is not SeriesKind.SATURATION:
            continue
        beside = sizes.get(_same_place(s), ())
        size = next((j for m, j in beside if is_limit_of(m, s.metric)), None)
        if size is not None:
            found[i] = size
    return found


def _finite(s: SeriesEvidence) -> list[float]:
    return [v for v in s.values.values if v is not None and math.isfinite(v)] if s.values is not None else []


def as_shares_when_resized(
    series: Sequence[SeriesEvidence],
) -> tuple[list[SeriesEvidence], dict[int, float], dict[int, tuple[float, float]]]:
    """`series` with each use whose size changed inside the window (a conntrack table's limit lowered, a
    cache redeployed with less memory) as its share of that size, point by point, and that size 1: a
    limit lowered under a steady use brings the use to its limit as surely as a use rising to it, and only
    the share shows it. Also each use's size (`sized_uses`; 1 for a share), and each resized use's size
    (first, last). What is left of a resource (`left_of`: a disk's available bytes) keeps its own values;
    its size has no such change."""
    beside = size_series(series)
    sizes = sized_uses(series, beside)
    out, new_sizes, resized = list(series), dict(sizes), {}
    for i, j in beside.items():
        use, size = series[i], series[j]
        if i not in sizes or left_of(use.metric) is not None or use.values is None or size.values is None:
            continue
        if (use.values.start, use.values.step, len(use.values.values)) != (
            size.values.start,
            size.values.step,
            len(size.values.values),
        ):
            continue
        bounds = _finite(size)
        if not bounds or min(bounds) == max(bounds) or min(bounds) <= 0:
            continue
        share = np.array(use.values.values, dtype=np.float64) / np.array(size.values.values, dtype=np.float64)
        points = tuple(float(v) if math.isfinite(v) else None for v in share)
        out[i] = dataclasses.replace(use, values=dataclasses.replace(use.values, values=points))
        new_sizes[i] = 1.0
        resized[i] = (bounds[0], bounds[-1])
    return out, new_sizes, resized


def saturating_uses(series: Sequence[SeriesEvidence], sizes: Mapping[int, float]) -> set[int]:
    """The series of `sizes` to judge as saturation whatever their name's kind (`process_open_fds`,
    `node_nf_conntrack_entries`, `redis_connected_clients`: what they use runs out): those whose highest
    value is a share of their size that weighs more, as saturation, than their name's kind (`with_limits`
    weighs them by it). 251 of a million file descriptors is no saturation, 3,944 of 4,096 is."""
    out = set()
    for i, size in sizes.items():
        s = series[i]
        kind = series_kind(s.metric, s.labels)
        if kind is SeriesKind.SATURATION:
            continue
        finite = _finite(s)
        if finite and KIND_WEIGHT[SeriesKind.SATURATION] * min(max(finite) / size, 1.0) > KIND_WEIGHT[kind]:
            out.add(i)
    return out


def with_limits(
    shifts: Sequence[SeriesShift | None],
    sizes: Mapping[int, float],
    saturating: Collection[int],
    resized: Mapping[int, tuple[float, float]] | None = None,
) -> list[SeriesShift | None]:
    """`shifts`, each with the size of its resource (`sized_uses`; a share's 1, with the size it had first
    and last when it changed: `as_shares_when_resized`); those judged as saturation for their size
    (`saturating_uses`) weighed by the share of it they reached."""
    out = list(shifts)
    for i, size in sizes.items():
        shift = out[i]
        if shift is None:
            continue
        shift = dataclasses.replace(shift, limit=size, resized=(resized or {}).get(i))
        if i in saturating and shift.share is not None:
            shift = dataclasses.replace(shift, weighted=shift.weighted * min(max(shift.share, 0.0), 1.0))
        out[i] = shift
    return out


# A use this close to its size has nothing left (a volume's available bytes at 0, a pool's every
# connection taken): it ran out (`ran_out`).
FULL_SHARE = 0.999


def ran_out(shift: SeriesShift, opens: float, alert_time: float) -> SeriesShift:
    """`shift`, when its resource ran out (FULL_SHARE) inside the window (from `opens`, or
    ONSET_MARGIN_SECONDS before `alert_time` if later, up to the alert) having had some left all through
    its baseline hour, with that moment as its onset and at least CHANGE_Z as its strength: a volume that
    filled steadily all afternoon is no change against its own trend, but the minute it is full is one,
    whatever its z. Not a resource that never ran out, that already had, or that has some left again."""
    if not shift.at_limit or (shift.onset is not None and shift.z >= CHANGE_Z) or shift.series.values is None:
        return shift
    cut = alert_time - ONSET_MARGIN_SECONDS
    cut = min(opens, cut) if math.isfinite(opens) else cut
    data = shift.series.values
    values = np.array(data.values, dtype=np.float64)  # a missed scrape (None) is NaN
    times = data.start + data.step * np.arange(values.size)
    shares = np.array(
        [_share(dataclasses.replace(shift, peak=float(v))) if math.isfinite(v) else math.nan for v in values],
        dtype=np.float64,
    )
    baseline = shares[(times < cut) & (times >= cut - BASELINE_SECONDS) & np.isfinite(shares)]
    window = (times >= cut) & (times <= alert_time) & np.isfinite(shares)
    if baseline.size < MIN_BASELINE_POINTS or (baseline >= FULL_SHARE).any() or not window.any():
        return shift
    full = shares[window] >= FULL_SHARE
    if not full[-1]:
        return shift
    since = int(np.flatnonzero(~full)[-1]) + 1 if (~full).any() else 0
    strength = max(shift.z, CHANGE_Z)
    scale = strength / shift.z if shift.z > 0 else math.nan
    weighted = shift.weighted * scale if math.isfinite(scale) else KIND_WEIGHT[shift.kind] * strength
    return dataclasses.replace(shift, onset=float(times[window][since]), z=strength, weighted=weighted)


def _share(shift: SeriesShift) -> float:
    share = shift.share
    return math.nan if share is None else share


def _same_place(series: SeriesEvidence) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in series.labels.items() if k != "__name__"))


def _first_change(members: Sequence[SeriesShift] | None, alert_time: float) -> float:
    """When the alerting component (`members`) first changed; the alert's start without a change."""
    onsets = [s.onset for s in members or () if s.onset is not None]
    return min(onsets, default=alert_time)


def _markets_that_came_later(
    shifts: Mapping[str, Sequence[SeriesShift]], first: float
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with a market driver's change that began after the alerting component's `first` change
    (beyond SIMULTANEOUS_SECONDS) weighed as any other signal (OTHER): it comes from outside, but too late
    to explain what fired."""
    return _weighed_as_other(
        shifts,
        SeriesKind.MARKET,
        lambda _, s: s.onset is not None and s.onset > first + SIMULTANEOUS_SECONDS,
    )


def _weighed_as_other(
    shifts: Mapping[str, Sequence[SeriesShift]], kind: SeriesKind, when: Callable[[str, SeriesShift], bool]
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each of `kind` that `when` (component, shift) picks weighed as OTHER."""
    ratio = KIND_WEIGHT[SeriesKind.OTHER] / KIND_WEIGHT[kind]
    return {
        name: [
            dataclasses.replace(s, weighted=s.weighted * ratio) if s.kind is kind and when(name, s) else s
            for s in members
        ]
        for name, members in shifts.items()
    }


def _tied(
    shifts: Mapping[str, Sequence[SeriesShift]],
    ties: Callable[[str, SeriesShift], tuple[tuple[str, str], ...]],
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each that `ties` (component, shift) names a tie for counting SHARED_LABEL_FACTOR times,
    the tie said (`tied_by`)."""
    return {
        name: [
            dataclasses.replace(s, weighted=s.weighted * SHARED_LABEL_FACTOR, tied_by=tie)
            if (tie := ties(name, s))
            else s
            for s in members
        ]
        for name, members in shifts.items()
    }


def with_predecessors(
    series: Sequence[SeriesEvidence],
    shifts: Sequence[SeriesShift | None],
    entities: Sequence[str | None],
    alert_time: float,
) -> list[SeriesShift | None]:
    """`shifts`, with a series too young to be judged on its own (a pod that replaced others: a redeploy,
    a restart under a new name) judged as the continuation of the series it replaced: the same metric of
    the same component, on the same grid, with history before the window and no points later than
    ONSET_MARGIN_SECONDS after the young one's first (so a replica added beside running ones is not
    compared with them). Before its first point the young series takes the median of theirs."""
    out = list(shifts)
    cut = alert_time - ONSET_MARGIN_SECONDS
    young = [
        (i, span)
        for i, shift in enumerate(shifts)
        if shift is None
        and entities[i]
        and (span := _span(series[i], cut)) is not None
        and span.history < MIN_BASELINE_POINTS
    ]
    if not young:  # the usual case: no series is read twice
        return out
    wanted = {(entities[i], series[i].metric) for i, _ in young}
    elders: dict[tuple[str | None, str, tuple[float, float, int]], list[_Span]] = {}
    for j, other in enumerate(series):
        kin = (entities[j], other.metric)
        if kin in wanted and (span := _span(other, cut)) is not None and span.history >= MIN_BASELINE_POINTS:
            elders.setdefault((*kin, span.grid), []).append(span)
    for i, span in young:
        key = (entities[i], series[i].metric, span.grid)
        donors = [d.values for d in elders.get(key, ()) if d.last <= span.first + ONSET_MARGIN_SECONDS]
        if donors:
            before = nan_stats.nanmedian(np.vstack(donors), axis=0)  # NaN where no predecessor has a value
            joined = np.where(np.isfinite(span.values), span.values, before)
            values = SeriesValues(span.grid[0], span.grid[1], tuple(float(v) for v in joined))
            shift = series_shift(dataclasses.replace(series[i], values=values), alert_time)
            out[i] = dataclasses.replace(shift, series=series[i], replaced_at=span.first) if shift else None
    return out


@dataclass(frozen=True)
class _Span:
    """A series' values on its grid (start, step, size), its first and last finite times, and how many
    finite points it has before the usual window (`history`)."""

    grid: tuple[float, float, int]
    values: np.ndarray
    first: float
    last: float
    history: int


def _span(series: SeriesEvidence, cut: float) -> _Span | None:
    if series.values is None or not series.available or not series.values.values:
        return None
    raw = series.values
    values = np.array(raw.values, dtype=np.float64)
    times = raw.start + raw.step * np.arange(values.size)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    when = times[finite]
    history = int(np.count_nonzero(when < cut))
    return _Span((raw.start, raw.step, values.size), values, float(when[0]), float(when[-1]), history)


def restates_the_alert(shift: SeriesShift, alert_series: SeriesEvidence | None) -> bool:
    """The shift is the alert's own series, or another of the same measure (same metric family, when it
    has one: the PnL beside the drawdown that fired, the p99 beside the p90)."""
    if alert_series is None:
        return False
    if shift.series.series_id == alert_series.series_id:
        return True
    family = metric_family(alert_series.metric, alert_series.labels)
    return (
        family is not MetricFamily.OTHER and metric_family(shift.series.metric, shift.series.labels) is family
    )


def preceding_changes(
    name: str, shifts: Mapping[str, Sequence[SeriesShift]], alert_series: SeriesEvidence | None
) -> tuple[str, ...]:
    """Other components with a change beyond noise of a CAUSE_KINDS kind (a resource, a market signal...)
    that began clearly before `name`'s first change and is strong enough to account for its
    symptoms and the alert's series (EXPLAINING_STRENGTH_RATIO); or a resource that reached its limit
    and changed no later than `name` (within SIMULTANEOUS_SECONDS): a pool with every connection in use
    explains its users' errors whatever their z, and their errors do not fill another component's pool;
    or a market driver, strong enough, that changed no later than `name`: a volume surge in the minute the
    gateway slowed down came from outside, the gateway did not make it (`_explains`). What came first,
    with or without a call graph."""
    members = shifts[name]
    onsets = [s.onset for s in members if s.onset is not None and s.kind not in LOAD_KINDS]
    if not onsets:
        return ()
    first = min(onsets)
    own = max(
        (s.weighted for s in members if s.kind in SYMPTOM_KINDS or restates_the_alert(s, alert_series)),
        default=0.0,
    )
    return tuple(
        sorted(other for other, theirs in shifts.items() if other != name and _explains(theirs, first, own))
    )


def owner_of_what_fired(evidence: Evidence, entities: Sequence[str | None]) -> str | None:
    """The component of an alert whose labels name none (`sum by (exported_namespace, ingress)`): the one
    component every series carrying all the label values it is about (`about_labels`, of those some
    series carry) belongs to, as an ingress controller's series of the Ingress `api` are its callers'
    view of `api`; None when they belong to several, or there are none."""
    values = [
        (k, v)
        for k, v in about_labels(evidence.alert.labels)
        if any(s.labels.get(k) == v for s in evidence.series)
    ]
    if not values:
        return None
    owners = {
        entity
        for s, entity in zip(evidence.series, entities, strict=True)
        if entity and all(s.labels.get(k) == v for k, v in values)
    }
    return next(iter(owners)) if len(owners) == 1 else None


def alert_label_values(evidence: Evidence) -> frozenset[tuple[str, str]]:
    """The alert's labels that say what it is about beyond components and scope (a `book`, a `desk`, a
    Kafka `topic`, a database's `datname`, a `route`): none of `_NOT_WHAT_IT_IS_ABOUT`, and only a value
    that picks some of the evidence's series out of others carrying another value of the same label
    (`book="ust-10y"` among books). A label only some exporters add, always with the same value
    (`env="prod"` on the application's series, not on cAdvisor's), tells no series apart."""
    return telling_label_values(evidence.alert.labels, (s.labels for s in evidence.series))


def telling_label_values(
    alert_labels: Mapping[str, str], label_sets: Iterable[Mapping[str, str]]
) -> frozenset[tuple[str, str]]:
    """`alert_label_values` among the series of `label_sets`."""
    values: dict[str, set[str]] = {}
    for labels in label_sets:
        for key, value in labels.items():
            values.setdefault(key, set()).add(value)
    return frozenset(
        (key, value)
        for key, value in about_labels(alert_labels)
        if value in values.get(key, ()) and len(values[key]) >= 2
    )


def about_labels(alert_labels: Mapping[str, str]) -> list[tuple[str, str]]:
    """The alert's label pairs that may say what it is about: none of `_NOT_WHAT_IT_IS_ABOUT`."""
    return [(k, v) for k, v in alert_labels.items() if v and k not in _NOT_WHAT_IT_IS_ABOUT]


def on_the_alerts_labels(
    shifts: Mapping[str, Sequence[SeriesShift]], evidence: Evidence, alerting: str | None
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each series of another component than the alerting one that carries one of the
    alert's `alert_label_values` counting SHARED_LABEL_FACTOR times: exporters that share only such a label
    (the book's market data, the book's PnL) are tied by it to what fired, as a call graph ties a callee;
    a CPU burst in a batch job that carries none of them is not, nor a series of the metric the alert's
    expression reads (`in_expression`): that is what fired. A component an alert's label names (`source=
    "ny4-fixgw-02"` on the risk engine's stale drop copy: that host's, or its targets' `ny4-fixgw-02:9100`)
    is tied by it in all its series."""
    values = sorted(alert_label_values(evidence))
    naming = named_by_the_alert(evidence.alert.labels)
    if not values and not naming:
        return {name: list(members) for name, members in shifts.items()}
    expr = evidence.alert.expr or ""
    return _tied(
        shifts,
        lambda name, s: (
            (
                tuple((k, v) for k, v in values if s.series.labels.get(k) == v)
                or naming.get(address_host(name), ())
            )
            if name != alerting and not in_expression(s.series.metric, expr)
            else ()
        ),
    )


def named_by_the_alert(alert_labels: Mapping[str, str]) -> dict[str, tuple[tuple[str, str], ...]]:
    """The components an alert's labels name beside what fired (`about_labels`): by each value, the label
    that names it."""
    return {v: ((k, v),) for k, v in about_labels(alert_labels)}


def _what_fired_elsewhere(
    shifts: Mapping[str, Sequence[SeriesShift]], evidence: Evidence, alerting: str | None
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each of another component than the alerting one that is what fired counting nothing:
    a series of a metric the alert's expression reads (`in_expression`) that carries the alert's label
    values, of a kind that is no resource of its own (a queue's backlog under `sum by (queue)`, a rate, a
    latency): what needs explaining is not its component's cause."""
    values = alert_label_values(evidence)
    expr = evidence.alert.expr or ""

    def fired(name: str, s: SeriesShift) -> bool:
        labels = s.series.labels
        return (
            name != alerting
            and s.kind not in CAUSE_KINDS
            and in_expression(s.series.metric, expr)
            and any(labels.get(k) == v for k, v in values)
            and all(labels.get(k, v) == v for k, v in values)
        )

    return {
        name: [dataclasses.replace(s, weighted=0.0) if fired(name, s) else s for s in members]
        for name, members in shifts.items()
    }


def in_expression(metric: str, expr: str) -> bool:
    """Whether the alert's expression `expr` names `metric`: a series of it that carries the alert's label
    values is what fired (`sum by (queue) (rabbitmq_queue_messages_ready)`), not something tied to it."""
    return bool(metric) and re.search(rf"(?<![\w:]){re.escape(metric)}(?![\w:])", expr) is not None


def hosts_of(
    alerting: str | None, series: Sequence[SeriesEvidence], entities: Sequence[str | None]
) -> set[str]:
    """The nodes the alerting component's pods run on, as its own series name them (the kubelet's
    `node` on cAdvisor's series of its pods), or off Kubernetes the hosts its targets run on (a
    relabelling's or Telegraf's `host`)."""
    if alerting is None:
        return set()
    return {
        node
        for s, entity in zip(series, entities, strict=True)
        if entity == alerting
        for key in MACHINE_LABELS
        if (node := s.labels.get(key)) and node != alerting
    }


def nodes_named(series: Iterable[SeriesEvidence]) -> set[str]:
    """The nodes the evidence's series place pods on (`HOST_LABELS`)."""
    return {node for s in series for key in HOST_LABELS if (node := s.labels.get(key))}


def _nodes_use_as_load(
    shifts: Mapping[str, Sequence[SeriesShift]], nodes: Collection[str]
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each of `nodes`' saturation short of its limit weighed as any other signal (OTHER):
    a node's CPU, memory or connections below their limit add up its pods' own load, an effect of theirs as
    much as a cause (a busier node's softirq time rose with a deploy's traffic). At its limit (a full
    conntrack table, its file descriptors) it is what every pod on it runs short of."""
    return _weighed_as_other(shifts, SeriesKind.SATURATION, lambda name, s: name in nodes and not s.at_limit)


def on_the_alerts_nodes(
    shifts: Mapping[str, Sequence[SeriesShift]], hosts: Collection[str]
) -> dict[str, list[SeriesShift]]:
    """`shifts`, with each resource at its limit of a node the alerting component runs on (`hosts_of`)
    counting SHARED_LABEL_FACTOR times, as a series carrying the alert's label values does: a node's full
    conntrack table, its file descriptors or its disk are its pods' too. Below its limit a node's use (its
    CPU, its connections) adds up its pods' own load, the alerting one's with it: an effect as much as a
    cause, not tied."""
    return _tied(
        shifts, lambda name, s: (("node", name),) if name in hosts and s.at_limit and not s.tied_by else ()
    )


def _explains(shifts: Iterable[SeriesShift], first: float, own: float) -> bool:
    """One of `shifts` (of a CAUSE_KINDS kind, beyond noise) can explain a component that first changed at
    `first` with symptoms of strength `own`: it began clearly before and is strong enough; or it began
    no later (within SIMULTANEOUS_SECONDS) and is a resource at its limit, or a market driver strong
    enough (nothing in the system moves the market: one that moved with the component moved it)."""
    for s in shifts:
        if s.kind not in CAUSE_KINDS or s.z < CHANGE_Z or s.onset is None:
            continue
        strong = s.weighted >= EXPLAINING_STRENGTH_RATIO * own
        if s.onset < first - SIMULTANEOUS_SECONDS and strong:
            return True
        simultaneous = s.onset <= first + SIMULTANEOUS_SECONDS
        if simultaneous and (s.at_limit or (s.kind is SeriesKind.MARKET and strong)):
            return True
    return False


def _below_explanation(
    entity: RankedEntity, ranked: Sequence[RankedEntity], first: Sequence[str]
) -> RankedEntity:
    """`entity` (the alerting component) with its symptoms counting no more than the strongest of the
    components that changed `first` and explain them: an explained symptom does not outrank its explanation
    (a tie goes to what changed first)."""
    return _capped(entity, max(e.score for e in ranked if e.name in first), SYMPTOM_KINDS)


def _errors_elsewhere(name: str, shifts: Mapping[str, Sequence[SeriesShift]]) -> bool:
    """Another component's errors or availability moved beyond noise: something else could have made the
    alerting component's errors (errors travel as errors; a callee that only slowed down returns none)."""
    return any(
        s.kind in (SeriesKind.ERRORS, SeriesKind.AVAILABILITY) and s.z >= CHANGE_Z
        for other, members in shifts.items()
        if other != name
        for s in members
    )


def _entity(
    name: str,
    members: Sequence[SeriesShift],
    shifts: Mapping[str, Sequence[SeriesShift]],
    graph: CallGraph,
    alerting: bool,
    own_errors: bool = False,
) -> RankedEntity:
    """`own_errors`: the alerting component's errors count fully (nothing else's errors moved, and
    nothing else changed clearly before it: `preceding_changes`)."""
    explained_by = _explaining_callees(name, members, shifts, graph)
    discount = SYMPTOM_DISCOUNT if explained_by or alerting else 1.0
    scored = sorted(
        (s if own_errors and s.kind is SeriesKind.ERRORS else _discounted(s, discount) for s in members),
        key=lambda s: (-s.weighted, s.series.series_id),
    )
    onsets = [s.onset for s in scored if s.onset is not None]
    return RankedEntity(
        name=name,
        score=entity_score(scored),
        onset=min(onsets) if onsets else None,
        shifts=tuple(scored),
        explained_by=explained_by,
    )


def entity_score(shifts: Sequence[SeriesShift]) -> float:
    """A component's score: its strongest weighted shift (`shifts` sorted strongest first)."""
    return shifts[0].weighted if shifts else 0.0


def _discounted(shift: SeriesShift, factor: float) -> SeriesShift:
    if factor == 1.0 or shift.kind not in SYMPTOM_KINDS:
        return shift
    return dataclasses.replace(shift, weighted=shift.weighted * factor)


def _symptom_strength(members: Iterable[SeriesShift]) -> float:
    return max((s.weighted for s in members if s.kind in SYMPTOM_KINDS), default=0.0)


def _explaining_callees(
    name: str, members: Sequence[SeriesShift], shifts: Mapping[str, Sequence[SeriesShift]], graph: CallGraph
) -> tuple[str, ...]:
    """Callees whose strongest shift is strong enough to account for this component's symptoms."""
    own = _symptom_strength(members)
    if not graph or own < CHANGE_Z:
        return ()
    callees = graph.effective_callees(name, set(shifts))
    return tuple(
        sorted(
            c
            for c in callees
            if max((s.weighted for s in shifts[c]), default=0.0) >= EXPLAINING_STRENGTH_RATIO * own
        )
    )
