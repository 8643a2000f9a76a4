"""The incident list as an on-call engineer reads it: by when each alert started, its filters' parameters
checked, its weight with many alert names (the aiohttp test client; browser behaviour is in
test_workbench_live.py)."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import sqlite_utils
from aiohttp.test_utils import TestClient

from receiver.storage.database import open_database
from receiver.storage.incidents import save_diagnosis
from receiver.storage.workbench import IncidentFilter, filtered_incidents
from receiver.testing import drain
from receiver.web.keys import MATERIALIZER, STORE

from .conftest import ClientFactory

HOUR = 3600.0


def _stored(db: sqlite_utils.Database, incident_id: str, starts_at: float, first_seen: float) -> None:
    db.conn.execute(
        "INSERT INTO incidents (id, fingerprint, starts_at, status, alertname, severity, labels, annotations,"
        " source, first_seen, last_seen, stage)"
        " VALUES (?, ?, ?, 'firing', 'A', 'warning', '{}', '{}', 'alertmanager', ?, ?, 'done')",
        [incident_id, incident_id, starts_at, first_seen, first_seen],
    )


def test_the_list_is_ordered_and_filtered_by_the_alerts_start_not_its_arrival(tmp_path: Path) -> None:
    """An alert with a `for:` (or sent late) arrives long after it started: the list went by arrival."""
    db = open_database(tmp_path / "list.db")
    _stored(db, "late", starts_at=1000.0, first_seen=1000.0 + HOUR)  # started first, received last
    _stored(db, "prompt", starts_at=2000.0, first_seen=2010.0)

    def ids(**where: Any) -> list[str]:
        return [r["id"] for r in filtered_incidents(db, IncidentFilter(**where))]

    assert ids() == ["prompt", "late"]
    assert ids(since=900.0, until=1100.0) == ["late"]
    assert ids(since=1500.0) == ["prompt"]
    assert ids(until=1500.0) == ["late"]


def test_each_list_filter_reads_its_page_by_start_through_an_index(tmp_path: Path) -> None:
    """No sort of every matching incident: 100,000 of them would take the list past its 150 ms."""
    db = open_database(tmp_path / "plan.db")
    sql = "EXPLAIN QUERY PLAN SELECT id FROM incidents {} ORDER BY starts_at DESC, id LIMIT 51"
    for where in ("", "WHERE status = 'firing'", "WHERE severity = 'x'", "WHERE alertname = 'x'",
                  "WHERE diagnosis_category = 'x'", "WHERE starts_at >= 5"):  # fmt: skip
        plan = " ".join(str(r) for r in db.conn.execute(sql.format(where)))
        assert "TEMP B-TREE" not in plan, (where, plan)


def _webhook(alertname: str, starts: float) -> str:
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "severity": "warning"},
        "annotations": {},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
    }
    return json.dumps({"version": "4", "status": "firing", "receiver": "aa", "alerts": [alert]})


async def _post(client: TestClient[Any, Any], alertname: str, starts: float) -> None:
    answer = await client.post(
        "/webhook/alertmanager",
        data=_webhook(alertname, starts),
        headers={"Content-Type": "application/json"},
    )
    assert answer.status == 200, await answer.text()
    await drain(client.app[MATERIALIZER], 10)


async def _list_rows(client: TestClient[Any, Any], query: str = "") -> list[str]:
    answer = await client.get("/ui/" + query)
    assert answer.status == 200, await answer.text()
    return re.findall(r"<tr class=\"sev-.*?</tr>", await answer.text(), re.S)


async def test_the_started_column_says_when_the_alert_started(make_client: ClientFactory) -> None:
    client = await make_client()
    await _post(client, "SlowToFire", time.time() - 2 * HOUR)
    [row] = await _list_rows(client)
    assert "2h 0m ago" in row or "1h 59m ago" in row, row
    assert await _list_rows(client, "?since=-30m") == []
    assert len(await _list_rows(client, "?since=-3h&until=-1h")) == 1


def _many_names(db: sqlite_utils.Database, count: int) -> None:
    """`count` incidents, each of its own alert name, and 5 of one name seen more often."""
    names = [f"Rule{n:05d}" for n in range(count)] + ["FrequentRule"] * 5
    for n, name in enumerate(names):
        db.conn.execute(
            "INSERT INTO incidents (id, fingerprint, starts_at, status, alertname, severity, labels,"
            " annotations, source, first_seen, last_seen, stage)"
            " VALUES (?, ?, ?, 'firing', ?, 'warning', '{}', '{}', 'alertmanager', ?, ?, 'done')",
            [f"inc-{n}", f"f{n}", 1000.0 + n, name, 1000.0 + n, 1000.0 + n],
        )


async def test_many_alert_names_suggest_the_most_frequent_in_a_light_page(make_client: ClientFactory) -> None:
    """A menu of every distinct name: 20,000 of them made the page 1.3 MB and each load 1.4 s."""
    client = await make_client()
    await client.app[STORE].write(_many_names, 2000)
    answer = await client.get("/ui/", headers={"Accept-Encoding": "identity"})
    html = await answer.text()
    assert len(html.encode()) < 60_000, len(html.encode())
    [suggested] = re.findall(r'<datalist id="alertnames">(.*?)</datalist>', html, re.S)
    names = re.findall(r'<option value="([^"]*)">', suggested)
    assert len(names) == 50 and "FrequentRule" in names
    assert '<input name="alertname"' in html and 'list="alertnames"' in html
    typed = await client.get("/ui/", params={"alertname": "Rule01999"})  # a name not suggested still filters
    assert len(re.findall(r"<tr class=\"sev-", await typed.text())) == 1


async def test_pages_json_and_assets_are_sent_compressed(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.app[STORE].write(_many_names, 200)
    for path in ("/ui/", "/api/v1/incidents?limit=50", "/ui/static/uplot/uPlot.iife.min.js",
                 "/ui/static/workbench.css"):  # fmt: skip
        answer = await client.get(path, headers={"Accept-Encoding": "gzip"})
        assert answer.status == 200 and answer.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in answer.headers.get("Vary", ""), path
        await answer.read()  # and it decodes
    plain = await client.get("/ui/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


async def test_a_list_parameter_that_cannot_be_is_a_400_naming_it(make_client: ClientFactory) -> None:
    """Each showed page 1, or 'No incidents match', without a word."""
    client = await make_client()
    for query, named in (
        ("?page=abc", "page: "),
        ("?page=0", "page: "),
        ("?page=-1", "page: "),
        ("?page=99999999999999999999", "page: "),
        ("?since=-1d&until=-30d", "until: is not after since"),
    ):
        for path in ("/ui/", "/ui/rows"):
            answer = await client.get(path + query)
            assert answer.status == 400 and named in await answer.text(), (path, query)


async def test_an_empty_database_says_no_incidents_yet_not_that_none_match(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    assert "No incidents yet" in await (await client.get("/ui/")).text()
    assert "No incidents match" in await (await client.get("/ui/?status=firing")).text()


def _diagnosed_late(db: sqlite_utils.Database, now: float) -> None:
    """An alert that started an hour before its webhook arrived, diagnosed 2.5 s after that."""
    _stored(db, "held", starts_at=now - HOUR - 10, first_seen=now - 10)
    save_diagnosis(db, "held", {}, backend="builtin", category="unknown", confidence=0.1)
    db.conn.execute("UPDATE incidents SET first_diagnosed_at = ? WHERE id = 'held'", [now - 7.5])


async def test_the_overview_shows_the_receivers_own_time_to_diagnosis(make_client: ClientFactory) -> None:
    """From the alert's start it was 'p50 1h 0m': a rule's for: read as this service's slowness."""
    client = await make_client()
    await client.app[STORE].write(_diagnosed_late, time.time())
    html = await (await client.get("/ui/overview")).text()
    assert "receiver: p50 <b>2.5s</b>" in html
    assert "alert: p50 <b>1h 0m</b>" in html
