"""How an alert group's resolution reads, through the real app (webhook, pipeline, outbox) with Prometheus
down, a fake Slack and a fake PagerDuty: when Alertmanager resolves the whole group in one notification,
and when only the alerts that page have resolved."""

from __future__ import annotations

import datetime
import time
from pathlib import Path
from typing import Any

from demo.processes import free_port
from receiver.testing import wait_idle
from receiver.web.app import build_app
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts
from tests.delivery.test_slack import all_text
from tests.fakes.pagerduty import FakePagerDuty
from tests.fakes.slack import FakeSlack
from tests.receiver.conftest import make_settings
from tests.support.polling import eventually

GROUP_KEY = '{}:{alertname="PnLDrawdownHigh"}'
STARTS_AT = time.time() - 600


def alert(book: str, severity: str, status: str) -> dict[str, Any]:
    ends = STARTS_AT + 300 if status == "resolved" else None
    return {
        "status": status,
        "labels": {"alertname": "PnLDrawdownHigh", "severity": severity, "book": book},
        "annotations": {"summary": f"PnL drawdown on {book}"},
        "startsAt": _iso(STARTS_AT),
        "endsAt": _iso(ends) if ends else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.invalid:9090/graph?g0.expr=demo_pnl_drawdown_ratio+%3E+0.3",
        "fingerprint": f"f-{book}",
    }


def notification(*alerts: dict[str, Any]) -> dict[str, Any]:
    firing = any(a["status"] == "firing" for a in alerts)
    return {
        "version": "4",
        "status": "firing" if firing else "resolved",
        "receiver": "alert-analyst",
        "groupKey": GROUP_KEY,
        "groupLabels": {"alertname": "PnLDrawdownHigh"},
        "commonLabels": {"alertname": "PnLDrawdownHigh"},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager.invalid:9093",
        "alerts": list(alerts),
    }


def _iso(ts: float) -> str:
    return datetime.datetime.fromtimestamp(ts, datetime.UTC).isoformat()


async def start_app(aiohttp_client: Any, tmp_path: Path, slack_url: str, pagerduty_url: str) -> Any:
    settings = make_settings(
        tmp_path,
        prometheus={"url": f"http://127.0.0.1:{free_port()}", "retries": 0, "timeout_seconds": 2},
        slack={"token": FakeSlack().token, "channel": "C0ALERTS", "api_url": slack_url},
        pagerduty={"routing_key": "R" * 32, "url": pagerduty_url},
    )
    return await aiohttp_client(build_app(settings, pipeline_parts))


async def send(client: Any, payload: dict[str, Any]) -> None:
    answer = await client.post("/webhook/alertmanager", json=payload)
    assert answer.status == 200
    await wait_idle(client.app[PIPELINE])


async def test_a_group_resolved_in_one_notification_is_not_said_to_be_still_firing(
    aiohttp_client: Any,
    tmp_path: Path,
    slack: tuple[FakeSlack, str],
    pagerduty: tuple[FakePagerDuty, str],
) -> None:
    fake, url = slack
    client = await start_app(aiohttp_client, tmp_path, url, pagerduty[1])
    await send(
        client, notification(alert("ust10y", "critical", "firing"), alert("eurusd", "critical", "firing"))
    )
    await send(
        client, notification(alert("ust10y", "critical", "resolved"), alert("eurusd", "critical", "resolved"))
    )
    await eventually(lambda: len(fake.updates) == 1, within=20)
    await eventually(lambda: "*Resolved* after" in all_text(fake.messages[-1]), within=20)

    [parent] = fake.parents()
    replies = [all_text(reply) for reply in fake.replies(parent["ts"])]
    assert not any("still firing" in reply for reply in replies)
    assert "*Resolved* after 5m 00s." in replies[-1]
    assert sum("*Resolved* after" in reply for reply in replies) == 1


async def test_pagerduty_resolves_once_no_alert_at_min_severity_fires(
    aiohttp_client: Any,
    tmp_path: Path,
    slack: tuple[FakeSlack, str],
    pagerduty: tuple[FakePagerDuty, str],
) -> None:
    fake_pagerduty, url = pagerduty
    client = await start_app(aiohttp_client, tmp_path, slack[1], url)
    await send(
        client, notification(alert("ust10y", "critical", "firing"), alert("eurusd", "warning", "firing"))
    )
    await eventually(lambda: len(fake_pagerduty.accepted) == 1, within=20)

    await send(
        client, notification(alert("ust10y", "critical", "resolved"), alert("eurusd", "warning", "firing"))
    )
    await eventually(lambda: len(fake_pagerduty.accepted) == 2, within=20)
    assert [e["event_action"] for e in fake_pagerduty.accepted] == ["trigger", "resolve"]
    assert fake_pagerduty.open_alerts == {}
    [parent] = slack[0].parents()
    assert "1 alert(s) of this group still firing" in all_text(slack[0].replies(parent["ts"])[-1])
