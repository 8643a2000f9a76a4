"""Series the evidence derives from related ones, where the raw series do not say what a reader needs.

- A histogram's or summary's mean, `rate(X_sum) / rate(X_count)`, as `X:mean`: the latency of a timing
  histogram, which neither rate alone is (more traffic raises both).
- A Kubernetes container's CPU and memory as a share of its limit (cAdvisor's usage over
  kube-state-metrics' `kube_pod_container_resource_limits`), as `container_cpu_limit_ratio` and
  `container_memory_limit_ratio`: a pod at its CPU limit is throttled, one whose usage doubled from 10 % is
  not, and the analyst names the category from the resource at its limit.
Each is one query per family over the same members as the related series; a failure is a note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

from receiver.evidence.fetching import (
    Fetched,
    FetchScope,
    Members,
    label_key,
    members_selector,
    named,
    rated_selector,
)
from receiver.evidence.promql import range_duration
from receiver.evidence.source import MetricSourceError

# The series a histogram's or summary's mean is named as: `<base>:mean`, after the recording-rule convention.
MEAN_SUFFIX = ":mean"
LIMITS = "kube_pod_container_resource_limits"
LIMIT_KEYS = ("namespace", "pod", "container")
# usage metric -> (the `resource` of its limit, the derived series' name)
LIMITED = {
    "container_cpu_usage_seconds_total": ("cpu", "container_cpu_limit_ratio"),
    "container_memory_working_set_bytes": ("memory", "container_memory_limit_ratio"),
}

Groups = Mapping[str, Sequence[Mapping[str, str]]]


def histogram_families(groups: Groups) -> dict[str, list[Mapping[str, str]]]:
    """Histograms and summaries among the related series: base name -> the label sets that have both a
    `_sum` and a `_count` series."""
    out: dict[str, list[Mapping[str, str]]] = {}
    for name, members in groups.items():
        base = name.removesuffix("_count")
        if base == name or f"{base}_sum" not in groups:
            continue
        sums = {label_key(m, drop_name=True) for m in groups[f"{base}_sum"]}
        both = [m for m in members if label_key(m, drop_name=True) in sums]
        if both:
            out[base] = both
    return out


async def fetch_mean(base: str, members: Sequence[Mapping[str, str]], scope: FetchScope) -> list[Fetched]:
    """`rate(base_sum) / rate(base_count)` of `members` (label sets of `base_count`), as `base:mean`."""
    metric = f"{base}{MEAN_SUFFIX}"
    try:
        window = range_duration(await scope.members_rate_span(f"{base}_count", members))
        results = await scope.query_members(members, partial(_mean_query, base, window))
    except MetricSourceError as exc:
        scope.notes.append(f"{metric} unavailable ({exc})")
        return []
    wanted = {label_key(m, drop_name=True) for m in members}
    return [
        named(data, metric, query)
        for query, data in results
        if label_key(data.labels, drop_name=True) in wanted
    ]


def _mean_query(base: str, window: str, members: Members) -> str:
    sums, counts = (members_selector(f"{base}{suffix}", members) for suffix in ("_sum", "_count"))
    return f"rate({sums}[{window}]) / rate({counts}[{window}])"


def limited_usage(groups: Groups) -> dict[str, tuple[list[Mapping[str, str]], list[Mapping[str, str]]]]:
    """Usage metrics among the related series whose containers' limits are also there: metric -> (its
    members, the limit series of that resource)."""
    out = {}
    for usage, (resource, _) in LIMITED.items():
        limits = [m for m in groups.get(LIMITS, ()) if m.get("resource") == resource]
        limited = {tuple(m.get(k) for k in LIMIT_KEYS) for m in limits}
        members = [m for m in groups.get(usage, ()) if tuple(m.get(k) for k in LIMIT_KEYS) in limited]
        if members:
            out[usage] = (members, limits)
    return out


async def fetch_limit_ratio(
    usage: str, members: Sequence[Mapping[str, str]], limits: Sequence[Mapping[str, str]], scope: FetchScope
) -> list[Fetched]:
    """Each container's `usage` (under rate() when a counter) over its limit, summed by LIMIT_KEYS (a query
    too long is cut along one of them, so each container's sums stay in one query)."""
    metric = LIMITED[usage][1]
    try:
        window = None
        if usage.endswith("_total"):
            window = range_duration(await scope.members_rate_span(usage, members))
        render = partial(_limit_ratio_query, usage, window, members, limits)
        results = await scope.query_members(members, render, split=LIMIT_KEYS)
    except MetricSourceError as exc:
        scope.notes.append(f"{metric} unavailable ({exc})")
        return []
    return [named(data, metric, query) for query, data in results]


def _limit_ratio_query(
    usage: str, window: str | None, members: Members, limits: Members, part: Members
) -> str:
    """The limit ratio of `part` of the usage `members`: over all the `limits`, or for a part, over the
    limits of its containers."""
    if len(part) < len(members):
        containers = {tuple(m.get(k) for k in LIMIT_KEYS) for m in part}
        limits = [m for m in limits if tuple(m.get(k) for k in LIMIT_KEYS) in containers]
    by = f"sum by ({', '.join(LIMIT_KEYS)})"
    return f"{by} ({rated_selector(usage, window, part)}) / {by} ({members_selector(LIMITS, limits)})"
