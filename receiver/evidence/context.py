"""`collect_alert_context`: fetch the alert's series, related and configured context series, explain them.

Steps: (1) the alert's expression from generatorURL `g0.expr` (parsed, never fetched), or the
rule of the same name in /api/v1/rules, with its outer comparison stripped; (2) series sharing
the alert's identifying labels (external, rule-added and `alertname` labels dropped first),
counters under `rate()`; (3) configured context queries whose `match` fits the alert. Then
`characterize_changes` runs on a worker thread and every series gets change, correlation and
lead/lag relative to the alert's own series. Any failure marks the affected evidence
unavailable with the reason; the incident always gets an Evidence.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial

import numpy as np

from analyst.builtin.entities import (
    BASELINE_SECONDS,
    INSTANCE_LABELS,
    ONSET_MARGIN_SECONDS,
    holds_history_before,
)
from analyst.builtin.exporters import pod_in, with_subject_components, workload_of_pod
from analyst.builtin.topology import component_of, merge_graphs
from analyst.evidence import AlertInfo, Evidence, SeriesEvidence, SeriesRole, SeriesValues
from detectors.grid import align, align_range, grid
from receiver.evidence.active_since import alert_active_since
from receiver.evidence.analysis import MIN_SAMPLES, SeriesFinding, characterize, coarsened
from receiver.evidence.appeared import status_appeared
from receiver.evidence.call_graph import discover_call_graph, unmatched_graph_note
from receiver.evidence.call_latency import calls_of, calls_touching, fetch_call_latency
from receiver.evidence.deadline import DeadlineSource
from receiver.evidence.derived import fetch_limit_ratio, fetch_mean, histogram_families, limited_usage
from receiver.evidence.fetching import (
    Fetched,
    FetchScope,
    Window,
    counter_metrics,
    label_key,
    named,
    rate_floor,
    rated_selector,
)
from receiver.evidence.nodes import (
    NODE_LABELS,
    alert_pods,
    node_candidates,
    nodes_of,
    placements,
    target_hosts,
    unplaced,
)
from receiver.evidence.platform import platform_candidates
from receiver.evidence.prometheus import choose_step
from receiver.evidence.promql import (
    TemplateError,
    having_labels,
    matcher,
    parse_generator_url,
    range_duration,
    render_template,
    scoped_selector,
    selected_metrics,
    series_id,
    strip_comparison,
)
from receiver.evidence.related import Candidates, rank_related, related_candidates
from receiver.evidence.resources import ResourceInfo, joined
from receiver.evidence.screening import (
    DEFAULT_SCREEN_POINTS,
    Screened,
    ScreenQuery,
    moved_first,
    screening_window,
)
from receiver.evidence.settings import EQUIVALENT_LABELS, ContextQuery, ContextSettings
from receiver.evidence.source import (
    MetricSource,
    MetricSourceError,
    SeriesData,
    collecting_warnings,
    warning_notes,
)
from receiver.models import Incident

FATAL_KINDS = ("unreachable", "timeout", "deadline")
_FATAL_WORDS = {
    "unreachable": "unreachable",
    "timeout": "timing out",
    "deadline": "past context.deadline_seconds",
}
# The history before an alert's activation that the analyst uses for a cause starting there
# (`analyst.builtin.entities.usable_activation`).
ACTIVATION_HISTORY_SECONDS = ONSET_MARGIN_SECONDS + BASELINE_SECONDS


def context_window(
    incident: Incident, settings: ContextSettings, now: float, active_since: float | None = None
) -> Window:
    """From startsAt - lookback to endsAt (resolved) or now, on a step grid. An alert active long before it
    fired (`active_since`, a rule's long `for:`) has the window reach back to the history a cause starting
    there needs (`activation_reach`)."""
    end = incident.ends_at if incident.status == "resolved" and incident.ends_at else now
    end = min(end, now)
    start = min(incident.starts_at, end) - settings.lookback_seconds
    if active_since is not None:
        start = min(start, active_since - ACTIVATION_HISTORY_SECONDS)
    step = settings.step_seconds or choose_step(
        start, end, min_step=settings.min_step_seconds, target_points=settings.target_points
    )
    start, end = align_range(start, end, step, now)
    return Window(start, end, step)


def activation_reach(settings: ContextSettings) -> float:
    """How long before startsAt an alert's activation may lie and still have the history before it fetched
    (`context.max_lookback_seconds` less the margin and baseline hour a cause there needs)."""
    return max(settings.lookback_seconds, settings.max_lookback_seconds) - ACTIVATION_HISTORY_SECONDS


@dataclass(frozen=True, eq=False)
class AlertContext:
    """Everything fetched for one incident (the I/O half); `build_evidence` does the numeric half."""

    window: Window
    expr: str | None
    fetched: tuple[Fetched, ...]
    alert_index: int | None
    unavailable: tuple[SeriesEvidence, ...]
    notes: tuple[str, ...]
    topology: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    active_since: float | None = None

    @property
    def series_count(self) -> int:
        return len(self.fetched)


async def collect_alert_context(
    incident: Incident, source: MetricSource, settings: ContextSettings, *, now: float | None = None
) -> Evidence:
    """Evidence for one incident; never raises for metric-source failures (they become notes)."""
    context = await fetch_alert_context(incident, source, settings, now=now)
    return await asyncio.to_thread(build_evidence, incident, context, settings)


async def fetch_alert_context(
    incident: Incident, source: MetricSource, settings: ContextSettings, *, now: float | None = None
) -> AlertContext:
    """Fetch the alert's, related and context series; failures become unavailable entries and notes, and so
    do the backend's warnings (a partial response's)."""
    bounded = DeadlineSource(source, settings.deadline_seconds)
    with collecting_warnings() as warnings:
        context = await _fetch_alert_context(incident, bounded, settings, time.time() if now is None else now)
    cut = bounded.note()
    notes = [*context.notes, *([cut] if cut else []), *warning_notes(warnings)]
    return replace(context, notes=tuple(notes))


async def _fetch_alert_context(
    incident: Incident, source: DeadlineSource, settings: ContextSettings, now: float
) -> AlertContext:
    """The queries in the configured window, with the alert's activation asked beside them. An activation
    before the history that window holds for a cause starting there (a rule's long `for:`) has the queries
    asked again in a window reaching back to it."""
    notes: list[str] = []
    active_task = asyncio.ensure_future(
        alert_active_since(incident, source, notes, activation_reach(settings))
    )
    try:
        window = context_window(incident, settings, now)
        context = await _fetch_in_window(incident, source, settings, window)
        active = await active_task
    finally:
        active_task.cancel()  # no-op when done; stops it if fetching failed
    if reaches_back(settings, window, active):
        reach = context_window(incident, settings, now, active)
        context = await _reaching_back(incident, source, settings, reach, context, notes)
    return replace(context, notes=(*context.notes, *notes), active_since=active)


async def _reaching_back(
    incident: Incident,
    source: DeadlineSource,
    settings: ContextSettings,
    window: Window,
    first: AlertContext,
    notes: list[str],
) -> AlertContext:
    """The queries asked again in `window`, reaching back to the alert's activation; `first` (the configured
    window's) when the fetch's deadline leaves no time for them or cuts them short: a complete recent
    window tells more than a cut longer one."""
    cut = source.cut
    if source.passed:
        notes.append(
            "the history before the alert's activation was not fetched: past context.deadline_seconds"
        )
        return first
    again = await _fetch_in_window(incident, source, settings, window)
    if source.cut > cut:
        notes.append(
            "the history before the alert's activation was cut short by context.deadline_seconds: the"
            " configured window is diagnosed"
        )
        return first
    return again


def reaches_back(settings: ContextSettings, window: Window, active_since: float | None) -> bool:
    """Whether the window should reach back further for an activation: it lies earlier than `window` holds
    the history before it, and the configured history is at least that long (a shorter
    `context.lookback_seconds` is a choice of less history for every alert: its activation stays unused)."""
    return (
        active_since is not None
        and settings.lookback_seconds >= ACTIVATION_HISTORY_SECONDS
        and not holds_history_before(window.start, active_since)
    )


async def _fetch_in_window(
    incident: Incident, source: MetricSource, settings: ContextSettings, window: Window
) -> AlertContext:
    notes: list[str] = []
    placeholders: list[SeriesEvidence] = []
    labels = dict(incident.labels)
    span = (window.start, window.end, window.step)
    context_task = asyncio.ensure_future(
        _context_queries(labels, source, settings, window, notes, placeholders)
    )
    namespace = next(iter(scope_matchers(labels, set(), settings).values()), None)
    graph_task = asyncio.ensure_future(
        discover_call_graph(labels, source, settings.call_graph, span, notes, namespace)
    )
    scope = FetchScope(source, settings, window, notes)
    resources = ResourceInfo(scope)
    try:
        expr, alert_index, fetched = await _fetch_alert_and_related(
            incident, source, settings, window, notes, placeholders, resources
        )
        fetched = _first_of_each(fetched + await context_task)
        fetched = await _with_resources(fetched, resources)
        nodes, platform = await asyncio.gather(
            _node_series(labels, fetched, scope, placeholders),
            _platform_series(labels, fetched, scope, placeholders),
        )
        fetched = _first_of_each(fetched + nodes + platform)
        components = _components(fetched, settings)
        calls = await fetch_call_latency(labels, scope, settings.call_latency, components, namespace)
        calls = calls_touching(calls, components, notes)
        fetched = _first_of_each(fetched + calls)
        topology = merge_graphs([await graph_task, calls_of(calls)])
    finally:
        for task in (context_task, graph_task):
            task.cancel()  # no-op when done; stops them if fetching failed
    return AlertContext(
        window, expr, tuple(fetched), alert_index, tuple(placeholders), tuple(notes), topology
    )


async def _node_series(
    labels: Mapping[str, str], fetched: list[Fetched], scope: FetchScope, placeholders: list[SeriesEvidence]
) -> list[Fetched]:
    """node_exporter's series of the nodes the alert's pods run on (`receiver.evidence.nodes`), each
    belonging to its node."""
    if scope.settings.max_node_series == 0:
        return []
    keys = [k for k in scope.settings.component_labels if k not in NODE_LABELS]
    seen = [f.evidence_labels for f in fetched]
    pods = alert_pods(labels, keys, seen)
    if missing := unplaced(pods, seen):
        try:
            seen += await placements(missing, scope)
        except MetricSourceError as exc:
            scope.notes.append(f"where pods {', '.join(sorted(missing))} run unavailable ({exc})")
    nodes = nodes_of(labels, pods, seen) or ({} if pods else target_hosts(labels, keys, seen))
    if not nodes:
        return []
    try:
        found = await node_candidates(nodes, fetched, scope)
    except MetricSourceError as exc:
        scope.notes.append(f"the series of node {', '.join(sorted(nodes))} unavailable ({exc})")
        return []
    node_of = {label_key(item): node for node, item in found}
    items = [item for _, item in found]
    names = frozenset(item["__name__"] for item in items)
    series = await fetch_candidates(items, names, scope, placeholders)
    return [on_node(f, node_of.get(label_key(f.data.labels))) for f in series]


def on_node(fetched: Fetched, node: str | None) -> Fetched:
    """A node's series as its node's, the node named beside its own labels (`joined`) when none of them
    does: node_exporter's series carry its scrape target's address, and the analyst weighs a node's use
    short of its limit as its pods' load only when it knows the series is a node's."""
    if node is None:
        return fetched
    named = any(fetched.evidence_labels.get(key) for key in NODE_LABELS)
    joined = fetched.joined if named else {**fetched.joined, NODE_LABELS[0]: node}
    return replace(fetched, component=node, joined=joined)


async def _platform_series(
    labels: Mapping[str, str], fetched: list[Fetched], scope: FetchScope, placeholders: list[SeriesEvidence]
) -> list[Fetched]:
    """The failed probes' and the cluster DNS' series (`receiver.evidence.platform`)."""
    try:
        items = await platform_candidates(labels, fetched, scope)
    except MetricSourceError as exc:
        scope.notes.append(f"the DNS and probe series unavailable ({exc})")
        return []
    names = frozenset(item["__name__"] for item in items)
    return await fetch_candidates(items, names, scope, placeholders)


async def _with_resources(fetched: list[Fetched], resources: ResourceInfo) -> list[Fetched]:
    """Each series with the resource labels its info series adds (`resources.joined`)."""
    found = await resources.of(f.data.labels for f in fetched)
    return [replace(f, joined=extra) if (extra := joined(f.data.labels, found)) else f for f in fetched]


# Labels that never name a workload a mesh names: an instance's (a pod, a container, a target) and a node.
_NOT_WORKLOADS = frozenset({*INSTANCE_LABELS, "k8s_container_name", "node"})


def _components(fetched: Sequence[Fetched], settings: ContextSettings) -> set[str]:
    """The workloads the fetched series may describe, as a mesh names them: each component label's value
    but an instance's, and the workload of each pod."""
    names: set[str] = set()
    keys = [k for k in settings.component_labels if k not in _NOT_WORKLOADS]
    for f in fetched:
        labels = f.evidence_labels
        names.update(labels[k] for k in keys if labels.get(k))
        if pod := pod_in(labels):
            names.add(workload_of_pod(pod))
    return names


def _fetched_id(fetched: Fetched) -> str:
    """The id the analyst and the reader see: the series' labels, named by the metric when unnamed."""
    labels = fetched.data.labels
    return series_id(labels, fetched.metric if "__name__" not in labels else None)


def _first_of_each(fetched: Sequence[Fetched]) -> list[Fetched]:
    """Each series once (by the id the analyst and the reader see): a context query that returns a series
    already fetched as the alert's or a related one adds nothing. The alert's series, first, stays first."""
    seen: set[str] = set()
    out = []
    for f in fetched:
        sid = _fetched_id(f)
        if sid not in seen:
            seen.add(sid)
            out.append(f)
    return out


def build_evidence(incident: Incident, context: AlertContext, settings: ContextSettings) -> Evidence:
    """Characterize every fetched series against the alert's (CPU-bound: call it from a thread)."""
    window = context.window
    timestamps = grid(window.start, window.end, window.step)
    values = align([f.data for f in context.fetched], timestamps, window.step)
    values = status_appeared(values, [f.data.labels for f in context.fetched], MIN_SAMPLES)
    findings = characterize(
        timestamps, values, context.alert_index, window.step, max_lag_seconds=settings.max_lag_seconds
    )
    series = with_subject_components(
        [
            _series_evidence(f, finding, settings, points, _flat_level(row))
            for f, finding, points, row in zip(
                context.fetched,
                findings,
                _values(timestamps, values, window.step, settings),
                values,
                strict=True,
            )
        ]
    )
    alert_index = context.alert_index
    if alert_index is not None and incident.source == "detector":
        series[alert_index] = detector_finding(series[alert_index], incident)
    unmatched = unmatched_graph_note(context.topology, filter(None, map(component_of, series)))
    return Evidence(
        incident_id=incident.id,
        alert=alert_info(incident, context.expr, context.active_since),
        series=tuple(_order(series, alert_index)) + context.unavailable,
        window_start=context.window.start,
        window_end=context.window.end,
        alert_series_id=series[alert_index].series_id if alert_index is not None else None,
        notes=(*context.notes, unmatched) if unmatched else context.notes,
        topology=dict(context.topology),
    )


async def _fetch_alert_and_related(
    incident: Incident,
    source: MetricSource,
    settings: ContextSettings,
    window: Window,
    notes: list[str],
    placeholders: list[SeriesEvidence],
    resources: ResourceInfo,
) -> tuple[str | None, int | None, list[Fetched]]:
    """The alert's series and its peers, then the related series. The backend's external labels (left out
    of the related lookups) are asked beside the alert's expression, not before it: a backend that hangs
    costs one timeout, not two."""
    external = asyncio.ensure_future(_detected_external_labels(source, settings))
    try:
        expr, alert_index, fetched, drop, fatal = await _alert_and_peers(
            incident, source, settings, window, notes, placeholders
        )
        if fatal is not None:
            notes.append(f"related series skipped: the metric source is {_FATAL_WORDS[fatal.kind]}")
            return expr, alert_index, fetched
        drop |= await external
    finally:
        external.cancel()  # no-op when done; stops it when the source failed
    labels = dict(incident.labels)
    if alert_index is not None:
        drop |= set(labels) - set(fetched[alert_index].data.labels)
    # the alert's resource attributes find what its own labels cannot (its pod's cAdvisor series)
    own = fetched[alert_index].data.labels if alert_index is not None else labels
    labels = {**joined(own, await resources.of([own])), **labels}
    fetched += await _related_series(
        labels, drop, expr, fetched, source, settings, window, notes, placeholders
    )
    return expr, alert_index, fetched


async def _detected_external_labels(source: MetricSource, settings: ContextSettings) -> set[str]:
    """The backend's external labels (`context.detect_external_labels`); none when it cannot say."""
    if not settings.detect_external_labels:
        return set()
    try:
        return set(await source.external_labels())
    except MetricSourceError:
        return set()


async def _alert_and_peers(
    incident: Incident,
    source: MetricSource,
    settings: ContextSettings,
    window: Window,
    notes: list[str],
    placeholders: list[SeriesEvidence],
) -> tuple[str | None, int | None, list[Fetched], set[str], MetricSourceError | None]:
    """(expression, index of the alert's series, it and its peers, the labels the related lookups leave
    out, the failure that leaves the source unusable) of the alert."""
    labels = dict(incident.labels)
    expr, rule_labels = await _alert_expression(incident, source, notes)
    if expr is not None and (size := len(expr.encode("utf-8", "surrogatepass"))) > settings.max_query_length:
        # longer than any query sent (and read on the event loop): not a rule's expression, not asked
        notes.append(
            f"alert expression not queried: {size} bytes, longer than context.max_query_length"
            f" ({settings.max_query_length})"
        )
        expr = None
    drop = {"alertname"} | set(settings.external_labels) | set(rule_labels)
    fetched: list[Fetched] = []
    alert_index: int | None = None
    if expr is None:
        return expr, alert_index, fetched, drop, None
    base = strip_comparison(expr)
    try:
        expr, rule_labels, query, results = await _expression_or_rule(
            incident, expr, rule_labels, labels, drop, FetchScope(source, settings, window, notes)
        )
    except MetricSourceError as exc:
        notes.append(f"alert expression unavailable ({exc})")
        placeholders.append(_unavailable(f"expr:{base}", base, "alert", base, exc))
        return expr, alert_index, fetched, drop, exc if exc.kind in FATAL_KINDS else None
    base, drop = strip_comparison(expr), drop | set(rule_labels)
    alert_index, fetched = _alert_series(results, labels, query)
    if alert_index is not None:
        fetched = _in_scope(fetched, scope_matchers(labels, set(), settings), notes)
    if len(fetched) > settings.max_peer_series + 1:
        notes.append(f"kept {settings.max_peer_series} of {len(fetched) - 1} other series of the expression")
        fetched = fetched[: settings.max_peer_series + 1]
    if not results:
        notes.append(f"the alert expression returned no data in the window: {base}")
    elif alert_index is None:
        notes.append("could not tell which result series of the alert expression fired")
    return expr, alert_index, fetched, drop, None


async def _alert_expression(
    incident: Incident, source: MetricSource, notes: list[str]
) -> tuple[str | None, Mapping[str, str]]:
    expr = parse_generator_url(incident.generator_url)
    if expr is not None:
        return expr, {}
    return await _rule_expression(incident, source, notes, "no PromQL in generatorURL")


async def _rule_expression(
    incident: Incident, source: MetricSource, notes: list[str], why: str
) -> tuple[str | None, Mapping[str, str]]:
    """The expression and labels of the alerting rule named like the alert (its labels agreeing, when one
    does), from the source's rules; `why` it was looked up opens the note said of it."""
    try:
        rules = await source.rules()
    except MetricSourceError as exc:
        notes.append(f"{why} and /api/v1/rules unavailable ({exc})")
        return None, {}
    candidates = [r for r in rules if r.type == "alerting" and r.name == incident.alertname]
    fitting = [r for r in candidates if all(incident.labels.get(k) == v for k, v in r.labels.items())]
    chosen = next(iter(fitting or candidates), None)
    if chosen is None:
        notes.append(f"{why} and no alerting rule named {incident.alertname!r}")
        return None, {}
    notes.append(f"{why}: expression taken from rule {chosen.name!r} in group {chosen.group!r}")
    return chosen.query, chosen.labels


async def _expression_or_rule(
    incident: Incident,
    expr: str,
    rule_labels: Mapping[str, str],
    labels: Mapping[str, str],
    drop: set[str],
    scope: FetchScope,
) -> tuple[str, Mapping[str, str], str, list[SeriesData]]:
    """(expression, its rule's labels, the query sent, its result series) of the alert. An expression from
    the generatorURL that the source refuses to parse (a template's placeholder, a URL cut short on its way)
    gives way to the alerting rule of the alert's name, when the source has one."""
    try:
        query, results = await _expression_series(strip_comparison(expr), labels, drop, scope)
        return expr, rule_labels, query, results
    except MetricSourceError as exc:
        if exc.kind != "bad_query" or parse_generator_url(incident.generator_url) != expr:
            raise
        refused = f"the generatorURL's PromQL was refused ({exc})"
        rule_expr, rule_labels = await _rule_expression(incident, scope.source, scope.notes, refused)
        if rule_expr is None:
            raise
    rule_drop = drop | set(rule_labels)
    query, results = await _expression_series(strip_comparison(rule_expr), labels, rule_drop, scope)
    return rule_expr, rule_labels, query, results


async def _expression_series(
    base: str, labels: Mapping[str, str], drop: set[str], scope: FetchScope
) -> tuple[str, list[SeriesData]]:
    """The result series of the alert's expression `base`, and the query that gave them. When `base` has
    too many (`up` of `up == 0` over a fleet), only those with the alert's values of the labels its series
    carry (`having_labels`): the alert's own series is still found."""
    try:
        return base, await scope.query_range(base)
    except MetricSourceError as exc:
        if exc.kind != "too_large" or not (own := await _own_labels(base, labels, drop, scope)):
            raise
        scope.notes.append(f"the alert expression has too many series ({exc}): fetched the alert's own only")
        narrowed = having_labels(base, own)
        return narrowed, await scope.query_range(narrowed)


async def _own_labels(
    base: str, labels: Mapping[str, str], drop: set[str], scope: FetchScope
) -> dict[str, str]:
    """The alert's values of the labels a result series of `base` has (one, at the window's end), but
    `drop`; {} when there is none or the source fails."""
    end, step = scope.window.end, scope.window.step
    try:
        probe = await scope.source.query_range(f"topk(1, {base})", end, end, step)
    except MetricSourceError:
        return {}
    names = {k for series in probe for k in series.labels} - drop - {"__name__"}
    return {k: v for k, v in labels.items() if k in names}


def _alert_series(
    results: Sequence[SeriesData], labels: Mapping[str, str], query: str
) -> tuple[int | None, list[Fetched]]:
    """All result series, the alert's own first (role 'alert'): no label contradicting the alert's,
    most labels in common (labels the alert lacks are tolerated)."""
    best, best_size = None, 0
    for i, data in enumerate(results):
        own = {k: v for k, v in data.labels.items() if k != "__name__"}
        if any(k in labels and labels[k] != v for k, v in own.items()):
            continue
        shared = sum(1 for k in own if k in labels)
        if shared > best_size:
            best, best_size = i, shared
    if best is None and len(results) == 1:
        best = 0
    ordered = ([results[best]] if best is not None else []) + [d for i, d in enumerate(results) if i != best]
    fetched = [
        Fetched(d, "alert" if best is not None and i == 0 else "related", query, d.metric or query)
        for i, d in enumerate(ordered)
    ]
    return (0 if best is not None else None), fetched


async def _related_series(
    labels: Mapping[str, str],
    drop: set[str],
    expr: str | None,
    already: Sequence[Fetched],
    source: MetricSource,
    settings: ContextSettings,
    window: Window,
    notes: list[str],
    placeholders: list[SeriesEvidence],
) -> list[Fetched]:
    if settings.max_related_series == 0:
        return []
    identifying = identifying_matchers(labels, drop, settings)
    if not identifying and (identifying := named_components(labels, drop, settings)):
        named = ", ".join(sorted({f"{v}" for _, v in identifying}))
        notes.append(
            f"the alert has no identifying labels: its label values ({named}) were looked up as the names"
            " of components (a consumer group, a queue or a job named after the service that owns it), and"
            " as themselves (the series of its `queue`)"
        )
        identifying = own_label_pairs(labels, drop, identifying) + identifying
    elif identifying:
        identifying += named_components(labels, drop | set(settings.identifying_labels), settings)
    scope = FetchScope(source, settings, window, notes)
    if not identifying and expr is not None and not labels_beyond(labels, drop):
        identifying = await _pairs_behind(expr, drop, scope)
    if not identifying:
        notes.append(_no_identifying_labels(labels, already, settings))
        return []
    agreed = scope_matchers(labels, drop, settings)
    try:
        found = await related_candidates(identifying, agreed, scope)
    except MetricSourceError as exc:
        notes.append(f"related series unavailable ({exc})")
        selectors = " or ".join(scoped_selector({k: v}, agreed) for k, v in identifying)
        placeholders.append(_unavailable(f"related:{selectors}", "related series", "related", selectors, exc))
        return []
    own = {k: v for k, v in labels.items() if k not in drop}  # not the labels its rule added
    candidates: Sequence[Mapping[str, str]] = rank_related(
        found.found, identifying, expr, already, settings, own
    )
    if len(candidates) > settings.max_related_series:
        matched = _matched(found, candidates, already)
        screen = await _screened(candidates, identifying, agreed, found.names, scope)
        candidates = screen.kept
        changed = f", those that changed first ({screen.moved} of {screen.screened} screened)"
        notes.append(
            f"related series limited to {settings.max_related_series} of {matched}"
            + (changed if screen.moved is not None else "")
        )
    return await fetch_candidates(candidates, found.names, scope, placeholders)


async def _screened(
    candidates: Sequence[Mapping[str, str]],
    identifying: Sequence[tuple[str, str]],
    agreed: Mapping[str, str],
    known: frozenset[str],
    scope: FetchScope,
) -> Screened:
    """`screening.moved_first` over the ranked candidates, read at the analyst's resolution at most
    (`context.max_values_per_series`); a screen the source fails leaves their ranked order."""
    settings = scope.settings
    if settings.max_screened_series <= settings.max_related_series:
        return Screened(list(candidates[: settings.max_related_series]))
    points = settings.max_values_per_series or DEFAULT_SCREEN_POINTS
    coarse = FetchScope(scope.source, settings, screening_window(scope.window, points), scope.notes)
    pool = candidates[: settings.max_screened_series]
    try:
        counters = await counter_metrics(by_metric(pool), known, coarse)
        rate = settings.rate_window_seconds or rate_floor(scope.window)
        query = ScreenQuery(identifying, agreed, counters, rate)
        return await moved_first(
            candidates, settings.max_related_series, settings.max_screened_series, query, coarse
        )
    except MetricSourceError as exc:
        scope.notes.append(f"related series not screened for change ({exc})")
        return Screened(list(candidates[: settings.max_related_series]))


async def fetch_candidates(
    candidates: Sequence[Mapping[str, str]],
    known: frozenset[str],
    scope: FetchScope,
    placeholders: list[SeriesEvidence],
) -> list[Fetched]:
    """The series of `candidates` (label sets) over the window, a query per metric name: counters under
    rate(), a histogram's mean and a use's share of its limit derived beside them (`known`: every metric
    name the lookups met, for telling counters from gauges)."""
    groups = by_metric(candidates)
    counters = await counter_metrics(groups, known, scope)
    results = await asyncio.gather(
        *(
            _fetch_group(name, members, name in counters, scope, placeholders)
            for name, members in groups.items()
        ),
        *(fetch_mean(base, members, scope) for base, members in histogram_families(groups).items()),
        *(
            fetch_limit_ratio(usage, members, limits, scope)
            for usage, (members, limits) in limited_usage(groups).items()
        ),
    )
    return [f for group in results for f in group]


def by_metric(candidates: Sequence[Mapping[str, str]]) -> dict[str, list[Mapping[str, str]]]:
    """Candidates (label sets) by metric name, in order."""
    groups: dict[str, list[Mapping[str, str]]] = {}
    for item in candidates:
        groups.setdefault(item["__name__"], []).append(item)
    return groups


def _matched(found: Candidates, candidates: Sequence[Mapping[str, str]], already: Sequence[Fetched]) -> str:
    """How many related series matched: the candidates, or when a lookup was cut, at least as many as its
    metrics counted (less the alert's own series, counted there too when it is a raw one)."""
    if found.complete:
        return str(len(candidates))
    counted_twice = sum(f.data.metric in found.names for f in already)
    return f"at least {max(len(candidates), found.matched - counted_twice)}"


def labels_beyond(labels: Mapping[str, str], drop: set[str]) -> bool:
    """Whether the alert has labels of its own beyond those of its rule and its name (`drop`): an alert
    aggregated to no label (`avg(x) != 1`) has none but `severity` and the like."""
    return any(k not in drop and k not in _NOT_NAMES for k in labels)


async def _pairs_behind(expr: str, drop: set[str], scope: FetchScope) -> list[tuple[str, str]]:
    """For an alert aggregated to no label (awesome-prometheus-alerts'
    `avg(ClickHouseMetrics_ZooKeeperSession) != 1`): the identifying (label, value) pairs of the series its
    expression selects by name, when they are a few (at most `context.max_peer_series`: an aggregation over
    a fleet is about the fleet, not about ten of its members), most specific label first. Those series are
    what fired."""
    names = selected_metrics(strip_comparison(expr))
    if not names:
        return []
    settings, window = scope.settings, scope.window
    limit = settings.max_peer_series
    selectors = [f"{{{matcher('__name__', name)}}}" for name in names]
    try:
        found = await scope.source.series(selectors, window.start, window.end, limit=limit + 1)
    except MetricSourceError as exc:
        scope.notes.append(f"the series behind the alert expression unavailable ({exc})")
        return []
    if len(found) > limit:
        scope.notes.append(
            f"the alert has no identifying labels and its expression selects more than {limit} series "
            "(context.max_peer_series): no related series"
        )
        return []
    keys = [k for k in settings.identifying_labels if k not in drop]
    pairs = sorted(
        {(k, item[k]) for item in found for k in keys if item.get(k)}, key=lambda p: (keys.index(p[0]), p[1])
    )
    if pairs:
        named = ", ".join(sorted({item.get("__name__", "") for item in found}))
        scope.notes.append(
            f"the alert has no identifying labels: those of the {len(found)} series its expression selects "
            f"({named}) were looked up"
        )
    return pairs


def _no_identifying_labels(
    labels: Mapping[str, str], already: Sequence[Fetched], settings: ContextSettings
) -> str:
    """Why no related series were looked up: the alert has no identifying label, or its series carries
    none of those it has (`absent(...)`, an aggregation without `by`), so all were taken for labels its
    rule added."""
    own = [k for k in settings.identifying_labels if labels.get(k)]
    alert = next((f for f in already if f.role == "alert"), None)
    if own and alert is not None and not set(own) & set(alert.data.labels):
        return (
            f"the alert's identifying labels ({', '.join(own)}) are not on its series (as of absent() or an "
            "aggregation without by): they were taken for labels its rule added, so no related series were "
            "looked up"
        )
    return "the alert has no identifying labels (see context.identifying_labels): no related series"


def identifying_matchers(
    labels: Mapping[str, str], drop: set[str], settings: ContextSettings
) -> list[tuple[str, str]]:
    """(label, value) pairs that find related series: identifying labels of the alert, minus `drop`
    (alertname, external labels, rule-added labels), in the configured order (most specific first), each
    followed by its equivalent among the identifying labels (`EQUIVALENT_LABELS`: OpenTelemetry's
    `k8s_namespace_name` finds cAdvisor's `namespace`) where the alert has no such label of its own."""
    return _with_equivalents(labels, drop, settings.identifying_labels)


# Labels whose values name no component: what the alert is, how bad, who gets it.
_NOT_NAMES = frozenset({"alertname", "severity", "priority", "team", "owner", "receiver", "alertstate"})
_NAME_LIKE = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{1,62}")


def named_components(
    labels: Mapping[str, str], drop: set[str], settings: ContextSettings
) -> list[tuple[str, str]]:
    """An alert's other label values that look like names, as values of the identifying labels that name
    components (`service`, `job`, `host`, `deployment`...), in their configured order. Without identifying
    labels (`sum by (consumergroup) (kafka_consumergroup_lag)`) they are all it has: a consumer group, a
    queue or a job is often named after the service that owns it. Beside them (`drop` holding the
    identifying labels), a label that names another component (`source="ny4-fixgw-02"` on the risk
    engine's stale drop copy, an `upstream`, a `peer`) finds that component's series too."""
    keys = [k for k in settings.identifying_labels if k in settings.component_labels]
    values = [
        v
        for k, v in labels.items()
        if k not in drop
        and k not in _NOT_NAMES
        and k not in settings.scope_labels
        and _NAME_LIKE.fullmatch(v)
    ]
    return [(key, value) for value in dict.fromkeys(values) for key in keys]


def own_label_pairs(
    labels: Mapping[str, str], drop: set[str], named: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """For an alert without identifying labels, its own label pairs whose values `named_components` looks
    up as names (`named`; `queue="orders"`): the series that carry them are about the same thing (the
    queue's consumers' own series, its other measures)."""
    names = {v for _, v in named}
    return [(k, v) for k, v in labels.items() if v in names and k not in drop]


def scope_matchers(labels: Mapping[str, str], drop: set[str], settings: ContextSettings) -> dict[str, str]:
    """The alert's values of `scope_labels` (minus `drop`), each also under its equivalent scope label where
    the alert has none: related series must agree with them or lack the label."""
    return dict(_with_equivalents(labels, drop, settings.scope_labels))


def _with_equivalents(
    labels: Mapping[str, str], drop: set[str], keys: Sequence[str]
) -> list[tuple[str, str]]:
    """(label, value) of each of `keys` the alert has (minus `drop`), in `keys`' order, each followed by its
    equivalents (`EQUIVALENT_LABELS`) that are among `keys` and have no value of the alert's own."""
    pairs: list[tuple[str, str]] = []
    for key in keys:
        if labels.get(key) and key not in drop:
            pairs.append((key, labels[key]))
            pairs += [
                (twin, labels[key])
                for twin in EQUIVALENT_LABELS.get(key, ())
                if twin in keys and not labels.get(twin)
            ]
    return pairs


def _in_scope(fetched: list[Fetched], scope: Mapping[str, str], notes: list[str]) -> list[Fetched]:
    """The alert series and its peers that agree with `scope` (or lack its labels): the expression's series
    in another namespace are another deployment's. A note says how many were left out."""
    kept = [fetched[0]] + [
        f for f in fetched[1:] if all(f.data.labels.get(k, v) == v for k, v in scope.items())
    ]
    if len(kept) < len(fetched):
        notes.append(f"left out {len(fetched) - len(kept)} series of the expression in another namespace")
    return kept


async def _fetch_group(
    metric: str,
    members: Sequence[Mapping[str, str]],
    counter: bool,
    scope: FetchScope,
    placeholders: list[SeriesEvidence],
) -> list[Fetched]:
    """One query per metric name (exact common labels + alternations; several when too long:
    `FetchScope.query_members`), filtered back to the members; a counter under rate()
    (`FetchScope.members_rate_span`)."""
    render = partial(rated_selector, metric, None)
    try:
        if counter:
            window = range_duration(await scope.members_rate_span(metric, members))
            render = partial(rated_selector, metric, window)
        results = await scope.query_members(members, render)
    except MetricSourceError as exc:
        query = render(members)
        placeholders.extend(_unavailable(series_id(m), metric, "related", query, exc, m) for m in members)
        return []
    wanted = {label_key(m, drop_name=True) for m in members}
    out = [
        named(data, metric, query) if counter else Fetched(data, "related", query, metric)
        for query, data in results
        if label_key(data.labels, drop_name=True) in wanted
    ]
    if counter and len(out) < len(members):
        scope.notes.append(
            f"{len(members) - len(out)} of {len(members)} {metric} series gave no rate() in the window "
            f"({render(members)}): fewer than two samples in each window (set context.rate_window_seconds)"
        )
    return out


async def _context_queries(
    labels: Mapping[str, str],
    source: MetricSource,
    settings: ContextSettings,
    window: Window,
    notes: list[str],
    placeholders: list[SeriesEvidence],
) -> list[Fetched]:
    selected = [q for q in settings.context_queries if q.matches(labels)]
    results = await asyncio.gather(
        *(_context_query(q, labels, source, settings, window, notes, placeholders) for q in selected)
    )
    return [f for group in results for f in group]


async def _context_query(
    spec: ContextQuery,
    labels: Mapping[str, str],
    source: MetricSource,
    settings: ContextSettings,
    window: Window,
    notes: list[str],
    placeholders: list[SeriesEvidence],
) -> list[Fetched]:
    try:
        query = render_template(spec.query, labels)
    except TemplateError as exc:
        notes.append(f"context query {spec.name!r} skipped: {exc}")
        return []
    try:
        results = await source.query_range(query, window.start, window.end, window.step)
    except MetricSourceError as exc:
        placeholders.append(_unavailable(f"context:{spec.name}", spec.name, spec.role, query, exc))
        return []
    if len(results) > settings.max_series_per_context_query:
        notes.append(
            f"context query {spec.name!r}: kept {settings.max_series_per_context_query} of "
            f"{len(results)} series"
        )
    return [
        Fetched(d, spec.role, query, d.metric or spec.name)
        for d in results[: settings.max_series_per_context_query]
    ]


def _values(
    timestamps: np.ndarray, rows: np.ndarray, step: float, settings: ContextSettings
) -> list[SeriesValues | None]:
    """Each row's points for the analyst (block medians beyond `max_values_per_series`)."""
    if settings.max_values_per_series == 0 or not timestamps.size:
        return [None] * len(rows)
    coarse_step, values = coarsened(rows, step, settings.max_values_per_series)
    return [SeriesValues(float(timestamps[0]), coarse_step, row) for row in values]


def _flat_level(row: np.ndarray) -> float | None:
    """The one value of a series whose every sample (two or more) has it: a limit, a size, a counter's
    zero rate. None for any other."""
    finite = row[np.isfinite(row)]
    return float(finite[0]) if finite.size >= 2 and (finite == finite[0]).all() else None


def _series_evidence(
    fetched: Fetched,
    finding: SeriesFinding,
    settings: ContextSettings,
    values: SeriesValues | None,
    flat: float | None = None,
) -> SeriesEvidence:
    """What the evidence says of one series. A flat one (`flat`: its one value) has nothing the change
    characterisation can compare, and did not change: available and not anomalous, at that level (a
    pool's maximum, beside its use, is what the analyst judges the use against)."""
    labels = fetched.evidence_labels
    base = SeriesEvidence(
        series_id=_fetched_id(fetched),
        metric=fetched.metric,
        labels=labels,
        role=fetched.role,
        query=fetched.query,
        points=finding.points,
        correlation=_finite(finding.correlation),
        lag_seconds=finding.lag_seconds,
        component=fetched.component
        or next((labels[k] for k in settings.component_labels if labels.get(k)), None),
        values=values,
    )
    change = finding.change
    if change is None and flat is not None:
        return replace(base, baseline=flat, current=flat, magnitude=0.0, z_score=0.0)
    if change is None:
        return replace(base, available=False, unavailable_reason=f"insufficient data: {finding.insufficient}")
    return replace(
        base,
        anomalous=change.anomalous,
        anomaly_type=str(change.anomaly_type) if change.anomaly_type is not None else None,
        onset=change.onset if change.anomalous else None,
        recovered=change.recovered,
        direction=change.direction,
        magnitude=_finite(change.magnitude),
        baseline=_finite(change.baseline),
        current=_finite(change.current),
        z_score=_finite(change.z_score),
        p_value=_finite(change.p_value),
        score=float(change.score),
    )


def detector_finding(series: SeriesEvidence, incident: Incident) -> SeriesEvidence:
    """A detector incident's own series as its detector judged it, where the change characterisation could
    not confirm it yet (diagnosed at once, the finding may be the newest point or two): anomalous from the
    incident's start, with the finding's direction, type, z and confidence (its annotations)."""
    if series.anomalous:
        return series
    notes = incident.annotations
    direction = notes.get("detector_direction")
    return replace(
        series,
        anomalous=True,
        onset=incident.starts_at,
        recovered=None,
        direction=direction if direction in ("up", "down") else None,  # type: ignore[arg-type]
        anomaly_type=notes.get("detector_anomaly_type") or series.anomaly_type,
        z_score=_number(notes.get("detector_z")),
        p_value=None,
        score=_number(notes.get("detector_confidence")) or 0.5,
    )


def _number(text: str | None) -> float | None:
    """A finite number written in an annotation, else None."""
    try:
        return _finite(float(text)) if text else None
    except ValueError:
        return None


def _order(series: list[SeriesEvidence], alert_index: int | None) -> list[SeriesEvidence]:
    """The alert's series first, then anomalous ones by onset, then the rest."""
    head = [series[alert_index]] if alert_index is not None else []
    rest = [s for i, s in enumerate(series) if i != alert_index]
    rest.sort(key=lambda s: (not s.anomalous, s.onset if s.onset is not None else float("inf"), -s.score))
    return head + rest


def _unavailable(
    sid: str,
    metric: str,
    role: SeriesRole,
    query: str,
    exc: MetricSourceError,
    labels: Mapping[str, str] | None = None,
) -> SeriesEvidence:
    return SeriesEvidence(
        series_id=sid,
        metric=metric,
        labels=dict(labels or {}),
        role=role,
        query=query,
        available=False,
        unavailable_reason=str(exc),
    )


def alert_info(incident: Incident, expr: str | None = None, active_since: float | None = None) -> AlertInfo:
    """The analyst's view of the alert that opened `incident`."""
    return AlertInfo(
        alertname=incident.alertname,
        status=incident.status,
        labels=dict(incident.labels),
        annotations=dict(incident.annotations),
        starts_at=incident.starts_at,
        ends_at=incident.ends_at,
        severity=incident.severity,
        expr=expr,
        source=incident.source,
        active_since=active_since,
    )


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None
