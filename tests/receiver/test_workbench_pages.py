"""The workbench's on-demand form answers with a redirect to its result, and the recurring-problems page is
a workbench page (the aiohttp test client; the same in a browser is in test_workbench_browser.py)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp.test_utils import TestClient

from receiver.evidence.source import MetricSourceError, SeriesData
from receiver.models import new_incident
from receiver.storage import incidents as db_incidents
from receiver.storage import workbench as db_workbench
from receiver.storage.database import Store
from receiver.storage.retention import prune_small_tables
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE, SOURCE, STORE
from receiver.web.resources import pipeline_parts
from tests.support.quiet_source import QuietSource

from .conftest import ClientFactory

RESULT_URL = re.compile(r"/ui/diagnoses/[A-Za-z0-9_-]+")


class _CountingSource(QuietSource):
    """A metric source that counts the calls made to it: every query answers one series that steps up,
    every series lookup that series' labels."""

    def __init__(self) -> None:
        self.calls = 0
        self.labels = {"__name__": "errors", "service": "orders"}

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        self.calls += 1
        t = np.linspace(start, end, 60)
        return [SeriesData(self.labels, t, np.where(np.arange(60) < 40, 1.0, 5.0))]

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        self.calls += 1
        return [dict(self.labels)]


async def _client(make_client: ClientFactory) -> tuple[TestClient[Any, Any], _CountingSource]:
    client = await make_client(pipeline_parts, prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    source = _CountingSource()
    client.app[SOURCE].current = source
    return client, source


async def _kept(client: TestClient[Any, Any]) -> int:
    """How many on-demand results the app's database keeps."""
    return int(await client.app[STORE].run(lambda db: db.table("ondemand_results").count))


async def _diagnose(client: TestClient[Any, Any], **fields: str) -> Any:
    form = {"expr": 'errors{service="orders"}', "start": "-1h", "end": "now", **fields}
    return await client.post("/ui/diagnose", data=form, allow_redirects=False)


async def test_a_diagnosed_expression_redirects_to_its_result_page(make_client: ClientFactory) -> None:
    client, _ = await _client(make_client)
    answer = await _diagnose(client)
    assert answer.status == 303
    location = answer.headers["Location"]
    assert RESULT_URL.fullmatch(location), location
    page = await client.get(location)
    assert page.status == 200
    html = await page.text()
    assert "On-demand diagnosis" in html and "Most likely cause" in html
    assert "errors{service=&#34;orders&#34;}" in html  # the expression it was asked about


async def test_reloading_a_result_runs_no_second_diagnosis(make_client: ClientFactory) -> None:
    client, source = await _client(make_client)
    location = (await _diagnose(client)).headers["Location"]
    ran = source.calls
    assert ran > 0 and await _kept(client) == 1
    first = await (await client.get(location)).text()
    again = await (await client.get(location)).text()
    assert source.calls == ran and await _kept(client) == 1
    assert again == first


async def test_each_submission_gets_a_result_of_its_own(make_client: ClientFactory) -> None:
    client, _ = await _client(make_client)
    one = (await _diagnose(client, start="-2h")).headers["Location"]
    two = (await _diagnose(client, start="-30m")).headers["Location"]
    assert one != two
    assert (await client.get(one)).status == (await client.get(two)).status == 200


async def test_a_result_no_longer_kept_gives_the_form_saying_so(make_client: ClientFactory) -> None:
    client, _ = await _client(make_client)
    answer = await client.get("/ui/diagnoses/not-kept")
    assert answer.status == 404
    html = await answer.text()
    assert '<form class="card diagnose"' in html
    [said] = re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)
    assert "no longer kept" in said


async def test_a_refused_form_is_shown_again_with_what_was_typed(make_client: ClientFactory) -> None:
    client, source = await _client(make_client)
    answer = await _diagnose(client, expr="rate(x[5m])", start="now", end="-1h")
    assert answer.status == 400
    html = await answer.text()
    assert "rate(x[5m])</textarea>" in html and 'value="-1h"' in html
    assert source.calls == 0 and await _kept(client) == 0


async def test_a_cross_site_form_post_is_refused_and_runs_nothing(make_client: ClientFactory) -> None:
    client, source = await _client(make_client)
    form = {"expr": "up", "start": "-1h", "end": "now"}
    answer = await client.post(
        "/ui/diagnose", data=form, headers={"Sec-Fetch-Site": "cross-site"}, allow_redirects=False
    )
    assert answer.status == 403
    assert source.calls == 0 and await _kept(client) == 0


def test_only_the_latest_results_are_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "kept.db")
    try:
        parts: dict[str, Any] = {"kind": "what is kept is not looked at"}
        ids = [
            store.write_sync(db_workbench.keep_ondemand_result, parts, parts, parts, float(t), keep=2)
            for t in range(3)
        ]
        assert len(set(ids)) == 3
        assert store.run_sync(db_workbench.ondemand_result, ids[0]) is None
        kept = [store.run_sync(db_workbench.ondemand_result, i) for i in ids[1:]]
        assert [k["diagnoses"][0]["created_at"] for k in kept if k] == [1.0, 2.0]
    finally:
        store.close()


def test_results_made_before_the_retention_cut_are_pruned(tmp_path: Path) -> None:
    store = Store(tmp_path / "pruned.db")
    try:
        parts: dict[str, Any] = {}
        old, new = (
            store.write_sync(db_workbench.keep_ondemand_result, parts, parts, parts, t) for t in (1, 3)
        )
        batch = store.write_sync(prune_small_tables, 2.0)
        assert batch.deleted["ondemand_results"] == 1
        assert store.run_sync(db_workbench.ondemand_result, old) is None
        assert store.run_sync(db_workbench.ondemand_result, new) is not None
    finally:
        store.close()


async def test_a_result_is_served_after_a_restart(make_client: ClientFactory) -> None:
    """Results were kept in the memory of the process that ran them: the redirect's page was a 404 after
    a restart."""
    client, source = await _client(make_client)
    location = (await _diagnose(client)).headers["Location"]
    first = await client.get(location)
    assert first.status == 200
    path = client.app[STORE].path
    await client.close()  # the receiver stops
    other, other_source = await _client(make_client)  # and starts again over the same database file
    assert other.app[STORE].path == path
    again = await other.get(location)
    assert again.status == 200
    html = await again.text()
    assert "On-demand diagnosis" in html and "errors{service=&#34;orders&#34;}" in html
    assert source.calls > 0 and other_source.calls == 0  # shown, not run again


def _alert(alertname: str, starts: float) -> dict[str, Any]:
    return {
        "status": "firing",
        "labels": {"alertname": alertname, "service": "orders", "severity": "warning"},
        "annotations": {"summary": f"{alertname} on orders"},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
    }


async def _diagnosed_incidents(client: TestClient[Any, Any], alertname: str, count: int) -> None:
    """`count` incidents of `alertname`, one a minute apart, through the webhook and the pipeline."""
    for n in range(count):
        body = {"version": "4", "status": "firing", "receiver": "aa", "groupLabels": {"alertname": alertname},
                "alerts": [_alert(alertname, time.time() - 3600 + 60 * n)]}  # fmt: skip
        answer = await client.post(
            "/webhook/alertmanager", data=json.dumps(body), headers={"Content-Type": "application/json"}
        )
        assert answer.status == 200, await answer.text()
        await wait_idle(client.app[PIPELINE])


def _layout(html: str) -> tuple[list[str], str]:
    """A page's stylesheets and its header (brand and navigation)."""
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', html)
    [header] = re.findall(r'<header class="top">.*?</header>', html, re.S)
    return sheets, header


async def test_the_problems_page_has_the_workbench_layout_and_lists_each_group(
    make_client: ClientFactory,
) -> None:
    client, _ = await _client(make_client)
    await _diagnosed_incidents(client, "OrderErrorsHigh", 2)
    await _diagnosed_incidents(client, "<b>Markup</b>", 1)
    problems = (await (await client.get("/api/v1/problems")).json())["problems"]
    assert len(problems) == 2

    page = await client.get("/ui/problems")
    html = await page.text()

    assert page.status == 200 and page.content_type == "text/html"
    assert _layout(html) == _layout(await (await client.get("/ui/overview")).text())
    assert 'href="/ui/problems"' in _layout(html)[1]  # reachable from every page's navigation
    assert "<b>Markup</b>" not in html and "&lt;b&gt;Markup&lt;/b&gt;" in html
    rows = re.findall(r"<tr>.*?</tr>", html.split("<tbody>")[1], re.S)
    assert len(rows) == len(problems)
    for row, problem in zip(rows, problems, strict=True):
        assert f">{problem['count']}</td>" in row
        for incident_id in problem["incidents"][:5]:
            assert f'href="/ui/incidents/{incident_id}"' in row


class _DownSource(_CountingSource):
    """A metric source whose every call fails as a Prometheus that does not answer does."""

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        raise MetricSourceError("unreachable", "cannot connect to http://127.0.0.1:9")

    async def series(
        self, matchers: Sequence[str], start: float, end: float, limit: int | None = None
    ) -> list[dict[str, str]]:
        raise MetricSourceError("unreachable", "cannot connect to http://127.0.0.1:9")


async def test_diagnosing_again_without_metrics_says_so_on_the_form_and_keeps_the_diagnosis(
    make_client: ClientFactory,
) -> None:
    client, _ = await _client(make_client)
    incident = new_incident(
        fingerprint="f00d",
        starts_at=time.time() - 600,
        ends_at=None,
        labels={"alertname": "OrdersFailing", "service": "orders"},
        annotations={},
        generator_url="",
        group_key="{}:{}",
        source="alertmanager",
        now=time.time(),
    )
    await client.app[STORE].write(db_incidents.create_incident, incident)
    client.app[PIPELINE].submit([incident.id])
    await wait_idle(client.app[PIPELINE])
    api = f"/api/v1/incidents/{incident.id}"
    kept = await (await client.get(api)).json()
    assert kept["diagnosis"] is not None and kept["evidence"]["series"]

    client.app[SOURCE].current = _DownSource()
    answer = await client.post("/ui/diagnose", data={"incident_id": incident.id}, allow_redirects=False)
    assert answer.status == 503
    html = await answer.text()
    [said] = re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)
    assert said.startswith("no metric could be read (unreachable: ") and "keeps its diagnosis" in said
    assert f'href="/ui/incidents/{incident.id}"' in html and f'value="{incident.id}"' in html
    after = await (await client.get(api)).json()
    assert (after["diagnosis"], after["evidence"]) == (kept["diagnosis"], kept["evidence"])
