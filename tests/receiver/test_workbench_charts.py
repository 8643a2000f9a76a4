"""The workbench's chart points (`/ui/series.json`) against a real, backfilled Prometheus: what a chart
fetch costs the pipeline when the backend is slow, and how missing samples and values a chart cannot draw
are answered (the aiohttp test client; drawing is in the browser tests)."""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from demo.processes import ManagedProcess
from demo.tsdb import SyntheticSeries, start_backfilled_prometheus
from receiver.web.resources import pipeline_parts
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.holding_proxy import holding_proxy

from .conftest import ClientFactory
from .test_ondemand import assert_diagnosed_with_evidence

CIRCUIT_FAILURES = 3
END = math.floor(time.time() / 60) * 60
GAP = (END - 4800, END - 3000)  # 30 minutes without samples
STEP_UP = END - 3600  # orders_level steps from 1 to 2 (inside the gap)


@pytest.fixture(scope="module")
def gappy_prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ManagedProcess]:
    """`orders_level`, scraped every minute for two hours but for 30 minutes, steps from 1 to 2."""
    ts = np.arange(END - 7200, END + 60, 60.0)
    kept = (ts < GAP[0]) | (ts >= GAP[1])
    level = SyntheticSeries("orders_level", {"job": "shop"}, ts[kept], np.where(ts < STEP_UP, 1.0, 2.0)[kept])
    proc = start_backfilled_prometheus(tmp_path_factory.mktemp("gappy"), [level])
    yield proc
    proc.stop()


async def _chart(make_client: ClientFactory, prometheus: ManagedProcess, query: str) -> dict[str, Any]:
    client = await make_client(prometheus={"url": prometheus.url, "retries": 0})
    chart = {"query": query, "start": END - 7200, "end": END, "match": "{}"}
    answer = await client.get("/ui/series.json", params=chart)
    assert answer.status == 200, await answer.text()
    [series] = (await answer.json())["series"]
    return dict(series)


async def test_charts_that_time_out_leave_the_pipelines_circuit_closed(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    """A page of charts opened while Prometheus hangs times out more often than `circuit_failures`; an alert
    diagnosed once Prometheus answers again still gets its evidence (before, it found the circuit open)."""
    async with holding_proxy(prometheus.url) as (holding, url):
        settings = {"url": url, "retries": 0, "timeout_seconds": 0.3, "circuit_failures": CIRCUIT_FAILURES}
        client = await make_client(pipeline_parts, prometheus=settings)
        holding.hold = True
        chart = {"query": ALERT_EXPR, "start": scenario.end - 3600, "end": scenario.end, "match": "{}"}
        for _ in range(CIRCUIT_FAILURES + 1):
            answer = await client.get("/ui/series.json", params=chart)
            assert answer.status == 502  # a timeout, then the charts' own circuit open
        holding.hold = False

        await assert_diagnosed_with_evidence(client, scenario)


async def test_missing_samples_are_a_null_so_the_line_breaks_there(
    make_client: ClientFactory, gappy_prometheus: ManagedProcess
) -> None:
    """uPlot joined the last point before the gap to the first after it: a straight line where there was
    no data, just where the value stepped."""
    series = await _chart(make_client, gappy_prometheus, "orders_level")
    t, v = series["t"], series["v"]
    step = t[1] - t[0]
    gaps = [i for i, value in enumerate(v) if value is None]
    assert len(gaps) == 1 and GAP[0] < t[gaps[0]] < GAP[1]
    drawn = [(at, value) for at, value in zip(t, v, strict=True) if value is not None]
    joined = [b[0] - a[0] for a, b in itertools.pairwise(drawn) if b[0] - a[0] > 1.5 * step]
    assert joined == [t[gaps[0] + 1] - t[gaps[0] - 1]]  # the one jump the null breaks
    assert series["notes"] == []


async def test_values_a_chart_cannot_draw_are_said_in_its_notes(
    make_client: ClientFactory, gappy_prometheus: ManagedProcess
) -> None:
    """1 / 0 is +Inf until the step: those points were dropped without a word."""
    series = await _chart(make_client, gappy_prometheus, "orders_level / (orders_level - 1)")
    nulls = [at for at, value in zip(series["t"], series["v"], strict=True) if value is None]
    first = time.strftime("%H:%M:%S", time.gmtime(nulls[0]))
    count = len(nulls) - 1  # and the null of the gap
    assert series["notes"] == [f"+Inf at {count} points from {first} UTC, not drawn"]
