"""A label value from a webhook (or an ad-hoc alert) cannot change what a context query asks a real
Prometheus: it is written as a literal wherever `{{ $labels.NAME }}` stands (a regex matcher's string, a
single-quoted string, outside any string), never as query text."""

from __future__ import annotations

from typing import Any

import pytest

from demo.processes import ManagedProcess
from receiver.evidence.promql import TemplateError, render_template
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import Scenario

from .conftest import ClientFactory

# The attacker reaches for the DB pool series, which no query below names.
HOSTILE = [
    pytest.param('{__name__=~"demo_.+",service=~"{{ $labels.service }}"}', ".+", id="regex matcher"),
    pytest.param(
        "demo_cpu_usage_ratio{service='{{ $labels.service }}'}",
        "x'} or demo_db_pool_in_use{service!='",
        id="single-quoted string",
    ),
    pytest.param(
        "topk({{ $labels.service }}, demo_cpu_usage_ratio)",
        "1, demo_cpu_usage_ratio) or demo_db_pool_in_use or topk(1",
        id="outside a string",
    ),
]


async def _diagnose(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario, query: str, service: str
) -> dict[str, Any]:
    client = await make_client(
        pipeline_parts,
        prometheus={"url": prometheus.url, "retries": 0},
        context={"context_queries": [{"name": "probe", "query": query}]},
    )
    alert = {"alertname": "Probe", "start": scenario.effect_at + 60, "labels": {"service": service}}
    answer = await client.post("/api/v1/diagnoses", json={"alert": alert})
    assert answer.status == 200, await answer.text()
    evidence: dict[str, Any] = (await answer.json())["evidence"]
    return evidence


@pytest.mark.parametrize(("query", "service"), HOSTILE)
async def test_a_hostile_label_value_reads_no_other_series(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario, query: str, service: str
) -> None:
    evidence = await _diagnose(make_client, prometheus, scenario, query, service)

    read = {(s["metric"], s["labels"].get("service")) for s in evidence["series"]}
    assert {owner for _, owner in read} <= {"frontend"}, read


async def test_a_label_value_in_a_regex_matcher_matches_itself_literally(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    query = 'demo_cpu_usage_ratio{service=~"{{ $labels.service }}"}'
    evidence = await _diagnose(make_client, prometheus, scenario, query, "frontend")

    assert {s["labels"]["service"] for s in evidence["series"]} == {"frontend"}


@pytest.mark.parametrize(
    ("query", "value", "rendered"),
    [
        ('up{i="{{ $labels.v }}"}', 'a"b\\', 'up{i="a\\"b\\\\"}'),
        ("up{i='{{ $labels.v }}'}", "a'b", "up{i='a\\'b'}"),
        ('up{i!~"{{ $labels.v }}-.*"}', "a.b", 'up{i!~"a\\\\.b-.*"}'),
        ('up{i=~"{{ index $labels "v" }}"}', "a|b", 'up{i=~"a\\\\|b"}'),
        ("up{i=`{{ $labels.v }}`}", 'a\\"', 'up{i=`a\\"`}'),
        ("topk({{ $labels.v }}, up) # it's", "5", "topk(5, up) # it's"),
        ("rate(x[{{ $labels.v }}])", "5m", "rate(x[5m])"),
    ],
)
def test_values_are_escaped_for_where_the_template_stands(query: str, value: str, rendered: str) -> None:
    assert render_template(query, {"v": value}) == rendered


@pytest.mark.parametrize(
    ("query", "value"),
    [("up{i=`{{ $labels.v }}`}", "a`b"), ("topk({{ $labels.v }}, up)", "1, up) or (x")],
)
def test_a_value_that_cannot_be_written_there_skips_the_query(query: str, value: str) -> None:
    with pytest.raises(TemplateError):
        render_template(query, {"v": value})
