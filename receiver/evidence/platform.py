"""What every workload relies on that no label ties to an alert: the cluster's DNS, and the endpoints that
blackbox probes check.

CoreDNS (or node-local-dns, which exports the same names) resolves every pod's names; its series carry its
own scrape labels (`namespace="kube-system"`, its pods). A blackbox_exporter probe checks an endpoint from
outside (a partner's API, a certificate, a port); its series carry the exporter's scrape labels and the
endpoint in `instance`. Neither shares a label with a service's alert, so the related lookup never reaches
them, yet names that stop resolving and an endpoint that stops answering explain a service's errors
from outside it. The evidence holds, at most `context.max_platform_series` in all, each failed probe's
series first (a probe whose `probe_success` fell below 1 within the window: the ones that never failed
say nothing), then the DNS servers' answers by rcode, upstream health checks and request durations, most
telling first. Both agree with the alert's external labels (its `cluster`) or lack them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from receiver.evidence.fetching import Fetched, FetchScope, label_key
from receiver.evidence.promql import matcher, or_absent
from receiver.evidence.related import LOOKUP_FACTOR, Labels, new_subjects_series
from receiver.evidence.source import gather_then_raise

# CoreDNS' series that say whether names resolve and how fast (its cache and plugin series are its own
# business): answers by rcode, the forward plugin's upstream answers, health checks and rejects, request
# durations (read as their mean), panics.
DNS_METRICS = (
    "coredns_(dns_responses_total|dns_request_duration_seconds_(sum|count)|panics_total"
    "|forward_(responses_total|healthcheck_failures_total|healthcheck_broken_total"
    "|max_concurrent_rejects_total|request_duration_seconds_(sum|count)))"
)
# blackbox_exporter's metric namespace, and the series that says whether a probe succeeded.
PROBE_METRICS = "probe_.+"
PROBE_SUCCESS = "probe_success"
# Failed probes whose series are looked up, at most (a wide outage fails many; the budget cuts the rest).
MAX_FAILED_PROBES = 20


def scope_of(labels: Mapping[str, str], external_labels: Sequence[str]) -> dict[str, str]:
    """The alert's values of the external labels (`cluster`, `region`...): the platform series must agree
    with them or lack them (a single Prometheus stores none; Thanos and Mimir every one)."""
    return {key: labels[key] for key in external_labels if labels.get(key)}


def _selector(
    name: str, exact: Mapping[str, str] | None = None, scope: Mapping[str, str] | None = None
) -> str:
    """`{__name__=~"name",<exact labels>,<scope labels at their value or absent>}` (`name` a regex)."""
    parts = [matcher("__name__", name, "=~")]
    parts += [matcher(k, v) for k, v in sorted((exact or {}).items()) if k != "__name__"]
    parts += [or_absent(k, v) for k, v in sorted((scope or {}).items())]
    return "{" + ",".join(parts) + "}"


def dns_selector(scope: Mapping[str, str]) -> str:
    """The DNS servers' series that say whether names resolve (`DNS_METRICS`)."""
    return _selector(DNS_METRICS, scope=scope)


def failed_probes_query(scope: Mapping[str, str]) -> str:
    """`probe_success` where it is below 1: over the window, the probes that failed at some step."""
    return f"{_selector(PROBE_SUCCESS, scope=scope)} < 1"


def probe_selector(probe: Mapping[str, str]) -> str:
    """Every `probe_*` series of one probe: its labels but the name."""
    return _selector(PROBE_METRICS, exact=probe)


async def platform_candidates(
    labels: Mapping[str, str], already: Sequence[Fetched], scope: FetchScope
) -> list[Labels]:
    """Label sets of the failed probes' series, then of the DNS servers' (`telling_first` each), at most
    `context.max_platform_series`; none already fetched."""
    settings = scope.settings
    budget = settings.max_platform_series
    if budget == 0:
        return []
    where = scope_of(labels, settings.external_labels)
    limit = budget * LOOKUP_FACTOR
    window = scope.window
    probes, dns = await gather_then_raise(
        [
            _failed_probe_series(where, scope, limit),
            scope.source.series([dns_selector(where)], window.start, window.end, limit=limit),
        ]
    )
    groups = new_subjects_series([probes, dns], already, settings)
    return [item for group in groups for item in group][:budget]


async def _failed_probe_series(where: Mapping[str, str], scope: FetchScope, limit: int) -> list[Labels]:
    """Every series of the probes that failed within the window (at most `MAX_FAILED_PROBES` of them)."""
    failed = await scope.query_range(failed_probes_query(where))
    probes = sorted({label_key(d.labels, drop_name=True) for d in failed}, key=sorted)[:MAX_FAILED_PROBES]
    if not probes:
        return []
    window = scope.window
    return await scope.source.series(
        [probe_selector(dict(probe)) for probe in probes], window.start, window.end, limit=limit
    )
