"""Call-graph reasoning: which component a series lives in, and which anomalous components explain others.

The graph maps caller -> callees. Faults travel against the edges: a slow or failing callee makes its
callers slow or failing, so the deepest anomalous component on an anomalous path from the alert explains
everything above it.
"""

from __future__ import annotations

import dataclasses
import re
import urllib.parse
from collections import deque
from collections.abc import Iterable, Mapping, Sequence, Set
from pathlib import Path

import yaml

from analyst.builtin.errors import DependencyGraphError
from analyst.builtin.protocols import protocol_edges
from analyst.evidence import Evidence, SeriesEvidence

COMPONENT_LABELS = (
    "component",
    "service",
    "service_name",
    "service.name",
    "app",
    "application",
    "job",
    "container",
    "deployment",
    "pod",
)
# Labels by which a series names a component its own component calls (an edge of the graph).
CALLEE_LABELS = ("peer_service", "upstream", "callee", "target_service", "remote_service", "dependency")
# Labels by which a client's series name the host it called: OpenTelemetry's `server_address` (the older
# `net_peer_name`), Spring Boot's `client_name`, Envoy's `envoy_cluster_name` (`outbound|8080||host`).
HOST_LABELS_OF_PEERS = ("server_address", "net_peer_name", "client_name", "envoy_cluster_name")
_PORT = re.compile(r":\d+$")
# A Kubernetes Service's DNS name, `<service>.<namespace>[.svc[.<cluster domain>]]`.
_SERVICE_HOST = re.compile(r"([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.svc(\..+)?)?")


def component_of(series: SeriesEvidence) -> str | None:
    """Where a series lives: its explicit component, else the first identifying label."""
    if series.component:
        return series.component
    for key in COMPONENT_LABELS:
        value = series.labels.get(key)
        if value:
            return value
    return None


def address_host(address: str) -> str:
    """The host an address names: a URL's (`https://api.psp.example:8443/v1` -> `api.psp.example`), else the
    address without its port (`10.0.1.13:9100` -> `10.0.1.13`, `[::1]:9100` -> `[::1]`)."""
    if "://" in address:
        return urllib.parse.urlsplit(address).hostname or ""
    return _PORT.sub("", address)


def peer_component(value: str, known: Mapping[str, str], namespaces: Set[str]) -> str | None:
    """The component a client's peer label names (`HOST_LABELS_OF_PEERS`), by `known` (a name or host ->
    its component): the host itself (a component, or an endpoint a blackbox probe checks), else a
    Kubernetes Service's name (`payments.shop.svc.cluster.local`, `payments.shop.svc:8080`,
    `http://payments.shop:8080`, Envoy's `outbound|8080||payments.shop.svc.cluster.local`) of a component,
    its namespace one the evidence holds or `.svc` following it. An outside host no probe checks names
    none."""
    host = address_host(value.rsplit("|", 1)[-1])
    if host in known:
        return known[host]
    if (match := _SERVICE_HOST.fullmatch(host.lower())) is None:
        return None
    service, namespace, svc = match.group(1), match.group(3), match.group(5)
    return known.get(service) if svc or namespace in namespaces else None


def known_hosts(series: Sequence[SeriesEvidence]) -> dict[str, str]:
    """Name or host -> component: each component by its own name, and the host of each URL a blackbox
    probe checks (`instance="https://api.psp.example/v1/health"`) by the probe's component."""
    known = {c: c for s in series if (c := component_of(s))}
    for s in series:
        instance = s.labels.get("instance", "")
        if s.metric.startswith("probe_") and "://" in instance and (c := component_of(s)):
            known.setdefault(address_host(instance) or c, c)
    return known


class CallGraph:
    """Caller -> callees adjacency with the few traversals the ranking needs."""

    def __init__(self, edges: Mapping[str, Iterable[str]]) -> None:
        self._callees: dict[str, tuple[str, ...]] = {}
        for caller, callees in edges.items():
            merged = dict.fromkeys((*self._callees.get(caller, ()), *callees))
            self._callees[caller] = tuple(c for c in merged if c != caller)

    @classmethod
    def from_evidence(
        cls, topology: Mapping[str, Iterable[str]], series: Iterable[SeriesEvidence]
    ) -> CallGraph:
        """Configured topology plus edges that series labels reveal (e.g. `peer_service`), and those from
        a protocol's clients to its servers (`protocols.protocol_edges`)."""
        edges: dict[str, list[str]] = {k: list(v) for k, v in topology.items()}
        series = list(series)
        known = known_hosts(series)
        namespaces = {ns for s in series if (ns := s.labels.get("namespace"))}
        for client, servers in protocol_edges((component_of(s), s) for s in series).items():
            edges.setdefault(client, []).extend(servers)
        for s in series:
            caller = component_of(s)
            named = [s.labels.get(key) for key in CALLEE_LABELS]
            hosts = (peer_component(s.labels.get(key, ""), known, namespaces) for key in HOST_LABELS_OF_PEERS)
            for callee in (*named, *hosts):
                if caller and callee and callee != caller:
                    edges.setdefault(caller, []).append(callee)
        return cls(edges)

    def __bool__(self) -> bool:
        return bool(self._callees)

    def __contains__(self, node: object) -> bool:
        return node in self._callees or any(node in v for v in self._callees.values())

    def callees(self, node: str) -> tuple[str, ...]:
        return self._callees.get(node, ())

    def callers(self, node: str) -> tuple[str, ...]:
        return tuple(caller for caller, callees in self._callees.items() if node in callees)

    def siblings(self, node: str) -> set[str]:
        """Other callees of this node's callers."""
        return {c for caller in self.callers(node) for c in self.callees(caller)} - {node}

    def distances_from(self, source: str) -> dict[str, int]:
        """Hop count from `source` to every node reachable along call edges (source itself is 0)."""
        seen = {source: 0}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for callee in self.callees(node):
                if callee not in seen:
                    seen[callee] = seen[node] + 1
                    queue.append(callee)
        return seen

    def effective_callees(self, node: str, observed: set[str]) -> set[str]:
        """Callees of `node`, looking through callees that have no data (they cannot testify either way)."""
        found: set[str] = set()
        stack = list(self.callees(node))
        seen: set[str] = set()
        while stack:
            callee = stack.pop()
            if callee in seen:
                continue
            seen.add(callee)
            if callee in observed:
                found.add(callee)
            else:
                stack.extend(self.callees(callee))
        return found

    def anomalous_paths_from(self, source: str, anomalous: set[str], observed: set[str]) -> dict[str, int]:
        """Nodes reachable from `source` through anomalous (or unobserved) nodes only, with hop counts."""
        seen = {source: 0}
        queue = deque([source])
        while queue:
            node = queue.popleft()
            for callee in self.callees(node):
                if callee in seen:
                    continue
                if callee in anomalous or callee not in observed:
                    seen[callee] = seen[node] + 1
                    queue.append(callee)
        return seen


def merge_graphs(graphs: Iterable[Mapping[str, Iterable[str]]]) -> dict[str, tuple[str, ...]]:
    """The union of several caller -> callees graphs (callees sorted)."""
    out: dict[str, set[str]] = {}
    for graph in graphs:
        for caller, callees in graph.items():
            out.setdefault(caller, set()).update(callees)
    return {caller: tuple(sorted(callees)) for caller, callees in sorted(out.items())}


def with_dependency_graph(evidence: Evidence, graph: Mapping[str, Iterable[str]]) -> Evidence:
    """`evidence` whose topology also holds `graph`'s edges (the union; `evidence` itself when empty)."""
    if not graph:
        return evidence
    return dataclasses.replace(evidence, topology=merge_graphs([graph, evidence.topology]))


def load_dependency_graph(path: str) -> dict[str, tuple[str, ...]]:
    """Read a YAML mapping `caller: [callee, ...]` (a single callee may be a plain string)."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise DependencyGraphError(f"cannot read dependency graph {path!r}: {exc}") from exc
    except yaml.YAMLError as exc:
        raise DependencyGraphError(f"dependency graph {path!r} is not valid YAML: {exc}") from exc
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise DependencyGraphError(
            f"dependency graph {path!r} must map caller: [callees], got {type(raw).__name__}"
        )
    graph: dict[str, tuple[str, ...]] = {}
    for caller, callees in raw.items():
        if isinstance(callees, str):
            callees = [callees]
        if callees is None:
            callees = []
        if not isinstance(callees, list) or not all(isinstance(c, str) for c in callees):
            raise DependencyGraphError(
                f"dependency graph {path!r}: callees of {caller!r} must be a list of names"
            )
        graph[str(caller)] = tuple(callees)
    return graph
