"""The nodes an alert's pods run on, and those nodes' node_exporter series.

node_exporter's series carry their own scrape labels (under kube-prometheus-stack `namespace="monitoring"`,
`service="...-node-exporter"`, `instance` = the node's address and port) and nothing of the workloads on the
node, so no lookup by an alert's labels reaches them. The kubelet's series (cAdvisor's, kube-state-metrics'
pod series) name the pod and the `node` it runs on, cAdvisor's under the node's address. A full conntrack
table, a node's file descriptors or its disk explain a pod's errors from outside it: the evidence holds the
node_exporter series of the nodes the alerting component's pods run on (`context.max_node_series`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from analyst.builtin.entities import about_labels
from analyst.builtin.exporters import pod_in
from analyst.builtin.topology import address_host
from receiver.evidence.fetching import Fetched, FetchScope
from receiver.evidence.promql import matcher
from receiver.evidence.related import LOOKUP_FACTOR, Labels, interleaved, new_subjects_series
from receiver.evidence.source import gather_then_raise

# Labels that name the node a series lives on: the kubelet's and kube-state-metrics' `node`,
# OpenTelemetry's, and the names relabelling rules commonly give node_exporter's (`kubernetes_node`,
# `nodename`).
NODE_LABELS = ("node", "k8s_node_name", "kubernetes_node", "nodename")
# node_exporter's metric namespace: every metric it exports is `node_*`.
NODE_METRICS = "node_.+"
# Label sets read to place the alert's pods on their nodes: each pod's kubelet and kube-state-metrics series
# name its node; a few hundred cover the replicas of any workload an alert names.
PLACEMENT_LIMIT = 500


def alert_pods(
    labels: Mapping[str, str], keys: Iterable[str], fetched: Iterable[Mapping[str, str]]
) -> set[str]:
    """The pods of what fired: the alert's own, and those of the fetched series that carry one of its
    `keys` (labels that name a component: `service`, `job`, `instance`...) at the alert's value; of an
    alert that names no component (`sum by (namespace, datname)`), those that carry the label values it is
    about (`about_labels`: its `datname="catalog"`, the database's exporter's series)."""
    pairs = {(k, labels[k]) for k in keys if labels.get(k)} or set(about_labels(labels))
    pods = {pod} if (pod := pod_in(labels)) else set()
    for own in fetched:
        if (pod := pod_in(own)) and any(own.get(k) == v for k, v in pairs):
            pods.add(pod)
    return pods


def nodes_of(
    labels: Mapping[str, str], pods: Iterable[str], fetched: Iterable[Mapping[str, str]]
) -> dict[str, set[str]]:
    """Node -> its addresses: the alert's own node, and the nodes the fetched series place `pods` on; each
    with the host of every `instance` that names that node alone among the fetched series (the kubelet's
    `10.0.1.13:10250`, not kube-state-metrics' own address, which it reports every node's pods under)."""
    wanted = set(pods)
    nodes: dict[str, set[str]] = {node: set() for key in NODE_LABELS if (node := labels.get(key))}
    named: dict[str, set[str]] = {}
    for own in fetched:
        node = next((own[k] for k in NODE_LABELS if own.get(k)), None)
        if node is None:
            continue
        if pod_in(own) in wanted:
            nodes.setdefault(node, set())
        if instance := own.get("instance"):
            named.setdefault(address_host(instance), set()).add(node)
    for host, on in named.items():
        only = next(iter(on)) if len(on) == 1 else None
        if only is not None and only in nodes:
            nodes[only].add(host)
    return nodes


def target_hosts(
    labels: Mapping[str, str], keys: Iterable[str], fetched: Iterable[Mapping[str, str]]
) -> dict[str, set[str]]:
    """Off Kubernetes (no pod in what fired): host -> {} of each scrape target of what fired, the host of
    its `instance` address (`ny4-risk-01:9404` -> `ny4-risk-01`), where the series that carry the alert's
    component label values (`keys`), and none other, are scraped: node_exporter runs on the same host, at
    another port."""
    pairs = {(k, labels[k]) for k in keys if labels.get(k)}
    hosts: dict[str, set[str]] = {}
    for own in fetched:
        carried = [own[k] == v for k, v in pairs if own.get(k)]
        if pod_in(own) or not carried or not all(carried):
            continue
        if (instance := own.get("instance")) and (host := address_host(instance)):
            hosts.setdefault(host, set())
    return hosts


def unplaced(pods: Iterable[str], fetched: Iterable[Mapping[str, str]]) -> set[str]:
    """The `pods` no fetched series places on a node (an ingress controller's series carry its pod, not
    its node; the kubelet's that do were not fetched)."""
    placed = {pod_in(own) for own in fetched if any(own.get(k) for k in NODE_LABELS)}
    return set(pods) - placed


async def placements(pods: Iterable[str], scope: FetchScope) -> list[Labels]:
    """A few label sets of series that name both one of `pods` and its node (the kubelet's, kube-state-
    metrics' `kube_pod_info`): where the alert's pods run when nothing fetched says so."""
    wanted = "|".join(re.escape(p) for p in sorted(pods))
    if not wanted:
        return []
    selectors = [f"{{{matcher('pod', wanted, '=~')},{matcher(key, '.+', '=~')}}}" for key in NODE_LABELS]
    window = scope.window
    return await scope.source.series(selectors, window.start, window.end, limit=PLACEMENT_LIMIT)


def node_selectors(node: str, addresses: Iterable[str]) -> list[str]:
    """node_exporter's series of `node`: by a node label, or an `instance` at the node's name or address
    (with or without a port)."""
    name = matcher("__name__", NODE_METRICS, "=~")
    hosts = "|".join(re.escape(h) for h in sorted({node, *addresses}))
    by_label = [f"{{{name},{matcher(key, node)}}}" for key in NODE_LABELS]
    return [*by_label, f"{{{name},{matcher('instance', f'({hosts})(:[0-9]+)?', '=~')}}}"]


async def node_candidates(
    nodes: Mapping[str, Iterable[str]], already: Sequence[Fetched], scope: FetchScope
) -> list[tuple[str, Labels]]:
    """(node, series labels) of each node's node_exporter series, most telling first and a node at a time
    (`telling_first`), at most `context.max_node_series` in all; none already fetched."""
    budget = scope.settings.max_node_series
    if budget == 0 or not nodes:
        return []
    limit = budget * LOOKUP_FACTOR
    window = scope.window
    answers = await gather_then_raise(
        scope.source.series(node_selectors(node, addresses), window.start, window.end, limit=limit)
        for node, addresses in nodes.items()
    )
    per_node = [
        [(node, item) for item in found]
        for node, found in zip(nodes, new_subjects_series(answers, already, scope.settings), strict=True)
    ]
    return interleaved(per_node)[:budget]
