"""OpenTelemetry's resource attributes from its info metric, joined onto series by `job` and `instance`.

Prometheus' OTLP receiver and the OpenTelemetry Collector's Prometheus exporters put a service's resource
attributes (`k8s_pod_name`, `k8s_namespace_name`, `service_name`...) on one series, `target_info`, and
only `job` (namespace/name) and `instance` (the instance's id) on its metrics. Without the join, an
alert on such a metric finds neither its pod's cAdvisor CPU nor its namespace's other workloads, and its
series name no component. This is the join Prometheus 3's `info()` does: the info series' labels are
added to every series with the same `job` and `instance`, beside the series' own (which win).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from receiver.evidence.fetching import FetchScope
from receiver.evidence.promql import regex_selector
from receiver.evidence.source import MetricSourceError

TARGET = ("job", "instance")
# (job, instance), instance "" for a series aggregated over a job's instances (`sum by (job) (...)`)
Target = tuple[str, str]
INFO_PER_TARGET = 10  # info series asked for per target (an attribute that changed makes a second one)


def target_of(labels: Mapping[str, str]) -> Target | None:
    """The (job, instance) `labels` name: instance "" when only the job is known; None without a job."""
    job = labels.get("job")
    return (job, labels.get("instance", "")) if job else None


def targets_of(label_sets: Iterable[Mapping[str, str]]) -> set[Target]:
    """The target of each label set that names a job."""
    return {t for labels in label_sets if (t := target_of(labels)) is not None}


def info_selector(metric: str, targets: Collection[Target]) -> str:
    """`target_info{job=~"a|b",instance=~"x|y"}`: the info series of `targets` (perhaps a few more pairs
    of the same jobs and instances, which `resources_by_target` ignores); every instance of the jobs when a
    target names none."""
    instances = [i for _, i in targets]
    varying = {"job": [j for j, _ in targets]} | ({"instance": instances} if all(instances) else {})
    return regex_selector(metric, {}, varying)


def resources_by_target(
    info_series: Sequence[Mapping[str, str]], targets: Collection[Target], keys: Collection[str]
) -> dict[Target, dict[str, str]]:
    """Per target, the info series' labels among `keys`; a job's target (no instance) gets those all its
    instances agree on. A label with two values for one target (instances on different pods, or
    attributes that changed within the window) is left out: it names no one thing."""
    seen: dict[Target, dict[str, set[str]]] = {}
    for labels in info_series:
        job, instance = labels.get("job", ""), labels.get("instance", "")
        for target in {(job, instance), (job, "")} & set(targets):
            found = seen.setdefault(target, {})
            for key, value in labels.items():
                if key in keys and key not in TARGET and value:
                    found.setdefault(key, set()).add(value)
    return {
        target: {k: next(iter(v)) for k, v in sorted(values.items()) if len(v) == 1}
        for target, values in seen.items()
    }


def joined(labels: Mapping[str, str], resources: Mapping[Target, Mapping[str, str]]) -> dict[str, str]:
    """The resource labels of `labels`' target that `labels` lacks ({} without a target or its info)."""
    target = target_of(labels)
    found = resources.get(target, {}) if target is not None else {}
    return {k: v for k, v in found.items() if k not in labels}


async def fetch_resources(scope: FetchScope, targets: Collection[Target]) -> dict[Target, dict[str, str]]:
    """The info metric's resource labels of `targets` over the window, among the identifying, component
    and scope labels (the attributes the evidence reasons with, not the SDK's version or the host's
    architecture); {} when disabled, without targets, or when the source fails (a note says so)."""
    metric = scope.settings.info_metric
    if not metric or not targets:
        return {}
    settings = scope.settings
    keys = {*settings.identifying_labels, *settings.component_labels, *settings.scope_labels}
    try:
        found = await scope.source.series(
            [info_selector(metric, targets)],
            scope.window.start,
            scope.window.end,
            limit=INFO_PER_TARGET * len(targets),
        )
    except MetricSourceError as exc:
        scope.notes.append(f"resource attributes from {metric} unavailable ({exc})")
        return {}
    return resources_by_target(found, targets, keys)


@dataclass
class ResourceInfo:
    """The info metric's labels over one incident's window, each target asked for once however many of its
    series are fetched (the alert's before the related series are looked up, the others after)."""

    scope: FetchScope
    found: dict[Target, dict[str, str]] = field(default_factory=dict)
    asked: set[Target] = field(default_factory=set)

    async def of(self, label_sets: Iterable[Mapping[str, str]]) -> Mapping[Target, Mapping[str, str]]:
        """The resource labels of the targets `label_sets` name, asking only for those not asked yet."""
        new = targets_of(label_sets) - self.asked
        if new:
            self.asked |= new
            self.found.update(await fetch_resources(self.scope, new))
        return self.found
