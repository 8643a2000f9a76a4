"""GET /api/v1/incidents filters and pagination, incident detail, auth, probes and the UI."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from receiver.testing import drain
from receiver.web.keys import MATERIALIZER

from .conftest import ClientFactory


async def load_corpus(client: Any, corpus: Path, headers: dict[str, str] | None = None) -> None:
    for path in sorted(corpus.glob("*.json")):
        resp = await client.post(
            "/webhook/alertmanager",
            data=path.read_bytes(),
            headers={"Content-Type": "application/json", **(headers or {})},
        )
        assert resp.status == 200
    await drain(client.app[MATERIALIZER], 10)


async def test_filters_by_status_and_alertname(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    await load_corpus(client, webhook_corpus)
    resolved = await (await client.get("/api/v1/incidents?status=resolved")).json()
    assert resolved["incidents"] and all(i["status"] == "resolved" for i in resolved["incidents"])
    named = await (await client.get("/api/v1/incidents?alertname=PnLDrawdownHigh")).json()
    assert len(named["incidents"]) == 2
    assert {i["alertname"] for i in named["incidents"]} == {"PnLDrawdownHigh"}


async def test_since_filter_excludes_older_incidents(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client()
    await load_corpus(client, webhook_corpus)
    later = await (await client.get("/api/v1/incidents?since=2999-01-01T00:00:00Z")).json()
    assert later["incidents"] == []
    everything = await (await client.get("/api/v1/incidents?since=0&limit=500")).json()
    unfiltered = await (await client.get("/api/v1/incidents?limit=500")).json()
    assert len(everything["incidents"]) == len(unfiltered["incidents"]) > 10


async def test_pagination_walks_every_incident_once(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    await load_corpus(client, webhook_corpus)
    seen: list[str] = []
    url = "/api/v1/incidents?limit=7"
    offset: int | None = 0
    while offset is not None:
        page = await (await client.get(f"{url}&offset={offset}")).json()
        seen += [i["id"] for i in page["incidents"]]
        offset = page["next_offset"]
    total = len((await (await client.get("/api/v1/incidents?limit=500")).json())["incidents"])
    assert len(seen) == len(set(seen)) == total


async def test_bad_filters_are_400(make_client: ClientFactory) -> None:
    client = await make_client()
    for query, field in (("status=open", "status"), ("limit=0", "limit"), ("since=tomorrow", "since")):
        resp = await client.get(f"/api/v1/incidents?{query}")
        assert resp.status == 400, query
        assert json.loads(await resp.text())["field"] == field
    answer = await (await client.get("/api/v1/incidents?since=tomorrow")).json()
    assert "relative to now (-24h)" in answer["error"]  # it said "Unix seconds or RFC 3339" only
    assert (await client.get("/api/v1/incidents?since=-24h")).status == 200


async def test_unknown_incident_is_404(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.get("/api/v1/incidents/inc-nope")).status == 404


async def test_api_and_ui_need_the_webhook_credentials(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    client = await make_client(webhook={"bearer_token": "tok"})
    auth = {"Authorization": "Bearer tok"}
    await load_corpus(client, webhook_corpus, auth)
    assert (await client.get("/api/v1/incidents")).status == 401
    assert (await client.get("/ui/")).status == 401
    assert (await client.get("/api/v1/incidents", headers=auth)).status == 200
    assert (await client.get("/-/healthy")).status == 200
    assert (await client.get("/metrics")).status == 200


async def test_ui_lists_and_shows_incidents(make_client: ClientFactory, webhook_corpus: Path) -> None:
    client = await make_client()
    await load_corpus(client, webhook_corpus)
    page = await (await client.get("/ui/")).text()
    assert "PnLDrawdownHigh" in page
    listing = await (await client.get("/api/v1/incidents?alertname=PnLDrawdownHigh")).json()
    detail = await client.get(f"/ui/incidents/{listing['incidents'][0]['id']}")
    assert detail.status == 200
    assert "fx-spot" in await detail.text() or "rates" in await detail.text()


async def test_ready_reports_db_and_workers(make_client: ClientFactory) -> None:
    client = await make_client()
    assert (await client.get("/-/ready")).status == 200
    text = await (await client.get("/metrics")).text()
    build_info = r'alert_analyst_build_info\{revision="(?:[0-9a-f]{12}|unknown)",version="0.1.0"\} 1.0'
    assert re.search(build_info, text)
    assert "process_resident_memory_bytes" in text and "python_info" in text
    assert "alert_analyst_queue_depth" in text
    await client.app[MATERIALIZER].stop()
    answer = await client.get("/-/ready")
    assert answer.status == 503
    assert "materialiser" in (await answer.json())["problems"][0]
