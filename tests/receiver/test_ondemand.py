"""On-demand diagnosis: POST /api/v1/diagnoses and `alert-analyst diagnose`, against a real Prometheus
backfilled with a known-cause scenario (the DB pool saturates 3 minutes before order errors rise)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from demo.processes import ManagedProcess
from receiver.storage import incidents as db_incidents
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE, STORE
from receiver.web.resources import pipeline_parts as build_components
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.holding_proxy import holding_proxy

from .conftest import ClientFactory


def adhoc_alert(scenario: Scenario) -> dict[str, object]:
    return {
        "alertname": "OrderErrorsHigh",
        "expr": ALERT_EXPR,
        "start": scenario.effect_at + 60,
        "labels": {"service": "orders", "job": "shop", "instance": "orders-1:8080"},
        "metrics": ['demo_db_pool_in_use{service="postgres"}'],
    }


async def assert_diagnosed_with_evidence(client: Any, scenario: Scenario) -> None:
    """An ad-hoc diagnosis of the scenario's alert fetches its evidence: no `circuit_open` note, its alert
    series available (the pipeline's circuit is closed)."""
    answer = await client.post("/api/v1/diagnoses", json={"alert": adhoc_alert(scenario)})
    evidence = (await answer.json())["evidence"]
    assert not [note for note in evidence["notes"] if "circuit_open" in note], evidence["notes"]
    alert = next(s for s in evidence["series"] if s["role"] == "alert")
    assert alert["available"], json.dumps(alert)


async def test_adhoc_alert_is_diagnosed_with_the_db_pool_first(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    client = await make_client(build_components, prometheus={"url": prometheus.url, "retries": 0})
    resp = await client.post("/api/v1/diagnoses", json={"alert": adhoc_alert(scenario)})
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    primary = body["diagnosis"]["primary_hypothesis"]
    assert primary["category"] == "dependency.database"
    assert "demo_db_pool_in_use" in primary["suspect"]
    pool = next(s for s in body["evidence"]["series"] if s["metric"] == "demo_db_pool_in_use")
    assert pool["anomalous"] and pool["direction"] == "up"


async def test_rediagnosing_a_stored_incident_stores_a_new_diagnosis(
    make_client: ClientFactory, webhook_corpus: Path, prometheus: ManagedProcess
) -> None:
    client = await make_client(build_components, prometheus={"url": prometheus.url, "retries": 0})
    answer = await client.post(
        "/webhook/alertmanager",
        data=(webhook_corpus / "kubernaut-severity-p0.json").read_bytes(),
        headers={"Content-Type": "application/json"},
    )
    incident_id = (await answer.json())["incidents"][0]
    await wait_idle(client.app[PIPELINE])  # the pipeline's own diagnosis comes first
    resp = await client.post("/api/v1/diagnoses", json={"incident_id": incident_id})
    assert resp.status == 200
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["diagnosis"] == (await resp.json())["diagnosis"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({}, 400, "incident_id"),
        ({"incident_id": "inc-nope"}, 404, None),
        ({"alert": {"alertname": "X"}}, 400, "alert.start"),
        ({"alert": {"alertname": "X", "start": 1}, "extra": 1}, 400, "extra"),
    ],
)
async def test_bad_requests_get_a_clear_error(
    make_client: ClientFactory, body: dict[str, object], status: int, field: str | None
) -> None:
    client = await make_client(build_components, prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    resp = await client.post("/api/v1/diagnoses", json=body)
    assert resp.status == status
    if field:
        assert (await resp.json())["field"] == field


def test_cli_diagnose_prints_a_text_report_naming_the_cause(
    tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    alert = {
        "status": "firing",
        "labels": {
            "alertname": "OrderErrorsHigh",
            "service": "orders",
            "job": "shop",
            "severity": "critical",
        },
        "annotations": {"summary": "order errors above 10%"},
        "startsAt": f"{scenario.effect_at + 60}",
        "generatorURL": "http://prometheus.invalid/graph?g0.expr="
        + "demo_order_error_ratio%7Bservice%3D%22orders%22%7D+%3E+0.1",
    }
    import datetime

    alert["startsAt"] = datetime.datetime.fromtimestamp(scenario.effect_at + 60, datetime.UTC).isoformat()
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    cmd = [sys.executable, "-m", "receiver", "diagnose", "--alert", str(path), "--prometheus", prometheus.url]
    text = subprocess.run([*cmd, "--format", "text"], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "OrderErrorsHigh" in text.stdout and "demo_db_pool_in_use" in text.stdout
    as_json = subprocess.run([*cmd, "--format", "json"], capture_output=True, text=True, timeout=120)
    report = json.loads(as_json.stdout)
    assert report["diagnosis"]["primary_hypothesis"]["category"] == "dependency.database"


def test_cli_diagnose_rejects_an_unreadable_alert(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = subprocess.run(
        [sys.executable, "-m", "receiver", "diagnose", "--alert", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "alert-analyst diagnose:" in result.stderr


def _diagnose_json(alert_path: Path, prometheus: ManagedProcess, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "receiver", "diagnose", "--alert", str(alert_path), "--format", "json"]
    result = subprocess.run(
        [*cmd, "--prometheus.url", prometheus.url, *extra], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_cli_diagnose_times_now_unix_and_the_alerts_own_window(
    tmp_path: Path, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    import datetime

    starts = scenario.effect_at + 60
    labels = {"alertname": "OrderErrorsHigh", "service": "orders", "job": "shop", "severity": "critical"}
    alert = {
        "status": "firing",
        "labels": labels,
        "startsAt": datetime.datetime.fromtimestamp(starts, datetime.UTC).isoformat(),
        "generatorURL": "http://prometheus.invalid/graph?g0.expr="
        + "demo_order_error_ratio%7Bservice%3D%22orders%22%7D+%3E+0.1",
    }
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert))
    # A lookback shorter than the alert's age: without --at the window ends lookback after startsAt.
    lookback = 600
    config = tmp_path / "c.yml"
    config.write_text(f"context:\n  lookback_seconds: {lookback}\n")
    own = _diagnose_json(path, prometheus, f"--config.file={config}")["evidence"]
    assert starts < own["window_end"] <= starts + lookback + 60
    assert own["window_start"] <= starts - lookback
    at_unix = _diagnose_json(path, prometheus, f"--config.file={config}", "--at", str(int(starts + 300)))
    assert at_unix["evidence"]["window_end"] <= starts + 360
    at_now = _diagnose_json(path, prometheus, f"--config.file={config}", "--at", "now")["evidence"]
    assert at_now["window_end"] > starts + lookback + 60
    relative = _diagnose_json(path, prometheus, f"--config.file={config}", "--at=-5m")["evidence"]
    assert abs(relative["window_end"] - (at_now["window_end"] - 300)) < 120


async def test_a_rediagnosis_that_reads_no_metric_keeps_the_stored_diagnosis(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    """Prometheus stops answering after the incident was diagnosed: diagnosing again is a 503 saying why,
    and the incident keeps its diagnosis and evidence (before, "Metric evidence unavailable" replaced
    them, and the page lost its charts)."""
    async with holding_proxy(prometheus.url) as (holding, url):
        # 2 s: every query of the first diagnosis answers within it on a loaded CI machine (0.5 s cut some
        # there, and the diagnosis changed with them); held, every query times out
        client = await make_client(
            build_components,
            prometheus={"url": url, "retries": 0, "timeout_seconds": 2.0, "share_seconds": 0},
        )
        incident = scenario.incident()
        await client.app[STORE].write(db_incidents.create_incident, incident)
        client.app[PIPELINE].submit([incident.id])
        await wait_idle(client.app[PIPELINE])  # diagnosed while Prometheus answers
        kept = await (await client.get(f"/api/v1/incidents/{incident.id}")).json()
        assert kept["diagnosis"]["primary_hypothesis"]["category"] == "dependency.database"

        holding.hold = True
        refused = await client.post("/api/v1/diagnoses", json={"incident_id": incident.id})
        assert refused.status == 503
        error = (await refused.json())["error"]
        assert error.startswith("no metric could be read (timeout: ") and "keeps its diagnosis" in error
        after = await (await client.get(f"/api/v1/incidents/{incident.id}")).json()
        assert (after["diagnosis"], after["evidence"]) == (kept["diagnosis"], kept["evidence"])
