"""/api/v1/rules: list, add (validated), delete; API rules persist in SQLite, config rules are read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage.database import Store
from receiver.web.rules import rule_routes

CONFIG_RULE = RuleSettings(name="from_config", query="up")


async def _nothing(finding: object) -> None:
    return None


def make_scheduler(path: Path) -> DetectionScheduler:
    return DetectionScheduler(
        Store(path),
        PrometheusSource(PrometheusSettings(retries=0)),
        DetectionSettings(rules=[CONFIG_RULE]),
        on_anomaly=_nothing,
    )


@pytest.fixture
async def client(aiohttp_client, tmp_path: Path):
    app = web.Application()
    app.add_routes(rule_routes(make_scheduler(tmp_path / "analyst.db")))
    return await aiohttp_client(app)


async def test_rules_are_added_listed_and_deleted(client):
    body = {"name": "pnl", "query": "demo_pnl", "threshold": 4, "min_delta": 50_000}
    created = await client.post("/api/v1/rules", json=body)
    assert created.status == 201

    listed = await (await client.get("/api/v1/rules")).json()
    assert [(r["name"], r["source"]) for r in listed["data"]] == [("from_config", "config"), ("pnl", "api")]
    assert listed["data"][1]["threshold"] == 4 and listed["data"][1]["min_delta"] == 50_000

    assert (await client.delete("/api/v1/rules/pnl")).status == 204
    assert [r["name"] for r in (await (await client.get("/api/v1/rules")).json())["data"]] == ["from_config"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "query": "up", "threshold": -1}, "threshold"),
        ({"name": "x", "query": "up", "method": "astrology"}, "method"),
        ({"name": "x", "query": "up", "anomaly_type": "WEIRD"}, "anomaly_type"),
        ({"name": "x"}, "query"),
        ({"name": "bad name!", "query": "up"}, "name"),
        ({"name": "x", "query": "up", "colour": "red"}, "colour"),
        ({"name": "x", "query": "up", "min_change": -0.1}, "min_change"),
        ({"name": "x", "query": "up", "min_delta": "lots"}, "min_delta"),
    ],
)
async def test_an_invalid_rule_is_a_400_naming_the_field(client, body, field):
    response = await client.post("/api/v1/rules", json=body)

    assert response.status == 400
    assert (await response.json())["field"] == field


async def test_a_duplicate_name_is_a_409(client):
    assert (await client.post("/api/v1/rules", json={"name": "pnl", "query": "a"})).status == 201
    assert (await client.post("/api/v1/rules", json={"name": "pnl", "query": "b"})).status == 409
    assert (await client.post("/api/v1/rules", json={"name": "from_config", "query": "b"})).status == 409


async def test_config_rules_cannot_be_deleted_and_unknown_ones_are_404(client):
    assert (await client.delete("/api/v1/rules/from_config")).status == 409
    assert (await client.delete("/api/v1/rules/nope")).status == 404


async def test_api_rules_survive_a_store_reopen(tmp_path: Path):
    first = make_scheduler(tmp_path / "analyst.db")
    await first.add_rule(RuleSettings(name="pnl", query="demo_pnl", method="zscore"))
    first.store.close()

    second = make_scheduler(tmp_path / "analyst.db")
    rules = await second.rules()

    assert [(r.name, r.method, origin) for r, origin in rules] == [
        ("from_config", "level_step_tail", "config"),
        ("pnl", "zscore", "api"),
    ]
    second.store.close()
