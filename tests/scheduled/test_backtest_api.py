"""POST /api/v1/backtest: a rule replayed over a real Prometheus's history through the scheduler's own
source and pool, and a defined answer for every way it cannot run."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from demo.processes import ManagedProcess, free_port
from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.evidence.source import SeriesData
from receiver.scheduled.probe import rises_only
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from receiver.web.backtest import backtest_routes
from receiver.web.rules import rule_routes
from receiver.web.templating import setup_templates
from tests.scheduled.conftest import COUNTER, QUERY, Injected

FILLS = RuleSettings(name="fills", query=QUERY, method="zscore", severity="critical")


async def _nothing(finding: object) -> None:
    return None


def _scheduler(path: Path, source: Any) -> DetectionScheduler:
    return DetectionScheduler(
        Store(path / "analyst.db"), source, DetectionSettings(rules=[FILLS]), on_anomaly=_nothing
    )


async def _client(aiohttp_client: Any, scheduler: DetectionScheduler) -> Any:
    app = web.Application()
    setup_templates(app)
    app.add_routes([*backtest_routes(scheduler), *rule_routes(scheduler)])
    return await aiohttp_client(app)


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path, prometheus: ManagedProcess):
    source = PrometheusSource(PrometheusSettings(url=prometheus.url, retries=0))
    yield await _client(aiohttp_client, _scheduler(tmp_path, source))
    await source.close()


class HeldSource:
    """A metric source whose range queries wait until `release` is set (to hold a backtest mid-fetch)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.asked = asyncio.Event()

    async def query_range(self, query: str, start: float, end: float, step: float) -> Sequence[SeriesData]:
        self.asked.set()
        await self.release.wait()
        return []


def _last_hour(injected: Injected, **rule: Any) -> dict[str, Any]:
    return {
        "rule": rule,
        "from": injected.end - 3600,
        "to": injected.end,
        "lookback": "6h",
        "interval": "5m",
    }


async def test_a_new_rule_finds_the_injected_jump_and_only_it(client, injected: Injected):
    answer = await client.post("/api/v1/backtest", json=_last_hour(injected, query=QUERY, method="zscore"))

    assert answer.status == 200
    data = (await answer.json())["data"]
    assert (data["series"], data["incidents"], data["evaluations"]) == (3, 1, 13)
    [finding] = data["findings"]
    assert finding["labels"] == {"__name__": QUERY, "job": "trading", "venue": "a"}
    assert finding["value"] == pytest.approx(0.5, abs=0.05)
    assert finding["baseline"] == pytest.approx(0.05, abs=0.01)
    assert data["per_series"] == [{"series": finding["series"], "incidents": 1}]
    assert data["rule"]["name"] == "backtest" and data["lookback_seconds"] == 6 * 3600


@pytest.mark.parametrize(("min_change", "fired"), [(5, 1), (12, 0)])
async def test_a_named_rule_takes_the_fields_given_over_its_own(
    client, injected: Injected, min_change: float, fired: int
):
    # venue a moves 0.45 s, 9 x its baseline: a floor of 5 x lets it through, 12 x does not
    body = _last_hour(injected, name="fills", min_change=min_change)

    data = (await (await client.post("/api/v1/backtest", json=body)).json())["data"]

    assert data["incidents"] == fired
    assert (data["rule"]["method"], data["rule"]["severity"], data["rule"]["min_change"]) == (
        "zscore",
        "critical",
        min_change,
    )


async def test_an_api_rule_can_be_tried_by_name(client, injected: Injected):
    rule = {"name": "fills_api", "query": QUERY, "method": "zscore", "direction": "down"}
    assert (await client.post("/api/v1/rules", json=rule)).status == 201

    data = (
        await (await client.post("/api/v1/backtest", json=_last_hour(injected, name="fills_api"))).json()
    )["data"]

    assert data["rule"]["direction"] == "down" and data["incidents"] == 0  # the jump goes up


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"from": "-1h"}, 400, "rule"),
        ({"rule": {"query": QUERY}, "colour": "red"}, 400, "colour"),
        ({"rule": {"name": "nope"}}, 404, "rule.name"),
        ({"rule": {"query": QUERY, "threshold": -1}}, 400, "rule.threshold"),
        ({"rule": {"query": QUERY, "method": "astrology"}}, 400, "rule.method"),
        ({"rule": {"query": QUERY}, "from": "-1h", "to": "-2h"}, 400, "to"),
        ({"rule": {"query": QUERY}, "from": "yesterday"}, 400, "from"),
        ({"rule": {"query": QUERY}, "from": "now", "to": "+1d"}, 400, "to"),  # the bad one is named
        ({"rule": {"query": QUERY}, "interval": "soon"}, 400, "interval"),
        ({"rule": {"query": QUERY}, "step": "1h", "lookback": "2h"}, 400, "step"),
        ({"rule": {"query": QUERY}, "from": "-365d", "step": "15s", "interval": "1m"}, 400, "from"),
        ({"rule": {"query": QUERY}, "from": "-3650000d", "interval": "1s"}, 400, "from"),  # not listed first
        (
            {"rule": {"query": QUERY}, "from": "-3650d", "interval": "3650d"},
            400,
            "from",
        ),  # 5 M points fetched
    ],
)
async def test_a_request_that_cannot_run_says_why(client, body: dict[str, Any], status: int, field: str):
    answer = await client.post("/api/v1/backtest", json=body)

    assert answer.status == status
    assert (await answer.json())["field"] == field


async def test_malformed_json_is_a_400(client):
    answer = await client.post(
        "/api/v1/backtest", data=b'{"rule": ', headers={"Content-Type": "application/json"}
    )

    assert answer.status == 400


async def test_too_much_work_is_refused_before_anything_is_fetched(aiohttp_client, tmp_path: Path):
    source = HeldSource()
    client = await _client(aiohttp_client, _scheduler(tmp_path, source))
    body = {"rule": {"query": QUERY}, "from": "-365d", "step": "15s", "interval": "1m"}

    answer = await asyncio.wait_for(client.post("/api/v1/backtest", json=body), 10)

    message = (await answer.json())["error"]
    assert answer.status == 400 and "fetch" in message and "shorten the range" in message
    assert not source.asked.is_set()


async def test_too_many_point_scores_are_refused_before_anything_is_fetched(aiohttp_client, tmp_path: Path):
    source = HeldSource()
    client = await _client(aiohttp_client, _scheduler(tmp_path, source))
    body = {"rule": {"query": QUERY}, "from": "-60d", "interval": "1m"}  # 86,401 x 1,440 for one series

    answer = await asyncio.wait_for(client.post("/api/v1/backtest", json=body), 10)

    message = (await answer.json())["error"]
    assert answer.status == 400 and "point-scores" in message and "alert-analyst backtest" in message
    assert "(for each series the query returns)" in message  # not "(1 series)": none was fetched yet
    assert not source.asked.is_set()


async def test_prometheus_down_is_a_502_naming_the_query(aiohttp_client, tmp_path: Path):
    source = PrometheusSource(PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retries=0))
    client = await _client(aiohttp_client, _scheduler(tmp_path, source))

    answer = await client.post("/api/v1/backtest", json={"rule": {"query": QUERY}, "from": "-1h"})

    assert answer.status == 502
    body = await answer.json()
    assert body["field"] == "rule.query" and QUERY in body["error"]
    await source.close()


async def test_a_second_backtest_while_one_runs_is_a_429(aiohttp_client, tmp_path: Path):
    source = HeldSource()
    client = await _client(aiohttp_client, _scheduler(tmp_path, source))
    body = {"rule": {"query": QUERY}, "from": "-1h"}

    first = asyncio.create_task(client.post("/api/v1/backtest", json=body))
    await asyncio.wait_for(source.asked.wait(), 10)
    second = await asyncio.wait_for(client.post("/api/v1/backtest", json=body), 10)
    source.release.set()
    done = await first

    assert second.status == 429
    assert done.status == 200
    assert (await done.json())["data"]["series"] == 0


class FixedSource:
    """A metric source that answers every range query with the same series."""

    def __init__(self, series: list[SeriesData]) -> None:
        self.series = series

    async def query_range(self, query: str, start: float, end: float, step: float) -> Sequence[SeriesData]:
        return self.series


def _counter_and_gauge() -> list[SeriesData]:
    ts = np.arange(time.time() - 7200, time.time(), 60.0)
    rng = np.random.default_rng(3)
    total = np.cumsum(rng.poisson(40, ts.size)).astype(float)
    total[80:] -= total[79]  # a restart: the counter starts again from 0
    gauge = 100 + rng.normal(0, 1, ts.size)
    return [
        SeriesData({"__name__": "orders_total", "pod": "a"}, ts, total),
        SeriesData({"__name__": "orders_total", "pod": "b"}, ts, gauge),
    ]


async def test_a_query_for_counters_is_told_to_take_their_rate(aiohttp_client, tmp_path: Path):
    client = await _client(aiohttp_client, _scheduler(tmp_path, FixedSource(_counter_and_gauge())))

    answer = await client.post("/api/v1/backtest", json={"rule": {"query": "orders_total"}, "from": "-1h"})

    [note] = (await answer.json())["data"]["notes"]
    assert note.startswith("1 of 2 series only rose") and "rate(orders_total[5m])" in note


async def test_a_query_without_series_says_so(aiohttp_client, tmp_path: Path):
    client = await _client(aiohttp_client, _scheduler(tmp_path, FixedSource([])))

    answer = await client.post("/api/v1/backtest", json={"rule": {"query": "ordres_total"}, "from": "-1h"})

    data = (await answer.json())["data"]
    assert data["incidents"] == 0 and "'ordres_total' returned no series over the range" in data["notes"][0]


@pytest.mark.parametrize(
    ("values", "counter"),
    [
        (np.cumsum(np.ones(100)), True),
        (np.r_[np.cumsum(np.ones(50)), np.nan, np.cumsum(np.ones(50))], True),  # a gap and a reset
        (100 + np.random.default_rng(1).normal(0, 1, 100), False),
        (np.linspace(0, 50, 100) + np.random.default_rng(2).normal(0, 1, 100), False),  # a noisy leak
        (np.full(100, 7.0), False),
        (np.cumsum(np.ones(10)), False),  # too short to tell
    ],
)
def test_rises_only_tells_counters_from_gauges(values: np.ndarray, counter: bool):
    assert rises_only(values) is counter


async def test_a_rule_whose_promql_the_backend_rejects_is_a_400_and_not_stored(client):
    answer = await client.post("/api/v1/rules", json={"name": "broken", "query": f"rate({QUERY}[5m]"})

    assert answer.status == 400
    body = await answer.json()
    assert body["field"] == "query" and "bad_query" in body["error"]
    names = [r["name"] for r in (await (await client.get("/api/v1/rules")).json())["data"]]
    assert "broken" not in names


@pytest.mark.parametrize(
    ("query", "note"),
    [
        (QUERY, None),
        ("demo_fill_latency_secnods", "returned no series over the last hour"),
        (COUNTER, "every series only rose over the last hour"),
    ],
)
async def test_a_new_rule_is_told_what_its_query_returns(client, query: str, note: str | None):
    answer = await client.post("/api/v1/rules", json={"name": "tried", "query": query})

    assert answer.status == 201
    notes = (await answer.json())["notes"]
    assert notes == [] if note is None else note in notes[0]


async def test_a_backtest_of_invalid_promql_is_a_400(client):
    answer = await client.post("/api/v1/backtest", json={"rule": {"query": f"sum({QUERY}"}, "from": "-1h"})

    assert answer.status == 400 and (await answer.json())["field"] == "rule.query"


async def test_a_rule_change_waits_no_longer_than_the_probe_allows(
    aiohttp_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("receiver.scheduled.scheduler.PROBE_SECONDS", 0.2)
    source = HeldSource()  # never answers
    client = await _client(aiohttp_client, _scheduler(tmp_path, source))

    answer = await asyncio.wait_for(client.post("/api/v1/rules", json={"name": "slow", "query": QUERY}), 10)

    assert answer.status == 201
    assert "not answered within 0.2 s" in (await answer.json())["notes"][0]


@pytest.mark.parametrize(
    ("form", "status", "says"),
    [
        ({"name": "fills", "query": QUERY}, 409, "comes from the configuration file"),
        ({"name": "new_rule", "query": f"sum({QUERY}"}, 400, "the backend rejects it"),
        ({"name": "new_rule", "query": QUERY, "threshold": "-1"}, 400, "rule.threshold"),
        ({"name": "new_rule", "query": QUERY}, 200, "Rule <a"),
    ],
)
async def test_saving_from_the_page_answers_as_the_rules_api(
    client, form: dict[str, str], status: int, says: str
):
    answer = await client.post("/ui/backtest", data={**form, "action": "save"})

    assert answer.status == status
    assert says in await answer.text()
    names = [r["name"] for r in (await (await client.get("/api/v1/rules")).json())["data"]]
    assert ("new_rule" in names) is (status == 200)


async def test_the_page_sets_a_rules_severity_type_and_labels_and_shows_them_again(client):
    form = {
        "name": "routed",
        "query": QUERY,
        "severity": "critical",
        "anomaly_type": "SUDDEN_LOSS",
        "labels": "team=risk, desk = fx-spot",
        "action": "save",
    }
    assert (await client.post("/ui/backtest", data=form)).status == 200

    [rule] = [r for r in (await (await client.get("/api/v1/rules")).json())["data"] if r["name"] == "routed"]
    assert (rule["severity"], rule["anomaly_type"], rule["labels"]) == (
        "critical",
        "SUDDEN_LOSS",
        {"team": "risk", "desk": "fx-spot"},
    )
    page = await (await client.get("/ui/backtest?rule=routed")).text()
    assert 'value="desk=fx-spot, team=risk"' in page  # sorted
    assert '<option value="SUDDEN_LOSS" selected>' in page

    # an empty field keeps the rule's: a threshold changed alone leaves the routing as it was
    form = {"name": "routed", "threshold": "4", "action": "save"}
    assert (await client.post("/ui/backtest", data=form)).status == 200
    [rule] = [r for r in (await (await client.get("/api/v1/rules")).json())["data"] if r["name"] == "routed"]
    assert (rule["threshold"], rule["severity"], rule["labels"]) == (
        4.0,
        "critical",
        {"team": "risk", "desk": "fx-spot"},
    )


@pytest.mark.parametrize("labels", ["team", "=risk", "team=risk, desk"])
async def test_labels_that_are_not_name_value_pairs_are_a_400_naming_the_field(client, labels: str):
    answer = await client.post(
        "/ui/backtest", data={"name": "bad", "query": QUERY, "labels": labels, "action": "save"}
    )

    assert answer.status == 400
    assert "rule.labels" in await answer.text()
    assert "bad" not in [r["name"] for r in (await (await client.get("/api/v1/rules")).json())["data"]]
