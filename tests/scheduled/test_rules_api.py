"""/api/v1/rules: list, add (validated), replace, delete; API rules persist in SQLite, config rules are
read-only."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiohttp import web

from receiver.evidence.prometheus import PrometheusSource
from receiver.evidence.settings import PrometheusSettings
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings, RuleSettings
from receiver.storage import rules as db_rules
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


async def test_a_put_replaces_an_api_rules_fields(client):
    await client.post("/api/v1/rules", json={"name": "pnl", "query": "demo_pnl", "threshold": 4})

    replaced = await client.put("/api/v1/rules/pnl", json={"query": "sum(demo_pnl)", "min_change": 0.1})
    assert replaced.status == 200 and (await replaced.json())["data"]["min_change"] == 0.1

    [rule] = [r for r in (await (await client.get("/api/v1/rules")).json())["data"] if r["name"] == "pnl"]
    assert rule["query"] == "sum(demo_pnl)" and rule["min_change"] == 0.1
    assert rule["threshold"] == 3.0  # the body replaces the rule: a field it leaves out takes its default


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        ("/api/v1/rules/from_config", {"query": "up"}, 409, "name"),
        ("/api/v1/rules/nope", {"query": "up"}, 404, "name"),
        ("/api/v1/rules/pnl", {"name": "other", "query": "up"}, 400, "name"),
        ("/api/v1/rules/pnl", {"query": "up", "min_delta": -1}, 400, "min_delta"),
        ("/api/v1/rules/pnl", ["not", "an", "object"], 400, None),
    ],
)
async def test_a_put_that_cannot_replace_says_why(client, path, body, status, field):
    await client.post("/api/v1/rules", json={"name": "pnl", "query": "demo_pnl"})
    answer = await client.put(path, json=body)
    assert answer.status == status
    assert (await answer.json()).get("field") == field


async def test_replacing_a_rule_keeps_its_cooldowns(tmp_path: Path):
    scheduler = make_scheduler(tmp_path / "analyst.db")
    await scheduler.add_rule(RuleSettings(name="pnl", query="demo_pnl"))
    await scheduler.store.write(
        db_rules.save_state,
        fingerprint="fp",
        rule="pnl",
        series_labels={"desk": "fx"},
        fired_at=5.0,
        onset=4.0,
        incident_id="inc-1",
    )

    await scheduler.replace_rule(RuleSettings(name="pnl", query="demo_pnl", min_change=0.2))

    kept = await scheduler.store.run(db_rules.load_state, "fp")
    assert kept is not None and kept["incident_id"] == "inc-1" and kept["last_fired_at"] == 5.0
    [(rule, origin)] = [(r, o) for r, o in await scheduler.rules() if r.name == "pnl"]
    assert rule.min_change == 0.2 and origin == "api"
    scheduler.store.close()


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
