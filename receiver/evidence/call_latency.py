"""Per-call latency from a service mesh or a trace pipeline, as each side of the call measured it.

The caller's proxy (Istio's `reporter="source"`, Linkerd's outbound, Tempo's client spans) times the whole
call: the network both ways and the callee's work. The callee's proxy times only the callee's work. Each
result series becomes a related series named `call_latency`, labelled `callee`, `caller` (when the query
names it) and `measured_by`, whose component is the callee: the analyst can tell a slow callee (both sides
rose) from a slow path to it (only the caller's side rose). The calls also join the call graph.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence, Set
from dataclasses import replace

from analyst.builtin.topology import merge_graphs
from receiver.evidence.call_graph import UNKNOWN_PEERS
from receiver.evidence.fetching import RATE_INTERVALS, Fetched, FetchScope
from receiver.evidence.promql import TemplateError, quote, render_template
from receiver.evidence.settings import CALLS_TOKEN, RATE_WINDOW_TOKEN, CallLatencyQuery, CallLatencySpec
from receiver.evidence.source import MetricSourceError, SeriesData

CALL_LATENCY_METRIC = "call_latency"


async def fetch_call_latency(
    labels: Mapping[str, str], scope: FetchScope, queries: Sequence[CallLatencyQuery], components: Set[str]
) -> list[Fetched]:
    """The per-call latency series of the queries matching the alert, of the calls to or from
    `components` where a query says where (`{{ $calls }}`). A query that fails or cannot be filled in
    becomes a note."""
    specs = [spec for q in queries if q.matches(labels) for spec in q.specs()]
    groups = await asyncio.gather(*(_fetch(spec, labels, scope, components) for spec in specs))
    fetched = [f for group in groups for f in group]
    answered = [spec.name for spec, group in zip(specs, groups, strict=True) if group]
    if answered:
        scope.notes.append(f"call latency from {', '.join(answered)}: {len(fetched)} series")
    return fetched


def scoped(query: str, spec: CallLatencySpec, components: Set[str]) -> list[str]:
    """`query` with `{{ $calls }}` filled in: once for the calls to `components` and, when the query names
    the caller, once for their calls to others (PromQL cannot "or" two labels in one selector). Without
    the token, the query as it is; without components, nothing."""
    if not CALLS_TOKEN.search(query):
        return [query]
    if not components:
        return []
    names = quote("|".join(re.escape(c) for c in sorted(components)))
    to = f"{spec.callee_label}=~{names}"
    matchers = (
        [to]
        if spec.caller_label is None
        else [to, f"{spec.caller_label}=~{names},{spec.callee_label}!~{names}"]
    )
    return [_filled(query, m) for m in matchers]


def _filled(query: str, matchers: str) -> str:
    """`{{ $calls }}` replaced by `matchers` as they are (a replacement string would read their escapes)."""
    return CALLS_TOKEN.sub(lambda _: matchers, query)


def touching(calls: Sequence[Fetched], components: Set[str], notes: list[str]) -> list[Fetched]:
    """The calls from or to one of `components` (those the incident's other series describe): a mesh holds
    every service's calls, and the rest are other teams' news. A note says how many were left out."""
    kept = [f for f in calls if {f.data.labels["callee"], f.data.labels.get("caller")} & components]
    if len(kept) < len(calls):
        notes.append(
            f"call latency: kept the {len(kept)} of {len(calls)} series to or from this incident's components"
        )
    return kept


def calls_of(fetched: Sequence[Fetched]) -> dict[str, tuple[str, ...]]:
    """Caller -> callees of the per-call series that name both."""
    edges = [
        {f.data.labels["caller"]: (f.data.labels["callee"],)} for f in fetched if "caller" in f.data.labels
    ]
    return merge_graphs(edges)


def call_series(data: SeriesData, spec: CallLatencySpec, query: str) -> Fetched | None:
    """One result series as a `call_latency` series of its callee; None for unknown peers and self-calls."""
    callee = data.labels.get(spec.callee_label, "")
    caller = data.labels.get(spec.caller_label, "") if spec.caller_label else None
    if callee in UNKNOWN_PEERS or caller in UNKNOWN_PEERS or caller == callee:
        return None
    named = {"__name__": CALL_LATENCY_METRIC, "callee": callee, "measured_by": spec.measured_by}
    if caller:
        named["caller"] = caller
    return Fetched(replace(data, labels=named), "related", query, CALL_LATENCY_METRIC, component=callee)


async def _fetch(
    spec: CallLatencySpec, labels: Mapping[str, str], scope: FetchScope, components: Set[str]
) -> list[Fetched]:
    try:
        query = render_template(spec.query, labels)
    except TemplateError as exc:
        scope.notes.append(f"call latency {spec.name!r} skipped: {exc}")
        return []
    out: list[Fetched] = []
    try:
        if RATE_WINDOW_TOKEN.search(query):
            query = RATE_WINDOW_TOKEN.sub(f"{await _rate_window(spec, scope):g}s", query)
        for part in scoped(query, spec, components):
            out.extend(f for data in await scope.query_range(part) if (f := call_series(data, spec, part)))
    except MetricSourceError as exc:
        scope.notes.append(f"call latency {spec.name!r} unavailable ({exc})")
        return []
    return out


async def _rate_window(spec: CallLatencySpec, scope: FetchScope) -> float:
    """The rate() window of the spec's counter; without one, `context.rate_window_seconds` or the floor
    `counter_rate_window` keeps (RATE_INTERVALS query steps, at least 60 s)."""
    if spec.counter:
        return await scope.rate_span(spec.counter)
    return scope.settings.rate_window_seconds or max(RATE_INTERVALS * scope.window.step, 60.0)
