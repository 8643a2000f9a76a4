"""Settings of the metric source and of alert-context collection (prometheus.*, context.*)."""

from __future__ import annotations

import os
import re
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from analyst.builtin.calls import Side
from receiver.basic_auth import BasicAuthSettings
from receiver.settings_base import Section

DEFAULT_IDENTIFYING_LABELS = (
    "pod",
    "k8s_pod_name",
    "container",
    "k8s_container_name",
    "instance",
    "service",
    "service_name",
    "deployment",
    "k8s_deployment_name",
    "node",
    "k8s_node_name",
    "job",
    "namespace",
    "k8s_namespace_name",
    "host",
)
DEFAULT_EXTERNAL_LABELS = ("cluster", "replica", "prometheus", "prometheus_replica", "region", "tenant_id")
# A series whose value of one of these differs from the alert's belongs to another deployment of the same
# components (another namespace), not to the incident.
DEFAULT_SCOPE_LABELS = ("namespace", "k8s_namespace_name")
DEFAULT_COMPONENT_LABELS = (
    "service",
    "service_name",
    "pod",
    "k8s_pod_name",
    "instance",
    "container",
    "deployment",
    "node",
    "job",
    "host",
)
# The labels Prometheus' Kubernetes discovery and exporters give a thing, and OpenTelemetry's resource
# attribute for it as its Prometheus exporters name it and as Prometheus 3 keeps it unescaped (UTF-8): a
# related series may carry any of them.
EQUIVALENT_GROUPS = (
    ("pod", "k8s_pod_name", "k8s.pod.name"),
    ("container", "k8s_container_name", "k8s.container.name"),
    ("service", "service_name", "service.name"),
    ("deployment", "k8s_deployment_name", "k8s.deployment.name"),
    ("node", "k8s_node_name", "k8s.node.name"),
    ("namespace", "k8s_namespace_name", "k8s.namespace.name"),
)
EQUIVALENT_LABELS = {
    label: tuple(x for x in group if x != label) for group in EQUIVALENT_GROUPS for label in group
}
DEFAULT_EXCLUDED_METRICS = (
    "ALERTS",
    "ALERTS_FOR_STATE",
    "scrape_.*",
    ".*_bucket",
    ".*_created",
    "target_info",
)


BasicAuth = BasicAuthSettings


def regular_expressions(patterns: Iterable[str], where: str) -> None:
    """ValueError naming the first of `patterns` that is not a valid regular expression."""
    for pattern in patterns:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"{where}: {pattern!r} is not a regular expression ({exc})") from exc


def _readable(path: str) -> bool:
    """Whether `path` is a readable file; the other cases are reported by `check_secret_files`."""
    return os.path.isfile(path) and os.access(path, os.R_OK)


def _ssl_reason(exc: ssl.SSLError) -> str:
    """OpenSSL's reason without the `(_ssl.c:1234)` suffix."""
    text = str(exc.args[1]) if len(exc.args) > 1 else str(exc)
    return re.sub(r"\s*\(_ssl\.c:\d+\)$", "", text)


class TLSSettings(Section):
    """TLS towards the metric source; the files are loaded as OpenSSL would at the first query, so a
    file that is not PEM fails at load time (check-config, serve, reload) instead."""

    ca_file: str | None = Field(default=None, description="PEM bundle used to verify the server.")
    cert_file: str | None = Field(default=None, description="Client certificate (mutual TLS).")
    key_file: str | None = None
    insecure_skip_verify: bool = False

    @field_validator("ca_file")
    @classmethod
    def _check_ca_file(cls, value: str | None) -> str | None:
        if value is None or not _readable(value):
            return value
        try:
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=value)
        except ssl.SSLError as exc:
            raise ValueError(
                f"{value!r} holds no PEM certificate ({_ssl_reason(exc)}): give the PEM bundle of the CA "
                "that signed the server's certificate"
            ) from exc
        return value

    @model_validator(mode="after")
    def _check_client_certificate(self) -> TLSSettings:
        cert, key = self.cert_file, self.key_file
        if key is not None and cert is None:
            raise ValueError("key_file is set without cert_file: set both for mutual TLS")
        if cert is None or not _readable(cert) or (key is not None and not _readable(key)):
            return self
        try:  # an encrypted key cannot be used (no password setting): refuse it rather than prompt
            ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=lambda: b"")
        except ssl.SSLError as exc:
            files = f"cert_file {cert!r} and key_file {key!r} are" if key else f"cert_file {cert!r} is"
            raise ValueError(
                f"{files} not a PEM certificate and its unencrypted private key ({_ssl_reason(exc)})"
                + ("" if key else ": set key_file when the key is in a file of its own")
            ) from exc
        return self


class PrometheusSettings(Section):
    """Where PromQL goes. The same code serves Prometheus, VictoriaMetrics, Thanos and Mimir:
    put any path prefix in `url` (Mimir: `http://mimir/prometheus`; VM cluster:
    `http://vmselect:8481/select/0/prometheus`)."""

    url: str = "http://127.0.0.1:9090"
    external_url: str | None = Field(
        default=None,
        description="Prometheus as browsers reach it (its --web.external-url), for the workbench's graph"
        " links; null: url, without credentials.",
    )
    timeout_seconds: float = Field(default=10.0, gt=0, description="Per-request timeout (connect and read).")
    retries: int = Field(default=1, ge=0, le=10, description="Retries on connection errors and 429/502/504.")
    retry_backoff_seconds: float = Field(default=0.2, ge=0)
    headers: dict[str, str] = Field(default_factory=dict, description="E.g. {X-Scope-OrgID: tenant}.")
    query_params: dict[str, str] = Field(
        default_factory=dict,
        description="Sent with every query, e.g. Thanos {dedup: 'true'}, VictoriaMetrics {nocache: '1'}.",
    )
    basic_auth: BasicAuth | None = None
    bearer_token: SecretStr | None = None
    bearer_token_file: str | None = None
    tls: TLSSettings = TLSSettings()
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Requests in flight at once.")
    max_points_per_series: int = Field(
        default=11_000, ge=100, description="Server limit per range query (Prometheus 11,000; VM 30,000)."
    )
    max_series_per_query: int = Field(
        default=2_000, ge=1, description="A result with more series is refused as too_large."
    )
    method: Literal["GET", "POST"] = "GET"
    compression: bool = Field(
        default=False,
        description="Ask for gzip: worth it over slow links; on a LAN it costs more CPU than it saves.",
    )
    circuit_failures: int = Field(
        default=5,
        ge=1,
        description="After this many timeouts or unreachable answers in a row, calls fail at once.",
    )
    circuit_open_seconds: float = Field(
        default=30.0, gt=0, description="How long the circuit stays open before one call may try again."
    )
    share_seconds: float = Field(
        default=15.0,
        ge=0,
        description="Identical range queries and series lookups within this many seconds of an answer (and "
        "those made at once) share it: an alert storm's evidence asks the backend once; 0 turns it off.",
    )
    share_max_bytes: int = Field(
        default=32 * 2**20, ge=0, description="Memory the shared answers may hold (the oldest go first)."
    )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"prometheus.url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")

    @field_validator("external_url")
    @classmethod
    def _check_external_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value

    @model_validator(mode="after")
    def _one_credential(self) -> PrometheusSettings:
        given = [
            self.basic_auth is not None,
            self.bearer_token is not None,
            self.bearer_token_file is not None,
        ]
        if sum(given) > 1:
            raise ValueError("prometheus: set only one of basic_auth, bearer_token or bearer_token_file")
        return self


class ForMatchingAlerts(Section):
    """A query that runs for the alerts whose labels `match` (checked as regular expressions on load)."""

    match: dict[str, str] = Field(
        default_factory=dict,
        description="Alert label -> anchored regular expression; all must match (empty: every alert).",
    )

    @field_validator("match")
    @classmethod
    def _patterns(cls, value: dict[str, str]) -> dict[str, str]:
        regular_expressions(value.values(), "match")
        return value

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Every `match` entry is an anchored regex that the alert's label value must match."""
        return all(re.fullmatch(pattern, labels.get(name, "")) for name, pattern in self.match.items())


class ContextQuery(ForMatchingAlerts):
    """An extra PromQL for matching alerts; `{{ $labels.NAME }}` is replaced by the alert's label value."""

    name: str = Field(min_length=1)
    query: str = Field(min_length=1)
    role: Literal["context", "related"] = "context"


# The labels meshes name each end of a call with, and its namespace with.
_ISTIO_EDGE = ("source_workload", "destination_workload")
_ISTIO_NAMESPACES = ("source_workload_namespace", "destination_workload_namespace")
_LINKERD_EDGE = ("deployment", "dst_deployment")
_LINKERD_NAMESPACES = ("namespace", "dst_namespace")  # outbound series are the caller's proxy's: its pod's

# `{{ $ends }}` inside a preset's selector braces: the matchers that keep one end of each edge in the alert's
# namespace (the query then runs once with the callee's end there and once with the caller's).
ENDS_TOKEN = re.compile(r"\{\{\s*\$ends\s*\}\}")


@dataclass(frozen=True)
class CallGraphPreset:
    """A mesh's or trace pipeline's call graph: the query, the labels naming each end, and the labels of
    each end's namespace (None: the metrics name none)."""

    query: str
    caller_label: str
    callee_label: str
    caller_namespace_label: str | None = None
    callee_namespace_label: str | None = None


CALL_GRAPH_PRESETS: dict[str, CallGraphPreset] = {
    "istio": CallGraphPreset(
        "group by (source_workload, destination_workload) (istio_requests_total{{{ $ends }}})",
        *_ISTIO_EDGE,
        *_ISTIO_NAMESPACES,
    ),
    "linkerd": CallGraphPreset(
        'group by (deployment, dst_deployment) (request_total{direction="outbound",{{ $ends }}})',
        *_LINKERD_EDGE,
        *_LINKERD_NAMESPACES,
    ),
    "tempo": CallGraphPreset(
        "group by (client, server) (traces_service_graph_request_total)", "client", "server"
    ),
}


class CallGraphQuery(ForMatchingAlerts):
    """Where caller -> callee edges come from: a `preset` (istio, linkerd, tempo: Tempo's or the OpenTelemetry
    Collector's service graph), or a `query` whose result series name the caller and the callee in two
    labels. `{{ $labels.NAME }}` is replaced by the alert's label value, as in context queries."""

    preset: Literal["istio", "linkerd", "tempo"] | None = None
    query: str | None = Field(default=None, min_length=1)
    caller_label: str | None = Field(default=None, min_length=1)
    callee_label: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _fill_from_preset(self) -> CallGraphQuery:
        if self.preset is not None:
            preset = CALL_GRAPH_PRESETS[self.preset]
            self.query = self.query or preset.query
            self.caller_label = self.caller_label or preset.caller_label
            self.callee_label = self.callee_label or preset.callee_label
        if not (self.query and self.caller_label and self.callee_label):
            raise ValueError(
                "call_graph: set a preset (istio, linkerd, tempo), "
                "or all of query, caller_label and callee_label"
            )
        return self

    @property
    def name(self) -> str:
        return self.preset or str(self.query)

    @property
    def namespace_labels(self) -> tuple[str | None, str | None]:
        """The labels of the caller's and the callee's namespace, for `{{ $ends }}` (a preset's only)."""
        if self.preset is None:
            return None, None
        preset = CALL_GRAPH_PRESETS[self.preset]
        return preset.caller_namespace_label, preset.callee_namespace_label


# Per-call latency that meshes and trace pipelines export, as measured by each side of the call: the
# caller's proxy sees the network and the callee; the callee's sees only its own work. `{{ $rate_window }}`
# is the rate() window measured on `counter` (`receiver.evidence.fetching.counter_rate_window`).
RATE_WINDOW_TOKEN = re.compile(r"\{\{\s*\$rate_window\s*\}\}")
# `{{ $calls }}` inside a selector's braces: the matchers that keep only the calls to or from the incident's
# components (the query then runs once for calls to them and once for calls from them to others).
CALLS_TOKEN = re.compile(r"\{\{\s*\$calls\s*\}\}")


def _mean_by(metric: str, matchers: str, by: str, per_second: float = 1.0) -> str:
    """Mean latency per group in seconds: the rate of the histogram's sum over the rate of its count (over
    `per_second`, for a histogram in milliseconds), of the incident's calls."""
    selected = f"{{{matchers},{{{{ $calls }}}}}}" if matchers else "{{{ $calls }}}"
    mean = " / ".join(
        f"sum by ({by}) (rate({metric}_{part}{selected}[{{{{ $rate_window }}}}]))"
        for part in ("sum", "count")
    )
    return f"({mean}) / {per_second:g}" if per_second != 1.0 else mean


@dataclass(frozen=True)
class CallLatencySpec:
    """One concrete per-call latency query: its result series name the callee (and the caller, if
    `caller_label`) and were timed by `measured_by`'s side of the call; `counter` sets the rate window.
    `{{ $calls }}` also keeps each end of the incident's calls to the alert's namespace through the
    namespace labels, where set."""

    name: str
    query: str
    caller_label: str | None
    callee_label: str
    measured_by: Side
    counter: str | None
    # the labels of the caller's and the callee's namespace on the raw series (presets only)
    caller_namespace_label: str | None = None
    callee_namespace_label: str | None = None


_ISTIO = "istio_request_duration_milliseconds"
_LINKERD = "response_latency_ms"
_TEMPO = "traces_service_graph_request"
_ISTIO_REPORTERS: tuple[tuple[Side, str], ...] = (("caller", "source"), ("callee", "destination"))
_TEMPO_SIDES: tuple[tuple[Side, str], ...] = (("caller", "client"), ("callee", "server"))
# preset -> both sides' queries, in seconds. Linkerd's inbound metrics do not name the caller: the
# callee's side is one series per callee.
CALL_LATENCY_PRESETS: dict[str, tuple[CallLatencySpec, ...]] = {
    "istio": tuple(
        CallLatencySpec(
            f"istio ({side})",
            _mean_by(_ISTIO, f'reporter="{reporter}"', ", ".join(_ISTIO_EDGE), 1000.0),
            *_ISTIO_EDGE,
            side,
            f"{_ISTIO}_count",
            *_ISTIO_NAMESPACES,
        )
        for side, reporter in _ISTIO_REPORTERS
    ),
    "linkerd": (
        CallLatencySpec(
            "linkerd (caller)",
            _mean_by(_LINKERD, 'direction="outbound"', ", ".join(_LINKERD_EDGE), 1000.0),
            *_LINKERD_EDGE,
            "caller",
            f"{_LINKERD}_count",
            *_LINKERD_NAMESPACES,
        ),
        CallLatencySpec(  # inbound series are the callee's proxy's: its deployment and namespace
            "linkerd (callee)",
            _mean_by(_LINKERD, 'direction="inbound"', _LINKERD_EDGE[0], 1000.0),
            None,
            _LINKERD_EDGE[0],
            "callee",
            f"{_LINKERD}_count",
            None,
            _LINKERD_NAMESPACES[0],
        ),
    ),
    "tempo": tuple(
        CallLatencySpec(
            f"tempo ({side})",
            _mean_by(f"{_TEMPO}_{part}_seconds", "", "client, server"),
            "client",
            "server",
            side,
            f"{_TEMPO}_{part}_seconds_count",
        )
        for side, part in _TEMPO_SIDES
    ),
}


class CallLatencyQuery(ForMatchingAlerts):
    """Where per-call latency comes from: a `preset` (istio, linkerd, tempo: both sides of each call), or a
    `query` whose result series name the callee in `callee_label` (and the caller in `caller_label`),
    measured by the `measured_by` side. `{{ $rate_window }}` in a query becomes the rate() window of
    `counter` (2.5 of its scrape intervals), `{{ $calls }}` (inside a selector's braces) the matchers of the
    calls to or from the incident's components, `{{ $labels.NAME }}` the alert's label value."""

    preset: Literal["istio", "linkerd", "tempo"] | None = None
    query: str | None = Field(default=None, min_length=1)
    caller_label: str | None = Field(default=None, min_length=1)
    callee_label: str | None = Field(default=None, min_length=1)
    measured_by: Side | None = None
    counter: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _complete(self) -> CallLatencyQuery:
        overrides = self.query or self.caller_label or self.callee_label or self.counter
        if self.preset is not None and overrides and self.measured_by is None:
            raise ValueError(
                "call_latency: a preset's query, labels or counter replace one side's: set measured_by "
                "(caller or callee) to say which"
            )
        if self.preset is None and not (self.query and self.callee_label and self.measured_by):
            raise ValueError(
                "call_latency: set a preset (istio, linkerd, tempo), or query, callee_label and measured_by"
            )
        if self.preset is None and self.measured_by == "caller" and not self.caller_label:
            raise ValueError("call_latency: a query measured by the caller needs caller_label")
        return self

    def specs(self) -> tuple[CallLatencySpec, ...]:
        """The concrete queries: both sides of a preset (or the one `measured_by` names, with what is set
        here replacing its own), or the query."""
        if self.preset is None:
            assert self.query and self.callee_label and self.measured_by, "checked on load"
            return (
                CallLatencySpec(
                    self.query,
                    self.query,
                    self.caller_label,
                    self.callee_label,
                    self.measured_by,
                    self.counter,
                ),
            )
        return tuple(
            replace(
                spec,
                query=self.query or spec.query,
                caller_label=self.caller_label or spec.caller_label,
                callee_label=self.callee_label or spec.callee_label,
                counter=self.counter or spec.counter,
            )
            for spec in CALL_LATENCY_PRESETS[self.preset]
            if self.measured_by in (None, spec.measured_by)
        )


class ContextSettings(Section):
    lookback_seconds: float = Field(default=7200.0, gt=0, description="History before startsAt.")
    deadline_seconds: float = Field(
        default=20.0,
        gt=0,
        description="Time limit of one alert's evidence fetch: past it no query is asked or waited for, and "
        "what came by then is diagnosed, with a note. Keep it below pipeline.stage_timeout_seconds.",
    )
    max_lookback_seconds: float = Field(
        default=86400.0,
        gt=0,
        description="How far before startsAt the history may reach for an alert that was active long before "
        "it fired (a rule's long `for:`): its activation and the hour before it.",
    )
    step_seconds: float | None = Field(
        default=None, gt=0, description="Query step; None picks max(min_step, window / target_points)."
    )
    min_step_seconds: float = Field(default=15.0, gt=0)
    target_points: int = Field(default=1000, ge=50, le=11_000)
    identifying_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_IDENTIFYING_LABELS))
    external_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_EXTERNAL_LABELS))
    detect_external_labels: bool = Field(
        default=True, description="Also read external labels from /api/v1/status/config (Prometheus only)."
    )
    component_labels: list[str] = Field(default_factory=lambda: list(DEFAULT_COMPONENT_LABELS))
    scope_labels: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SCOPE_LABELS),
        description="Related series and the incident's end of mesh calls agree with the alert's value of "
        "these, or lack the label: a same-named service in another namespace is another deployment.",
    )
    exclude_metrics: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXCLUDED_METRICS),
        description="Related series whose metric name fully matches one of these regexes are skipped.",
    )
    max_related_series: int = Field(default=200, ge=0)
    max_screened_series: int = Field(
        default=2000,
        ge=0,
        description="When more related series match than max_related_series, at most this many of them (in "
        "ranked order) are fetched once to see which changed within the window; those are kept first. At or "
        "below max_related_series the ranked order is cut as it is.",
    )
    max_node_series: int = Field(
        default=50,
        ge=0,
        description="node_exporter series (`node_*`) of the nodes the alerting component's pods run on, "
        "most telling first, beside the related series; 0 turns the lookup off.",
    )
    max_platform_series: int = Field(
        default=25,
        ge=0,
        description="Series of what every workload relies on that no label ties to the alert: each blackbox "
        "probe that failed within the window, then the cluster DNS' (CoreDNS) answers and durations, most "
        "telling first; 0 turns the lookup off.",
    )
    max_series_per_context_query: int = Field(default=20, ge=1)
    max_query_length: int = Field(
        default=16_384,
        ge=1024,
        description="Longest query sent for related series, in UTF-8 bytes (VictoriaMetrics refuses longer "
        "ones: -search.maxQueryLen, 16384); a longer one is sent as several, each over part of the series.",
    )
    max_peer_series: int = Field(
        default=10,
        ge=0,
        description="Other result series of the alert expression kept (e.g. other instances).",
    )
    rate_window_seconds: float | None = Field(
        default=None,
        gt=0,
        description="Window of rate() applied to counters; None: 2.5 scrape intervals of the counter "
        "(measured with count_over_time over the window), at least 2.5 query steps and 60 s.",
    )
    max_lag_seconds: float = Field(default=1800.0, gt=0, description="Largest lead/lag searched.")
    max_values_per_series: int = Field(
        default=240,
        ge=0,
        description="Points of each series handed to the analyst (block medians when the window has more; "
        "0: none). The analyst scores every series against its own history from them.",
    )
    info_metric: str | None = Field(
        default="target_info",
        min_length=1,
        description="OpenTelemetry's info metric: its labels among the identifying, component and scope "
        "labels are joined onto series with the same job and instance, as Prometheus 3's info() does; null: "
        "no join.",
    )
    context_queries: list[ContextQuery] = Field(default_factory=list)
    call_graph: list[CallGraphQuery] = Field(
        default_factory=list,
        description="Queries for the call graph (caller -> callees) the analyst reasons with; empty: none.",
    )
    call_latency: list[CallLatencyQuery] = Field(
        default_factory=list,
        description="Queries for each call's latency as its caller and its callee measure it (a mesh's or "
        "a trace pipeline's metrics); their edges also join the call graph. Empty: none.",
    )

    @field_validator("exclude_metrics")
    @classmethod
    def _metric_patterns(cls, value: list[str]) -> list[str]:
        regular_expressions(value, "exclude_metrics")
        return value
