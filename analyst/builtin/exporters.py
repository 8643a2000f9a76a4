"""Which component a series describes, when its component label names the exporter that reported it.

Under kube-prometheus-stack every cAdvisor series carries the kubelet's scrape labels (`job="kubelet"`,
`service="kube-prometheus-stack-kubelet"`) beside the labels of the pod it measures (`namespace`, `pod`,
`container`), and kube-state-metrics' series likewise. Taken as the component, that `service` puts every
pod's CPU and memory in one component named after the kubelet. A component value is an exporter's when
its series describe at least two pods not named after it (a Service's pods are named after their workload,
which is usually named like the Service; an exporter's are everybody's); those series then belong to the
workload of their pod instead, so a pod's CPU joins its own service's latency. kube-state-metrics' object
series (a Deployment's generation, a StatefulSet's replicas) belong to the object they name. A series named
only by its pod joins the component the other series of that pod agree on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence, Set

from analyst.builtin.calls import callers_view_of
from analyst.builtin.entities import instance_aliases
from analyst.builtin.topology import address_host
from analyst.evidence import SeriesEvidence

# Kubernetes-generated pod names: Deployment (ReplicaSet hash, then a 5-character suffix), StatefulSet
# (ordinal), DaemonSet and Job (5-character suffix). Kubernetes draws suffixes and hashes from an alphabet
# without vowels (older ReplicaSet hashes are hex), so `node-exporter` is not a name plus a hash.
_SAFE = "[bcdfghjklmnpqrstvwxz2456789]"
_HASH = f"(?:{_SAFE}{{6,10}}|(?=[0-9a-f]*[0-9])[0-9a-f]{{6,10}})"
_POD_NAMES = (
    re.compile(rf"(.+)-{_HASH}-{_SAFE}{{5}}"),
    re.compile(r"(.+)-\d+"),
    re.compile(rf"(.+)-{_SAFE}{{5}}"),
)


def workload_of_pod(pod: str) -> str:
    """`cartservice-579f59597d-wc2lz` -> `cartservice`, `db-0` -> `db`, `node-exporter-x7k2p` ->
    `node-exporter`; a name without such a suffix as it is."""
    for pattern in _POD_NAMES:
        if match := pattern.fullmatch(pod):
            return match.group(1)
    return pod


def exporter_components(series: Iterable[SeriesEvidence]) -> set[str]:
    """Component values carried by series of two pods or more not named after the value, or of one pod
    whose own series name it after another component (the kubelet's cAdvisor series of the one pod the
    evidence holds, beside that pod's own `service="risk-engine"`). An exporter's own series (its
    process, or kube-state-metrics' deployment series under its scrape labels) may name its own pod beside
    them: that does not make the others its own."""
    pods: dict[str, set[str]] = {}
    owned: set[str] = set()
    for s in series:
        pod = pod_of(s)
        if not (s.component and pod) or subject_of(s) is not None:
            continue  # an object's or a probe's series carries its exporter's own pod: it describes no pod
        if pod.startswith(s.component):
            owned.add(pod)
        else:
            pods.setdefault(s.component, set()).add(pod)
    return {c for c, foreign in pods.items() if len(foreign) >= 2 or not foreign.isdisjoint(owned)}


# kube-state-metrics names each series after the kind of object it describes and labels it with the
# object's name (`kube_deployment_metadata_generation{deployment="position-ui"}`); a `pod` beside it is
# kube-state-metrics' own, from its scrape labels. A ReplicaSet is named after its Deployment plus a hash.
_OBJECT_SERIES = re.compile(r"kube_(deployment|statefulset|daemonset|replicaset|cronjob|job)_")
_REPLICASET = re.compile(rf"(.+)-{_HASH}")


def described_object(series: SeriesEvidence) -> str | None:
    """The workload a kube-state-metrics object series describes, by the label its name's kind gives:
    `kube_deployment_*{deployment="x"}` -> x, `kube_replicaset_*{replicaset="x-5d9f8b6c5d"}` -> x,
    `kube_job_*{job_name="x"}` -> x; None for any other series."""
    match = _OBJECT_SERIES.match(series.metric)
    if match is None:
        return None
    kind = "job_name" if match.group(1) == "job" else match.group(1)
    name = series.labels.get(kind)
    if not name:
        return None
    if kind == "replicaset" and (owner := _REPLICASET.fullmatch(name)):
        return owner.group(1)
    return name


# blackbox_exporter's series describe the endpoint a probe checks, not the exporter that ran it.
_PROBE_SERIES = re.compile(r"probe_")


def probed_endpoint(series: SeriesEvidence) -> str | None:
    """The endpoint a blackbox probe's series describes: the probe's name where its scrape config gives one
    (`target`, as the prometheus-blackbox-exporter chart's ServiceMonitor does), else the host its `instance`
    names (`https://api.psp.example/v1/health` -> `api.psp.example`, `db:5432` -> `db`); None for any
    other series."""
    if not _PROBE_SERIES.match(series.metric):
        return None
    if target := series.labels.get("target"):
        return target
    return address_host(series.labels.get("instance", "")) or None


def subject_of(series: SeriesEvidence) -> str | None:
    """What a series describes when that is not its scrape target: a kube-state-metrics object
    (`described_object`) or a probed endpoint (`probed_endpoint`)."""
    return described_object(series) or probed_endpoint(series)


def with_subject_components(series: Sequence[SeriesEvidence]) -> list[SeriesEvidence]:
    """`series` with each kube-state-metrics object series moved to its object and each probe's to its
    endpoint (`subject_of`), each
    exporter-labelled one (`exporter_components`) to the workload of its pod,
    and each one named only by its pod (a derived per-container series, say) moved to the component the
    other series of that pod agree on, else to its workload where a mesh's callers name that workload
    (`analyst.builtin.calls.callers_view_of`), so a callee's own series and its callers' view meet."""
    objects = [
        dataclasses.replace(s, component=name)
        if (name := subject_of(s)) is not None and name != s.component
        else s
        for s in series
    ]
    exporters = exporter_components(objects)
    moved = [
        dataclasses.replace(s, component=workload_of_pod(pod))
        if s.component in exporters and (pod := pod_of(s))
        else s
        for s in objects
    ]
    owners = instance_aliases(moved)
    called = {callee for s in series if (callee := callers_view_of(s.labels))}
    return [_joined(s, owners, called) for s in moved]


def _joined(series: SeriesEvidence, owners: Mapping[str, str], called: Set[str]) -> SeriesEvidence:
    """A series named only by its pod, moved to the pod's owner, else to its workload if callers name it."""
    pod = pod_of(series)
    if not pod or series.component not in (None, pod):
        return series
    if pod in owners:
        return dataclasses.replace(series, component=owners[pod])
    if (workload := workload_of_pod(pod)) in called:
        return dataclasses.replace(series, component=workload)
    return series


def pod_of(series: SeriesEvidence) -> str | None:
    """The pod a series describes (`pod_in` its labels)."""
    return pod_in(series.labels)


def pod_in(labels: Mapping[str, str]) -> str | None:
    """The pod labels name: `pod`, or OpenTelemetry's `k8s_pod_name` (`k8s.pod.name` in Prometheus 3)."""
    return labels.get("pod") or labels.get("k8s_pod_name") or labels.get("k8s.pod.name")
