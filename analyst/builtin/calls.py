"""Series that time calls, and which side of the call timed them.

Two shapes carry it. The evidence's own (`receiver.evidence.call_latency`): each call's latency as the
caller's or the callee's side timed it, a series named CALL_LATENCY_METRIC labelled CALLEE, CALLER (when
the source names it) and MEASURED_BY. And a mesh's histograms as scraped from its proxies: labelled with
the reporting proxy's pod, both ends of the call (Istio's `source_workload` / `destination_workload`,
Linkerd's outbound `deployment` / `dst_deployment`) and the side (Istio's `reporter`, Linkerd's
`direction`; OpenTelemetry's span metrics say `span_kind` but name no callee).
The caller's side times the network both ways and the callee's work; the callee's side only its work. A
series timed by the caller that names its callee is evidence about the callee (its callers' view of it);
one that names no callee is the reporting pod's wait on others.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from analyst.builtin.topology import CALLEE_LABELS

CALL_LATENCY_METRIC = "call_latency"
CALLEE = "callee"
CALLER = "caller"
MEASURED_BY = "measured_by"

Side = Literal["caller", "callee"]

# (label, values) saying which side timed a series, per mesh or span convention.
_SIDES: tuple[tuple[str, Mapping[str, Side]], ...] = (
    ("reporter", {"source": "caller", "destination": "callee"}),
    ("direction", {"outbound": "caller", "inbound": "callee"}),
    (
        "span_kind",
        {"SPAN_KIND_CLIENT": "caller", "client": "caller", "SPAN_KIND_SERVER": "callee", "server": "callee"},
    ),
)
# (caller label, callee label) of the calls a mesh's series time.
_CALL_ENDS = (("source_workload", "destination_workload"), ("deployment", "dst_deployment"))


# Labels by which a client's own latency series name what it called, without being a mesh's call series:
# those that name a callee component (`topology.CALLEE_LABELS`: span metrics' `peer_service` and the
# like), then those that name a host or system the graph need not hold: OpenTelemetry's semantic
# conventions (`server_address`, the older `net_peer_name`, `rpc_service`, `db_system`),
# go-grpc-prometheus' `grpc_service`, Spring Boot's `client_name`, Envoy's `envoy_cluster_name`.
PEER_LABELS = (
    *CALLEE_LABELS,
    "server_address",
    "net_peer_name",
    "rpc_service",
    "grpc_service",
    "client_name",
    "envoy_cluster_name",
    "db_system",
)


# A reverse proxy's series per upstream, by the labels its exporter always writes: ingress-nginx's
# controller (`controller_class`, `ingress`) names the upstream Service in `service`, which a scrape of the
# controller's own Service renames `exported_service`. It times the upstream's answers from the calling
# side: its callers' view of that service.
_PROXY_MARKS = (("controller_class", "ingress"),)
_PROXY_UPSTREAM = ("exported_service", "service")


def _proxied(labels: Mapping[str, str]) -> str | None:
    """The upstream service a reverse proxy's series times, if it is one (`_PROXY_MARKS`)."""
    if not any(all(labels.get(k) for k in marks) for marks in _PROXY_MARKS):
        return None
    return next((labels[k] for k in _PROXY_UPSTREAM if labels.get(k)), None)


def called_peer(labels: Mapping[str, str] | None) -> str | None:
    """What a client-side latency series says was called (a service, a host, a database system), if any
    of PEER_LABELS names it."""
    if not labels:
        return None
    return next((labels[key] for key in PEER_LABELS if labels.get(key)), None)


def side_of(labels: Mapping[str, str] | None) -> Side | None:
    """Which side of its calls timed a series: `measured_by`, else a mesh's `reporter` (source: the
    caller), `direction` (outbound) or `span_kind` (client), else a reverse proxy's per-upstream series
    (`_proxied`): the caller; None for anything else."""
    if not labels:
        return None
    if _proxied(labels) is not None:
        return "caller"
    measured = labels.get(MEASURED_BY)
    if measured == "caller":
        return "caller"
    if measured == "callee":
        return "callee"
    for key, sides in _SIDES:
        if (side := sides.get(labels.get(key, ""))) is not None:
            return side
    return None


def call_ends(labels: Mapping[str, str]) -> tuple[str | None, str | None]:
    """(caller, callee) of the calls a series times, as far as its labels name them."""
    if MEASURED_BY in labels:
        return labels.get(CALLER), labels.get(CALLEE)
    if (upstream := _proxied(labels)) is not None:
        return None, upstream
    for caller, callee in _CALL_ENDS:
        if labels.get(callee):
            return labels.get(caller) or None, labels[callee]
    return None, None


def callers_view_of(labels: Mapping[str, str]) -> str | None:
    """The callee a series is its callers' view of: timed by the caller and naming the callee."""
    return call_ends(labels)[1] if side_of(labels) == "caller" else None


def measured_by_caller(labels: Mapping[str, str]) -> bool:
    """The series times calls from the caller's side."""
    return side_of(labels) == "caller"


def callee_view(labels: Mapping[str, str], caller: str | None) -> bool:
    """The series is the callee's own view of the calls from `caller` (or of all its calls, where the
    source does not name callers)."""
    return side_of(labels) == "callee" and call_ends(labels)[0] in (None, caller)
