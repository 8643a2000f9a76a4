"""The workbench's queries, links and headers, without a browser (the browser tests are next door)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import sqlite_utils

from receiver.storage import migrations
from receiver.storage.database import open_database
from receiver.storage.incidents import save_diagnosis
from receiver.storage.workbench import IncidentFilter, filtered_incidents, fts_query, overview
from receiver.web.incident_page import chart_range
from receiver.web.keys import SCHEDULER, STORE
from receiver.web.links import alertmanager_silence, grafana_explore, prometheus_graph, safe_url
from receiver.web.templating import brief, duration, static_url

from .conftest import ClientFactory


def _incident(db: sqlite_utils.Database, n: int, alertname: str, severity: str, summary: str) -> str:
    incident_id = f"inc-{n}"
    db.conn.execute(
        "INSERT INTO incidents (id, fingerprint, starts_at, status, alertname, severity, labels, annotations,"
        " source, first_seen, last_seen, stage) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'done')",
        [incident_id, str(n), 1000.0 + n, "firing", alertname, severity, json.dumps({"job": "api"}),
         json.dumps({"summary": summary}), "alertmanager", 1000.0 + n, 1000.0 + n],
    )  # fmt: skip
    return incident_id


def _diagnose(db: sqlite_utils.Database, incident_id: str, category: str, title: str, **extra: Any) -> None:
    body = {
        "executive_summary": f"most likely {title}",
        "primary_hypothesis": {"title": title, "suspect": "db_pool_in_use", "category": category},
        "llm_model_used": extra.get("model"),
        "tokens_in": extra.get("tokens_in", 0),
        "tokens_out": 0,
        "cost_usd": extra.get("cost", 0.0),
        "fallback_reason": extra.get("fallback"),
        "cached": False,
    }
    save_diagnosis(
        db, incident_id, body, backend=extra.get("backend", "builtin"), category=category, confidence=0.8
    )


@pytest.fixture
def db(tmp_path: Path) -> sqlite_utils.Database:
    db = open_database(tmp_path / "wb.db")
    a = _incident(db, 1, "OrderErrorsHigh", "critical", "order errors above 10%")
    b = _incident(db, 2, "DiskAlmostFull", "warning", "disk sda 95% full")
    _incident(db, 3, "OrderErrorsHigh", "warning", "order errors above 5%")
    _diagnose(db, a, "network", "Packet loss between zones")
    _diagnose(db, a, "dependency.database", "Connection-pool exhaustion", backend="anthropic", model="m1",
              tokens_in=900, cost=0.01)  # fmt: skip
    _diagnose(db, b, "resource.disk", "Log volume growth", backend="builtin", fallback="timeout")
    return db


def _ids(db: sqlite_utils.Database, **where: Any) -> list[str]:
    return [r["id"] for r in filtered_incidents(db, IncidentFilter(**where))]


def test_each_filter_narrows_the_list_newest_first(db: sqlite_utils.Database) -> None:
    assert _ids(db) == ["inc-3", "inc-2", "inc-1"]
    assert _ids(db, severity="warning") == ["inc-3", "inc-2"]
    assert _ids(db, alertname="OrderErrorsHigh", severity="critical") == ["inc-1"]
    assert _ids(db, since=1001.5) == ["inc-3", "inc-2"]
    assert _ids(db, until=1001.5) == ["inc-1"]


def test_category_and_headline_come_from_the_latest_diagnosis(db: sqlite_utils.Database) -> None:
    assert _ids(db, category="dependency.database") == ["inc-1"]
    assert _ids(db, category="network") == []  # superseded by the re-diagnosis
    row = filtered_incidents(db, IncidentFilter(alertname="OrderErrorsHigh", severity="critical"))[0]
    assert (row["title"], row["suspect"], row["category"]) == (
        "Connection-pool exhaustion",
        "db_pool_in_use",
        "dependency.database",
    )


def test_search_covers_alert_text_and_the_latest_diagnosis(db: sqlite_utils.Database) -> None:
    assert _ids(db, text="sda") == ["inc-2"]  # annotation
    assert _ids(db, text="pool exhaus") == ["inc-1"]  # diagnosis title, prefix on the last word
    assert _ids(db, text="order errors") == ["inc-3", "inc-1"]
    assert _ids(db, text="packet") == []  # only the latest diagnosis is indexed
    assert _ids(db, text='"); DROP TABLE incidents; --') == []  # words only, never FTS syntax


def test_fts_query_quotes_every_word() -> None:
    assert fts_query('a"b c*') == '"a" AND "b" AND "c"*'
    assert fts_query("  ") is None


def test_the_migration_indexes_rows_stored_before_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:-1])
    db = open_database(tmp_path / "old.db")
    db.conn.execute(
        "INSERT INTO incidents (id, alertname, severity, status, first_seen, starts_at, labels, annotations)"
        " VALUES ('inc-old', 'Old', 'info', 'resolved', 5, 5, '{}', '{\"summary\": \"legacy text\"}')"
    )
    db.conn.execute(
        "INSERT INTO diagnoses (incident_id, created_at, backend, category, confidence, body) VALUES"
        " ('inc-old', 9, 'builtin', 'network', 0.5, '{\"primary_hypothesis\": {\"title\": \"Old title\"}}')"
    )
    monkeypatch.undo()
    migrations.migrate(db)
    assert _ids(db, text="legacy") == ["inc-old"] == _ids(db, category="network")
    assert filtered_incidents(db, IncidentFilter())[0]["title"] == "Old title"


def test_overview_counts_usage_per_backend_and_model(db: sqlite_utils.Database) -> None:
    data = overview(db, since=0)
    llm = {(r["backend"], r["model"]): r for r in data["llm"]}
    assert llm["anthropic", "m1"]["tokens_in"] == 900 and llm["anthropic", "m1"]["cost_usd"] == 0.01
    assert llm["builtin", "-"]["calls"] == 2 and llm["builtin", "-"]["fallbacks"] == 1
    assert sorted(r["key"] for r in data["by_category"]) == ["dependency.database", "resource.disk"]
    assert len(data["delays"]) == 2


def _detector_incident(db: sqlite_utils.Database, n: int, rule: str, first_seen: float) -> None:
    db.conn.execute(
        "INSERT INTO incidents (id, fingerprint, starts_at, status, alertname, severity, labels, annotations,"
        " source, first_seen, last_seen, stage) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'done')",
        [f"inc-d{n}", f"d{n}", first_seen, "resolved", rule, "warning", "{}",
         json.dumps({"summary": f"finding {n}"}), "detector", first_seen, first_seen],
    )  # fmt: skip


def test_overview_counts_a_rules_incidents_in_its_window_and_its_last(db: sqlite_utils.Database) -> None:
    for n, seen in enumerate((100.0, 2000.0, 3000.0)):
        _detector_incident(db, n, "pnl_drop", seen)
    hits = {r["rule"]: r for r in overview(db, since=1500.0)["rule_hits"]}
    assert hits["pnl_drop"]["hits"] == 2  # the one at 100 s is before the window
    assert hits["pnl_drop"]["last_at"] == 3000.0 and hits["pnl_drop"]["latest"] == "finding 2"
    assert "OrderErrorsHigh" not in hits  # an Alertmanager alert is no rule's


async def test_the_overview_counts_an_alert_on_the_day_it_started_as_the_list_does(
    make_client: ClientFactory,
) -> None:
    """Started at 23:50 UTC, notified at 00:05 (a rule's `for:`): counted on the day it started, the day
    the list's `since`/`until` put it in, not on the day its webhook arrived."""
    client = await make_client()
    midnight = (time.time() // 86400 - 2) * 86400
    started, arrived = (time.strftime("%Y-%m-%d", time.gmtime(t)) for t in (midnight - 600, midnight + 300))

    def seed(db: sqlite_utils.Database) -> None:
        db.conn.execute(
            "INSERT INTO incidents (id, fingerprint, starts_at, status, alertname, severity, labels,"
            " annotations, source, first_seen, last_seen, stage) VALUES (?,?,?,?,?,?,?,?,?,?,?, 'done')",
            ["inc-late", "late", midnight - 600, "firing", "PnLDrawdownHigh", "critical", "{}", "{}",
             "alertmanager", midnight + 300, midnight + 300],
        )  # fmt: skip

    await client.app[STORE].write(seed)
    page = await (await client.get("/ui/overview")).text()
    by_severity = page.split("Incidents per day by severity")[1].split("</table>")[0]
    assert f"<td>{started}</td><td>1</td>" in by_severity
    assert arrived not in by_severity


async def test_the_overview_shows_each_rule_with_its_floor_and_daily_rate(
    make_client: ClientFactory,
) -> None:
    rule = {"name": "pnl_drop", "query": "sum(demo_pnl_usd)", "direction": "down", "min_change": 0.05}
    client = await make_client(detection={"enabled": False, "rules": [rule]})
    now = time.time()

    def seed(db: sqlite_utils.Database) -> None:
        for n in range(7):  # seven in the last week: 0.5 a day over the 14-day overview
            _detector_incident(db, n, "pnl_drop", now - 86400 * n - 60)

    await client.app[STORE].write(seed)
    page = await (await client.get("/ui/overview")).text()
    row = page.split('href="/ui/?alertname=pnl_drop"')[1].split("</tr>")[0]
    assert "sum(demo_pnl_usd)" in row and "level_step_tail, threshold 3, down" in row
    assert "±5 %" in row and "<td>7</td><td>0.5</td>" in row
    assert "finding 0" in row  # the latest finding


async def test_the_overview_shows_how_each_rules_last_cycle_went(make_client: ClientFactory) -> None:
    rules = [{"name": "pnl_drop", "query": "sum(demo_pnl_usd)"}, {"name": "idle", "query": "up"}]
    client = await make_client(
        prometheus={"url": "http://127.0.0.1:9", "retries": 0}, detection={"enabled": False, "rules": rules}
    )
    page = await (await client.get("/ui/overview")).text()
    assert page.count("not run yet") == 2

    await client.app[SCHEDULER].run_cycle()
    page = await (await client.get("/ui/overview")).text()

    row = page.split('href="/ui/?alertname=pnl_drop"')[1].split("</tr>")[0]
    assert 'class="error-text">unreachable' in row  # nothing listens on port 9


@pytest.mark.parametrize(
    ("name", "says"),
    [("from_config", "comes from the configuration file"), ("nope", "There is no rule <code>nope</code>")],
)
async def test_deleting_a_config_rule_or_none_from_the_overview_says_why(
    make_client: ClientFactory, name: str, says: str
) -> None:
    client = await make_client(
        detection={"enabled": False, "rules": [{"name": "from_config", "query": "up"}]}
    )

    answer = await client.post(f"/ui/rules/{name}/delete")

    assert answer.status == 200 and answer.url.path == "/ui/overview"
    assert says in await answer.text()
    assert [r.name for r, _ in await client.app[SCHEDULER].rules()] == ["from_config"]


def test_links_carry_the_expression_range_and_matchers() -> None:
    graph = urlsplit(prometheus_graph("http://prom:9090/", 'up{job="a"} == 0', 1000, 4600) or "")
    assert (graph.netloc, graph.path) == ("prom:9090", "/graph")
    query = parse_qs(graph.query)
    assert query["g0.expr"] == ['up{job="a"} == 0'] and query["g0.range_input"] == ["3600s"]
    silence = alertmanager_silence("http://am:9093", {"alertname": "X", "job": 'a"b'}) or ""
    assert silence.startswith("http://am:9093/#/silences/new?filter=")
    assert unquote(silence.split("filter=")[1]) == '{alertname="X",job="a\\"b"}'
    explore = grafana_explore("https://grafana", "up", 1, 2) or ""
    assert json.loads(parse_qs(urlsplit(explore).query)["panes"][0])["wb"]["queries"][0]["expr"] == "up"
    assert grafana_explore(None, "up", 1, 2) is None and alertmanager_silence(None, {}) is None


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JAVASCRIPT:x", "data:text/html,x", "//evil", "/x", ""]
)
def test_only_absolute_http_urls_become_links(url: str) -> None:
    assert safe_url(url) is None


def test_brief_shortens_selectors_and_duration_reads_well() -> None:
    assert brief('rose: demo_vol{book="a",desk="b"} and up{job="x"}') == "rose: demo_vol and up"
    assert [duration(s) for s in (42, 125, 3600 * 3 + 300, 86400 * 2 + 7200)] == [
        "42s",
        "2m 5s",
        "3h 5m",
        "2d 2h",
    ]


async def test_pages_have_a_csp_and_static_files_are_cached(make_client: ClientFactory) -> None:
    client = await make_client()
    for path in ("/ui/", "/ui/overview", "/ui/diagnose"):
        answer = await client.get(path)
        assert answer.status == 200, path
        assert "script-src 'self'" in answer.headers["Content-Security-Policy"]
        assert "<script>" not in await answer.text()  # no inline script
    asset = await client.get(static_url("uplot/uPlot.iife.min.js"))  # versioned: kept long
    assert asset.status == 200 and asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert (await client.get("/ui/?since=yesterday-ish")).status == 400


async def test_the_ui_needs_the_webhook_credentials(make_client: ClientFactory) -> None:
    client = await make_client(webhook={"basic_auth": {"username": "u", "password": "p"}})
    assert (await client.get("/ui/")).status == 401
    assert (await client.get("/ui/static/workbench.css")).status == 401


def test_charts_run_past_the_window_to_the_resolve_time_or_now() -> None:
    assert chart_range((0, 100), ends_at=150, now=1000) == (0, 157.5)
    assert chart_range((0, 100), ends_at=None, now=120) == (0, 126.0)
    assert chart_range((0, 100), ends_at=None, now=10_000) == (0, 210.0)  # at most one window more


@pytest.mark.parametrize("query", ["start=1&end=2&match=[1]", "start=x&end=2", "end=2"])
async def test_series_json_refuses_malformed_parameters(make_client: ClientFactory, query: str) -> None:
    client = await make_client()
    assert (await client.get(f"/ui/series.json?query=up&{query}")).status == 400


def test_a_change_that_was_over_is_marked_where_it_ended() -> None:
    from receiver.web.incident_page import build_incident_page

    def row(sid: str, **extra: Any) -> dict[str, Any]:
        return {"series_id": sid, "metric": sid, "labels": {}, "role": "related", "anomalous": True, **extra}

    evidence = {
        "window_start": 1000.0,
        "window_end": 2000.0,
        "series": [row("spike", onset=1200.0, recovered=1300.0), row("shift", onset=1900.0)],
    }
    data = {"incident": {"starts_at": 1950.0, "ends_at": None, "evidence": evidence, "annotations": {}}}
    page = build_incident_page(data, prometheus_url="http://prom:9090", grafana_url=None, now=2100.0)
    marks = {s.series_id: json.loads(s.chart["marks"]) for s in page.series if s.chart}
    assert marks["spike"]["back to normal"] == 1300.0 and marks["spike"]["onset"] == 1200.0
    assert marks["shift"]["back to normal"] is None
