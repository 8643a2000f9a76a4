"""The on-demand form refuses what cannot be diagnosed (400 on the form, naming the problem, with what
was typed kept) instead of running a diagnosis of nothing: PromQL the backend rejects, a start after the
end or after now, no expression and no incident."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from receiver.evidence.source import MetricSourceError, SeriesData
from receiver.web.keys import SOURCE
from receiver.web.ondemand import ONDEMAND_RUNS
from receiver.web.resources import pipeline_parts

from .conftest import ClientFactory
from .test_workbench_pages import _CountingSource, _kept

BROKEN = "rate(orders_error_ratio[5m"


class _ParsingSource(_CountingSource):
    """Rejects an expression with unbalanced brackets as Prometheus does (HTTP 400 bad_data)."""

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.calls += 1
        if query.count("[") != query.count("]") or query.count("(") != query.count(")"):
            raise MetricSourceError(
                "bad_query", "HTTP 400 bad_data: 1:26: parse error: unclosed left bracket (fix the PromQL)"
            )
        t = np.linspace(start, end, 60)
        return [SeriesData(self.labels, t, np.where(np.arange(60) < 40, 1.0, 5.0))]


async def _client(make_client: ClientFactory) -> tuple[TestClient[Any, Any], _ParsingSource]:
    client = await make_client(pipeline_parts, prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    source = _ParsingSource()
    client.app[SOURCE].current = source
    return client, source


async def _refusal(client: TestClient[Any, Any], **form: str) -> tuple[str, str]:
    """What the form said (status 400 asserted) and the page."""
    answer = await client.post("/ui/diagnose", data=form, allow_redirects=False)
    html = await answer.text()
    assert answer.status == 400, (answer.status, answer.headers.get("Location"))
    [said] = re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)
    return said, html


async def test_promql_the_backend_rejects_is_said_on_the_form(make_client: ClientFactory) -> None:
    client, _ = await _client(make_client)
    said, html = await _refusal(client, expr=BROKEN, start="-1h", end="now")
    assert said.startswith("expression: the backend rejects it") and "parse error" in said, said
    assert f"{BROKEN}</textarea>" in html
    assert await _kept(client) == 0


@pytest.mark.parametrize(
    ("start", "end", "named"),
    [("2099-01-01T00:00:00Z", "", "is after now"), ("-10m", "-1h", "is before start")],
)
async def test_a_range_that_cannot_have_happened_is_refused(
    make_client: ClientFactory, start: str, end: str, named: str
) -> None:
    client, source = await _client(make_client)
    said, html = await _refusal(client, expr="errors", start=start, end=end)
    assert named in said and not said.startswith("alert:"), said
    assert f'value="{start}"' in html and "errors</textarea>" in html
    assert source.calls == 0 and await _kept(client) == 0


async def test_the_untouched_form_asks_for_an_expression_or_an_incident(make_client: ClientFactory) -> None:
    client, source = await _client(make_client)
    said, html = await _refusal(client, expr="", incident_id="", start="-1h", end="")
    assert "give a PromQL expression, or the id of an incident" in said
    assert 'value="-1h"' in html
    assert source.calls == 0 and await _kept(client) == 0


async def test_the_api_refuses_rejected_promql_and_a_future_start_too(make_client: ClientFactory) -> None:
    client, _ = await _client(make_client)
    for alert, named in (
        ({"alertname": "A", "expr": BROKEN, "start": "-1h"}, "parse error"),
        ({"alertname": "A", "start": "2099-01-01T00:00:00Z"}, "is after now"),
    ):
        answer = await client.post("/api/v1/diagnoses", json={"alert": alert})
        assert answer.status == 400 and named in await answer.text(), await answer.text()


async def test_the_busy_message_counts_one_diagnosis_in_the_singular(make_client: ClientFactory) -> None:
    client = await make_client(pipeline_parts, pipeline={"max_concurrent_analyses": 1})
    client.app[SOURCE].current = _ParsingSource()
    client.app[ONDEMAND_RUNS].running = 1
    answer = await client.post("/ui/diagnose", data={"expr": "errors", "start": "-1h"}, allow_redirects=False)
    assert answer.status == 429
    assert "1 on-demand diagnosis is running already" in await answer.text()
