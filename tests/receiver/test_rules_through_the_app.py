"""The detection-rules API is served by the running receiver, behind the webhook's credentials."""

from __future__ import annotations

import subprocess
import sys

from receiver.web.resources import pipeline_parts as build_components

from .conftest import ClientFactory

AUTH = {"Authorization": "Bearer tok"}
RULE = {"name": "pnl_drop", "query": "demo_pnl_usd", "method": "zscore", "direction": "down"}


async def test_rules_are_added_listed_and_deleted_through_the_app(make_client: ClientFactory) -> None:
    client = await make_client(
        build_components,
        webhook={"bearer_token": "tok"},
        prometheus={"url": "http://127.0.0.1:9", "retries": 0},
        detection={"enabled": False, "rules": [{"name": "from_config", "query": "up"}]},
    )
    assert (await client.get("/api/v1/rules")).status == 401
    added = await client.post("/api/v1/rules", json=RULE, headers=AUTH)
    assert added.status in (200, 201), await added.text()
    names = {r["name"] for r in (await (await client.get("/api/v1/rules", headers=AUTH)).json())["data"]}
    assert names == {"from_config", "pnl_drop"}
    assert (await client.delete("/api/v1/rules/pnl_drop", headers=AUTH)).status in (200, 204)
    assert (await client.delete("/api/v1/rules/from_config", headers=AUTH)).status == 409


def test_backtest_is_reachable_from_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "backtest", "--query", "up", "--from", "yesterday-ish"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "yesterday-ish" in result.stderr
