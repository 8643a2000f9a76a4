"""Per-call latency from a service mesh or a trace pipeline, as each side of the call measured it.

The caller's proxy (Istio's `reporter="source"`, Linkerd's outbound, Tempo's client spans) times the whole
call: the network both ways and the callee's work. The callee's proxy times only the callee's work. Each
result series becomes a related series named `call_latency` (`analyst.builtin.calls`), labelled `callee`,
`caller` (when the query names it) and `measured_by`, whose component is the callee: the analyst can
tell a slow callee (both sides rose) from a slow path to it (only the caller's side rose). The calls
also join the call graph.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, replace

from analyst.builtin.calls import CALL_LATENCY_METRIC, CALLEE, CALLER, MEASURED_BY
from analyst.builtin.topology import merge_graphs
from receiver.evidence.call_graph import UNKNOWN_PEERS
from receiver.evidence.fetching import Fetched, FetchScope, rate_floor
from receiver.evidence.promql import (
    TemplateError,
    fill_token,
    label_name,
    or_absent,
    quote,
    range_duration,
    render_template,
)
from receiver.evidence.settings import CALLS_TOKEN, RATE_WINDOW_TOKEN, CallLatencyQuery, CallLatencySpec
from receiver.evidence.source import MetricSourceError, SeriesData, gather_then_raise


async def fetch_call_latency(
    labels: Mapping[str, str],
    scope: FetchScope,
    queries: Sequence[CallLatencyQuery],
    components: Set[str],
    namespace: str | None = None,
) -> list[Fetched]:
    """The per-call latency series of the queries matching the alert, of the calls to or from
    `components` (in `namespace`, where the query's side names one) where a query says where
    (`{{ $calls }}`). A query that fails, cannot be filled in or finds nothing becomes a note."""
    specs = [spec for q in queries if q.matches(labels) for spec in q.specs()]
    where = Where(components, namespace)
    windows = await _rate_windows(specs, scope, where)
    groups = list(await asyncio.gather(*(_fetch(spec, labels, scope, where, windows) for spec in specs)))
    # A side that names no caller (Linkerd's inbound) was asked about the components only: ask it about
    # the callees the other sides found outside them too, or those would never have a view of their own.
    outside = {f.data.labels[CALLEE] for g in groups for f in g or () if CALLER in f.data.labels} - set(
        components
    )
    blind = [i for i, spec in enumerate(specs) if spec.caller_label is None and groups[i] is not None]
    if outside and blind:
        more = await asyncio.gather(
            *(_fetch(specs[i], labels, scope, Where(outside, None), windows) for i in blind)
        )
        for i, extra in zip(blind, more, strict=True):
            groups[i] = [*(groups[i] or ()), *(extra or ())]
    for spec, group in zip(specs, groups, strict=True):
        if group == []:
            scope.notes.append(f"call latency {spec.name!r}: no series of this incident's calls")
    fetched = [f for group in groups for f in group or ()]
    answered = [spec.name for spec, group in zip(specs, groups, strict=True) if group]
    if answered:
        scope.notes.append(f"call latency from {', '.join(answered)}: {len(fetched)} series")
    return fetched


@dataclass(frozen=True)
class Where:
    """The incident's end of its calls: its components, in `namespace` when known."""

    components: Set[str]
    namespace: str | None = None

    def end(self, name_label: str, namespace_label: str | None) -> str:
        """Matchers of a call end among the components: `name=~"a|b"`, and where the spec names the end's
        namespace label, that label at the namespace or absent."""
        out = f"{label_name(name_label)}=~{_alternatives(self.components)}"
        if namespace_label and self.namespace:
            out += f",{or_absent(namespace_label, self.namespace)}"
        return out


def scoped_queries(query: str, spec: CallLatencySpec, where: Where) -> list[str]:
    """`query` with `{{ $calls }}` filled in: once for the calls to the components and, when the query names
    the caller, once for their calls to others (PromQL cannot "or" two labels in one selector); the
    components' end kept to the namespace (a same-named workload in another namespace is another
    deployment). Without the token, the query as it is; without components, nothing."""
    if not CALLS_TOKEN.search(query):
        return [query]
    if not where.components:
        return []
    to = where.end(spec.callee_label, spec.callee_namespace_label)
    if spec.caller_label is None:
        return [_filled(query, to)]
    names = _alternatives(where.components)
    callee = label_name(spec.callee_label)
    others = f"{where.end(spec.caller_label, spec.caller_namespace_label)},{callee}!~{names}"
    return [_filled(query, to), _filled(query, others)]


def calls_touching(calls: Sequence[Fetched], components: Set[str], notes: list[str]) -> list[Fetched]:
    """The calls from or to one of `components` (those the incident's other series describe), and a
    callee's own view of its calls where one of them calls it: a mesh holds every service's calls, and the
    rest are other teams' news. A note says how many were left out."""
    called = {f.data.labels[CALLEE] for f in calls if f.data.labels.get(CALLER) in components}
    kept = [
        f
        for f in calls
        if f.data.labels.get(CALLER) in components or f.data.labels[CALLEE] in called | components
    ]
    if len(kept) < len(calls):
        notes.append(
            f"call latency: kept the {len(kept)} of {len(calls)} series to or from this incident's components"
        )
    return kept


def calls_of(fetched: Sequence[Fetched]) -> dict[str, tuple[str, ...]]:
    """Caller -> callees of the per-call series that name both."""
    edges = [{f.data.labels[CALLER]: (f.data.labels[CALLEE],)} for f in fetched if CALLER in f.data.labels]
    return merge_graphs(edges)


def call_series(data: SeriesData, spec: CallLatencySpec, query: str) -> Fetched | None:
    """One result series as a `call_latency` series of its callee; None for unknown peers and self-calls."""
    callee = data.labels.get(spec.callee_label, "")
    caller = data.labels.get(spec.caller_label, "") if spec.caller_label else None
    if callee in UNKNOWN_PEERS or caller in UNKNOWN_PEERS or caller == callee:
        return None
    named = {"__name__": CALL_LATENCY_METRIC, CALLEE: callee, MEASURED_BY: spec.measured_by}
    if caller:
        named[CALLER] = caller
    return Fetched(replace(data, labels=named), "related", query, CALL_LATENCY_METRIC, component=callee)


def _alternatives(components: Set[str]) -> str:
    """A quoted, escaped regex alternation of `components`."""
    return quote("|".join(re.escape(c) for c in sorted(components)))


def _filled(query: str, matchers: str) -> str:
    """`{{ $calls }}` replaced by `matchers`."""
    return fill_token(CALLS_TOKEN, query, matchers)


async def _fetch(
    spec: CallLatencySpec,
    labels: Mapping[str, str],
    scope: FetchScope,
    where: Where,
    windows: Mapping[str, float],
) -> list[Fetched] | None:
    """One spec's series: its query filled in (alert labels, rate window, the calls `where` says) and run;
    None (and a note) when it could not be filled in or failed."""
    try:
        query = render_template(spec.query, labels)
    except TemplateError as exc:
        scope.notes.append(f"call latency {spec.name!r} skipped: {exc}")
        return None
    query = RATE_WINDOW_TOKEN.sub(range_duration(windows.get(spec.name, _floor(scope))), query)
    out: list[Fetched] = []
    try:
        for part in scoped_queries(query, spec, where):
            out.extend(f for data in await scope.query_range(part) if (f := call_series(data, spec, part)))
    except MetricSourceError as exc:
        scope.notes.append(f"call latency {spec.name!r} unavailable ({exc})")
        return None
    return out


async def _rate_windows(
    specs: Sequence[CallLatencySpec], scope: FetchScope, where: Where
) -> dict[str, float]:
    """Per spec that needs one, the rate() window of its counter: `context.rate_window_seconds`, else 2.5
    scrape intervals measured on the incident's calls only (a mesh holds thousands of such series; one
    probe per counter and callee label), else the floor."""
    wanted = {
        spec.name: f"{spec.counter}{{{where.end(spec.callee_label, spec.callee_namespace_label)}}}"
        for spec in specs
        if spec.counter and where.components and RATE_WINDOW_TOKEN.search(spec.query)
    }
    if not wanted:
        return {}
    probes = sorted(set(wanted.values()))
    try:
        found = await gather_then_raise(scope.rate_span(p) for p in probes)
    except MetricSourceError as exc:
        scope.notes.append(f"call latency: scrape interval unknown ({exc}); rate() over the floor")
        return {}
    by_probe = dict(zip(probes, found, strict=True))
    return {name: by_probe[probe] for name, probe in wanted.items()}


def _floor(scope: FetchScope) -> float:
    """`context.rate_window_seconds`, else the shortest rate() window (`rate_floor`)."""
    return scope.settings.rate_window_seconds or rate_floor(scope.window)
