"""The workbench's answers to malformed chart, filter and diagnosis requests, and its versioned static files
(the aiohttp test client; the layout in a browser is in test_workbench_layout.py)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from receiver.evidence.source import SeriesData
from receiver.web import templating
from receiver.web.keys import CHART_SOURCE
from receiver.web.resources import pipeline_parts

from .conftest import ClientFactory


class _TwoSeries:
    """A metric source whose every range query answers two series, service=a and service=b."""

    async def query_range(self, query: str, start: float, end: float, step: float) -> list[SeriesData]:
        t = np.array([start, end])
        return [
            SeriesData({"__name__": "up", "service": name}, t, np.array([1.0, 2.0])) for name in ("a", "b")
        ]

    async def close(self) -> None:
        pass


async def test_series_json_answers_only_the_series_its_caption_names(make_client: ClientFactory) -> None:
    client = await make_client()
    client.app[CHART_SOURCE].current = _TwoSeries()

    async def series(match: dict[str, str]) -> dict[str, Any]:
        answer = await client.get("/ui/series.json", params={"query": "up", "start": "1000", "end": "2000",
                                                              "match": json.dumps(match)})  # fmt: skip
        assert answer.status == 200
        return dict(await answer.json())

    assert [s["labels"]["service"] for s in (await series({"service": "b"}))["series"]] == ["b"]
    gone = await series({"service": "c"})  # the chart's series is not in the answer (any more)
    assert gone["series"] == []
    assert "none of the query's 2 series" in gone["error"]


@pytest.mark.parametrize(
    "times", ["start=nan&end=2000", "start=1000&end=inf", "start=-inf&end=2000", "start=2000&end=1000"]
)
async def test_series_json_refuses_times_that_are_not_a_range(make_client: ClientFactory, times: str) -> None:
    client = await make_client()
    client.app[CHART_SOURCE].current = _TwoSeries()
    answer = await client.get(f"/ui/series.json?query=up&match=%7B%7D&{times}")
    assert answer.status == 400, await answer.text()


def _script_src(html: str, name: str) -> str:
    [src] = re.findall(rf'<script src="([^"]*/{re.escape(name)}[^"]*)"', html)
    return src


async def test_static_urls_carry_their_files_version_and_only_those_are_kept_long(
    make_client: ClientFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    static = tmp_path / "static"
    shutil.copytree(templating.STATIC_DIR, static)
    monkeypatch.setattr(templating, "STATIC_DIR", static)
    client = await make_client()

    src = _script_src(await (await client.get("/ui/")).text(), "workbench.js")
    digest = hashlib.sha256((static / "workbench.js").read_bytes()).hexdigest()
    assert src == f"/ui/static/workbench.js?v={digest[:12]}"
    kept = await client.get(src)
    assert kept.status == 200 and "max-age=31536000" in kept.headers["Cache-Control"]

    with (static / "workbench.js").open("a") as script:
        script.write("/* changed */\n")
    changed = _script_src(await (await client.get("/ui/")).text(), "workbench.js")
    assert changed != src  # a new file is a new URL: no browser keeps running the old one

    for path in ("/ui/static/workbench.js", src, "/ui/static/no-such-file.js"):  # unversioned, stale, 404
        answer = await client.get(path)
        assert "max-age" not in answer.headers["Cache-Control"], (path, answer.status)
        assert answer.headers["Cache-Control"] == "no-cache"
    assert (await client.get("/ui/static/no-such-file.js")).status == 404


async def test_a_bad_since_shows_the_list_form_with_the_error_said_once(make_client: ClientFactory) -> None:
    client = await make_client()
    answer = await client.get("/ui/?since=yesterday-ish&severity=critical")
    assert answer.status == 400
    assert answer.content_type == "text/html"
    html = await answer.text()
    assert '<form class="filters"' in html  # the page, to correct the filter in
    [error] = re.findall(r'<p class="error"[^>]*>([^<]*)</p>', html)
    assert error.startswith("since: invalid time &#39;yesterday-ish&#39;")
    assert html.count("now or -6h") == 1
    assert re.search(r'<input name="since" value="yesterday-ish"[^>]*aria-invalid="true"', html)
    assert (await client.get("/ui/rows?since=yesterday-ish")).status == 400  # the live rows: no page


@pytest.mark.parametrize("path", ["/api/v1/diagnoses", "/ui/diagnose"])
async def test_an_on_demand_range_that_ends_before_it_starts_is_refused(
    make_client: ClientFactory, path: str
) -> None:
    client = await make_client(pipeline_parts, prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    if path.startswith("/api"):
        answer = await client.post(path, json={"alert": {"alertname": "X", "start": "now", "end": "-1h"}})
        said = (await answer.json())["error"]
    else:
        answer = await client.post(path, data={"expr": "up", "start": "now", "end": "-1h"})
        [said] = re.findall(r'<p class="error"[^>]*>([^<]*)</p>', await answer.text())
    assert answer.status == 400
    assert "is before start" in said, said
