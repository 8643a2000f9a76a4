"""generatorURL parsing, comparison stripping, selectors and templates (pure string functions)."""

from __future__ import annotations

import json

import pytest

from receiver.evidence.context import identifying_matchers, scope_matchers
from receiver.evidence.promql import (
    TemplateError,
    generator_url_for,
    parse_generator_url,
    regex_selector,
    render_template,
    scoped_selector,
    selector,
    strip_comparison,
)
from receiver.evidence.settings import ContextSettings


def test_generator_url_is_query_unescaped_with_plus_as_space():
    url = "http://host:9090/graph?g0.expr=demo_pnl_drawdown_ratio%7Bjob%3D%22trading-exporter%22%7D+%3E+0.3&g0.tab=1"
    assert parse_generator_url(url) == 'demo_pnl_drawdown_ratio{job="trading-exporter"} > 0.3'


def test_generator_url_from_webhook_json_with_escaped_ampersand():
    raw = '{"generatorURL": "http://h:9090/graph?g0.expr=up+%3D%3D+0\\u0026g0.tab=1"}'
    assert parse_generator_url(json.loads(raw)["generatorURL"]) == "up == 0"
    assert parse_generator_url("http://h:9090/graph?g0.expr=up+%3D%3D+0\\u0026g0.tab=1") == "up == 0"


@pytest.mark.parametrize(
    "url", [None, "", "https://grafana/alerting/list", "http://vmalert/vmalert/alert?id=1"]
)
def test_generator_url_without_an_expression_gives_none(url):
    assert parse_generator_url(url) is None


def test_generator_url_round_trips():
    expr = 'sum by (job) (rate(x_total{a=~"b|c"}[5m])) > 0.5 and on() hour() > 8'
    assert parse_generator_url(generator_url_for("http://p:9090/", expr)) == expr


@pytest.mark.parametrize(
    ("expr", "measured"),
    [
        (
            'demo_pnl_drawdown_ratio{job="trading-exporter"} > 0.3',
            'demo_pnl_drawdown_ratio{job="trading-exporter"}',
        ),
        ("0.3 < x", "x"),
        ("(rate(x[5m]) >= 3)", "rate(x[5m])"),
        ('sum by (a) (rate(x{l=~"a>b"}[5m])) > bool 3', 'sum by (a) (rate(x{l=~"a>b"}[5m]))'),
        ("up == 0 and on() hour() > 8", "up"),
        ("a > on(instance) group_left b", "a"),
        (
            "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m]))) > 0.5",
            "histogram_quantile(0.99, sum by (le) (rate(h_bucket[5m])))",
        ),
        ("rate(x_total[5m])", "rate(x_total[5m])"),
        ("x > 1e-3 # comment > 2", "x"),
    ],
)
def test_the_outer_comparison_is_stripped(expr, measured):
    assert strip_comparison(expr) == measured


def test_selectors_quote_and_escape_values():
    assert selector({"__name__": "up", "job": 'a"b\\c'}) == 'up{job="a\\"b\\\\c"}'
    assert (
        regex_selector("m", {"job": "x"}, {"instance": ["a.b:1", "c"]})
        == 'm{job="x",instance=~"a\\\\.b:1|c"}'
    )


def test_related_selectors_drop_external_rule_and_alertname_labels():
    labels = {
        "alertname": "HighErrors",
        "job": "shop",
        "instance": "orders-1",
        "severity": "critical",
        "team": "checkout",
        "cluster": "eu-1",
        "replica": "a",
        "service": "orders",
    }
    settings = ContextSettings(identifying_labels=["instance", "service", "job", "cluster", "severity"])
    drop = {"alertname", "cluster", "replica", "severity", "team"}

    assert identifying_matchers(labels, drop, settings) == [
        ("instance", "orders-1"),
        ("service", "orders"),
        ("job", "shop"),
    ]


def test_related_series_stay_in_the_alerts_namespace_or_carry_none():
    settings = ContextSettings()

    # OpenTelemetry's namespace label is the same scope: a series may carry either
    assert scope_matchers({"namespace": "shop", "service": "cart"}, set(), settings) == {
        "namespace": "shop",
        "k8s_namespace_name": "shop",
    }
    assert scope_matchers({"namespace": "shop"}, {"namespace"}, settings) == {}
    assert scope_matchers({"service": "cart"}, set(), settings) == {}
    assert scope_matchers({"namespace": "shop"}, set(), ContextSettings(scope_labels=[])) == {}
    assert (
        scoped_selector({"service": "cart"}, {"namespace": "shop-1"})
        == r'{service="cart",namespace=~"shop\\-1|"}'
    )
    assert scoped_selector({"namespace": "shop"}, {"namespace": "shop"}) == '{namespace="shop"}'


def test_templates_use_alert_labels_escaped():
    assert render_template('up{i="{{ $labels.instance }}"}', {"instance": 'a"b'}) == 'up{i="a\\"b"}'
    assert render_template('up{i="{{$labels.instance}}"}', {"instance": "x"}) == 'up{i="x"}'
    with pytest.raises(TemplateError, match="'pod'"):
        render_template('up{pod="{{ $labels.pod }}"}', {})
