"""UTF-8 label names (Prometheus 3): the PromQL the receiver writes quotes them, and Prometheus 3 reads it.

Prometheus 3 accepts any UTF-8 label name (`service.name`, `k8s.pod.name`, as OpenTelemetry names
resource attributes when its OTLP translation keeps them), written quoted in a selector:
`{"service.name"="cart"}`. Unquoted, `service.name="cart"` is a parse error and the whole query fails.
Debian's Prometheus is 2.42, which has no such labels and cannot parse the quoted form, so the queries are
checked with Prometheus 3's own PromQL grammar (`tests.support.promql3`); the unchanged classic names
are exercised against the real Prometheus 2 by the rest of the evidence tests.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from analyst.builtin.exporters import pod_in
from receiver.evidence.context import collect_alert_context, identifying_matchers, scope_matchers
from receiver.evidence.promql import (
    TemplateError,
    label_name,
    or_absent,
    regex_selector,
    render_template,
    scoped_selector,
    selector,
)
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import SeriesData
from receiver.web.links import alertmanager_silence
from tests.evidence.alerts import firing_incident
from tests.support.promql3 import grammar_available, syntax_errors
from tests.support.quiet_source import QuietSource

needs_grammar = pytest.mark.skipif(
    not grammar_available(), reason="Prometheus 3's PromQL grammar: cd tests/support/promql_grammar && npm ci"
)


def test_classic_names_are_written_as_before():
    assert label_name("service") == "service"
    assert selector({"__name__": "up", "job": "a"}) == 'up{job="a"}'
    assert scoped_selector({"pod": "p"}, {"namespace": "n"}) == '{pod="p",namespace=~"n|"}'


def test_other_names_are_quoted_in_every_selector_form():
    assert label_name("service.name") == '"service.name"'
    assert label_name('a"b') == '"a\\"b"'
    assert (
        selector({"__name__": "http.server.duration", "service.name": "cart", "job": "shop"})
        == '{__name__="http.server.duration",job="shop","service.name"="cart"}'
    )
    assert or_absent("k8s.namespace.name", "shop") == '"k8s.namespace.name"=~"shop|"'
    assert (
        regex_selector("up", {"service.name": "cart"}, {"k8s.pod.name": ["a", "b"]})
        == 'up{"service.name"="cart","k8s.pod.name"=~"a|b"}'
    )


def test_templates_read_a_utf8_label_with_index():
    labels = {"service.name": 'ca"rt', "job": "shop"}
    assert render_template('up{s="{{ index $labels "service.name" }}"}', labels) == 'up{s="ca\\"rt"}'
    assert render_template('up{j="{{ $labels.job }}"}', labels) == 'up{j="shop"}'
    with pytest.raises(TemplateError, match=r"'k8s\.pod\.name'"):
        render_template('up{p="{{ index $labels "k8s.pod.name" }}"}', labels)


def test_alertmanager_silence_link_quotes_utf8_names():
    link = alertmanager_silence("http://am:9093", {"alertname": "Slow", "service.name": "cart"})
    assert link is not None
    assert "%22service.name%22%3D%22cart%22" in link  # "service.name"="cart"
    assert "alertname%3D%22Slow%22" in link


@needs_grammar
def test_prometheus_3_grammar_is_an_oracle_that_can_fail():
    errors = syntax_errors(['up{"service.name"="cart"}', 'up{service.name="cart"}', "up{job="])
    assert errors[0] == []
    assert errors[1] and errors[2]


@needs_grammar
def test_every_selector_form_parses_under_prometheus_3():
    utf8 = {"service.name": "cart", "k8s.namespace.name": "shop", "job": "shop/cart"}
    queries = [
        selector({"__name__": "http_server_duration_seconds", **utf8}),
        selector({"__name__": "http.server.duration", **utf8}),
        scoped_selector({"service.name": "cart"}, {"k8s.namespace.name": "shop-1"}),
        regex_selector("up", {"service.name": "cart"}, {"k8s.pod.name": ["cart-1", "cart-2"]}),
        f"rate({selector({'__name__': 'requests_total', **utf8})}[5m])",
    ]
    assert syntax_errors(queries) == [[] for _ in queries]


class RecordingSource(QuietSource):
    """A metric source over a fixed set of series that records every query and matcher it is sent.

    `series()` answers every label set (the test's series are all related); `query_range()` answers the
    stored series whose label values all appear in the query (enough to drive the evidence code)."""

    def __init__(self, stored: Sequence[SeriesData]) -> None:
        self.stored = list(stored)
        self.sent: list[str] = []

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.sent.append(query)
        grid = np.arange(start, end + step / 2, step)
        found = []
        for data in self.stored:
            wanted = [v for k, v in data.labels.items() if k != "__name__"]
            if data.metric in query and all(f'"{v}"' in query or f"{v}|" in query for v in wanted[:1]):
                found.append(SeriesData(data.labels, grid, np.interp(grid, data.timestamps, data.values)))
        return found

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        self.sent.extend(matchers)
        return [dict(d.labels) for d in self.stored][:limit]


def _series(metric: str, labels: Mapping[str, str], end: float, jump: float) -> SeriesData:
    ts = np.arange(end - 3 * 3600, end + 1, 60.0)
    rng = np.random.default_rng(len(metric))
    values = 1.0 + 0.01 * rng.standard_normal(ts.size) + np.where(ts >= end - 600, jump, 0.0)
    return SeriesData({"__name__": metric, **labels}, ts, values)


@needs_grammar
async def test_the_evidence_queries_for_an_otel_alert_parse_under_prometheus_3():
    end = 1_800_000_000.0
    cart = {"service.name": "cart", "k8s.namespace.name": "shop", "k8s.pod.name": "cart-7d9f"}
    source = RecordingSource(
        [
            _series("http_server_duration_p90_seconds", cart, end, 2.0),
            _series("process_cpu_utilization_ratio", cart, end, 0.5),
            _series("http_server_requests_total", cart, end, 0.0),
        ]
    )
    labels = {"alertname": "CartSlow", "service.name": "cart", "k8s.namespace.name": "shop"}
    expr = 'http_server_duration_p90_seconds{"service.name"="cart"} > 1'
    incident = firing_incident(end - 300, labels, expr, "inc-utf8")
    settings = ContextSettings(
        identifying_labels=["service.name", "k8s.pod.name"], scope_labels=["k8s.namespace.name"]
    )

    evidence = await collect_alert_context(incident, source, settings, now=end)

    assert syntax_errors(source.sent) == [[] for _ in source.sent], source.sent
    quoted = [q for q in source.sent if '"service.name"=' in q]
    assert quoted, source.sent  # the alert's own label found the related series
    unquoted = [re.sub(r'"([\w.]+\.[\w.]+)"(?==)', r"\1", q) for q in quoted]  # as written before
    assert all(syntax_errors(unquoted)), unquoted
    assert {s.metric for s in evidence.series} >= {
        "http_server_duration_p90_seconds",
        "process_cpu_utilization_ratio",
    }


def test_utf8_attribute_names_are_equivalent_to_the_classic_labels_when_listed():
    settings = ContextSettings(
        identifying_labels=["k8s.pod.name", "pod", "service.name", "service"],
        scope_labels=["namespace", "k8s_namespace_name", "k8s.namespace.name"],
    )
    # cAdvisor's pod and namespace find the same pod's and namespace's OpenTelemetry series, and back
    assert identifying_matchers({"pod": "cart-1", "service.name": "cart"}, set(), settings) == [
        ("pod", "cart-1"),
        ("k8s.pod.name", "cart-1"),
        ("service.name", "cart"),
        ("service", "cart"),
    ]
    assert scope_matchers({"k8s.namespace.name": "shop"}, set(), settings) == {
        "namespace": "shop",
        "k8s_namespace_name": "shop",
        "k8s.namespace.name": "shop",
    }
    # not listed, not used: the defaults hold no quoted name, which Prometheus 2 could not parse
    assert scope_matchers({"namespace": "shop"}, set(), ContextSettings()) == {
        "namespace": "shop",
        "k8s_namespace_name": "shop",
    }
    assert pod_in({"k8s.pod.name": "cart-1"}) == "cart-1"
