"""The call graph from the metrics backend: caller -> callee edges that service meshes (Istio, Linkerd) and
trace pipelines (Tempo's or the OpenTelemetry Collector's service graph) already export to Prometheus.

`discover_call_graph` runs the configured `context.call_graph` queries over the alert's window and merges
what they return; a query that fails or cannot be filled in becomes a note, never an error.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from analyst.builtin.topology import merge_graphs
from receiver.evidence.promql import TemplateError, fill_token, or_absent, render_template
from receiver.evidence.settings import ENDS_TOKEN, CallGraphQuery
from receiver.evidence.source import MetricSource, MetricSourceError, SeriesData

# Peer names meshes use when they cannot tell who called (Istio: "unknown").
UNKNOWN_PEERS = frozenset({"", "unknown"})
# Instants at which the window is asked (its start, end and between): edges active at any of them count.
INSTANTS = 5


def edges_from(
    results: Iterable[SeriesData], caller_label: str, callee_label: str
) -> dict[str, tuple[str, ...]]:
    """Caller -> callees (sorted) of the result series that carry a sample (self-calls and unknown peers
    dropped)."""
    edges: dict[str, set[str]] = {}
    for series in results:
        caller = series.labels.get(caller_label, "")
        callee = series.labels.get(callee_label, "")
        if caller in UNKNOWN_PEERS or callee in UNKNOWN_PEERS or caller == callee:
            continue
        if np.isfinite(series.values).any():
            edges.setdefault(caller, set()).add(callee)
    return {caller: tuple(sorted(callees)) for caller, callees in sorted(edges.items())}


def unmatched_graph_note(topology: Mapping[str, Sequence[str]], components: Iterable[str]) -> str | None:
    """A note when no node of the graph names a component of the evidence's series, as the analyst reads
    them (`analyst.builtin.topology.component_of`): the graph then cannot help it."""
    nodes = set(topology) | {callee for callees in topology.values() for callee in callees}
    named = sorted(set(components))
    if not nodes or nodes & set(named):
        return None
    return (
        f"no service of the call graph ({', '.join(sorted(nodes)[:3])}, ...) is a component of the "
        f"evidence's series ({', '.join(named[:3]) or 'none'}, ...): make the graph's caller_label / "
        "callee_label and context.component_labels name the same things"
    )


async def discover_call_graph(
    labels: Mapping[str, str],
    source: MetricSource,
    queries: Sequence[CallGraphQuery],
    span: tuple[float, float, float],
    notes: list[str],
    namespace: str | None = None,
) -> dict[str, tuple[str, ...]]:
    """The union of the edges the queries matching the alert return within `span` (start, end, step); a
    preset's edges with an end in `namespace` (or without a namespace label) where it is known."""
    selected = [q for q in queries if q.matches(labels)]
    graphs = await asyncio.gather(
        *(_call_graph_query(q, labels, source, span, notes, namespace) for q in selected)
    )
    answered = [(q, g) for q, g in zip(selected, graphs, strict=True) if g is not None]
    graph = merge_graphs(g for _, g in answered)
    if answered:
        edges = sum(len(callees) for callees in graph.values())
        notes.append(f"call graph from {', '.join(q.name for q, _ in answered)}: {edges} edges")
    return graph


async def _call_graph_query(
    spec: CallGraphQuery,
    labels: Mapping[str, str],
    source: MetricSource,
    span: tuple[float, float, float],
    notes: list[str],
    namespace: str | None,
) -> dict[str, tuple[str, ...]] | None:
    """The query's edges; None (and a note) when it could not be filled in or failed."""
    assert spec.query and spec.caller_label and spec.callee_label, "filled in by CallGraphQuery"
    try:
        query = render_template(spec.query, labels)
    except TemplateError as exc:
        notes.append(f"call graph {spec.name!r} skipped: {exc}")
        return None
    start, end, step = span
    step = max(step, (end - start) / (INSTANTS - 1))
    try:
        results = [
            series
            for part in ends_queries(query, spec.namespace_labels, namespace)
            for series in await source.query_range(part, start, end, step)
        ]
    except MetricSourceError as exc:
        notes.append(f"call graph {spec.name!r} unavailable ({exc})")
        return None
    return edges_from(results, spec.caller_label, spec.callee_label)


def ends_queries(query: str, labels: tuple[str | None, str | None], namespace: str | None) -> list[str]:
    """`query` with `{{ $ends }}` filled in: with a namespace and both ends' namespace labels, once for the
    edges whose callee is in it and once for those whose caller is (or that name no namespace: a
    same-named workload in another namespace is another deployment's); else without the token."""
    if not ENDS_TOKEN.search(query):
        return [query]
    if namespace is None or None in labels:
        return [_ENDS_WITH_COMMA.sub("", query)]
    return [fill_token(ENDS_TOKEN, query, or_absent(label, namespace)) for label in reversed(labels) if label]


# The token with the comma that separates it from other matchers, for dropping it.
_ENDS_WITH_COMMA = re.compile(rf",\s*{ENDS_TOKEN.pattern}|{ENDS_TOKEN.pattern}\s*,?")
