"""The year-9999 edge is drawn in one place (`receiver.times`) for every interface that takes a time: webhook
and on-demand alert times, API and workbench filters, backtests and the CLI's flags. The last microsecond of
9999 is in range everywhere, the first instant of 10000 nowhere."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from receiver.cli import main
from receiver.errors import PayloadError
from receiver.payload import parse_alert, parse_webhook
from receiver.scheduled.scheduler import DetectionScheduler
from receiver.scheduled.settings import DetectionSettings
from receiver.storage.database import Store
from receiver.times import END_OF_TIME, format_time
from receiver.web.backtest import backtest_routes
from receiver.web.ondemand import AdHocAlert, incident_from_adhoc
from receiver.web.templating import setup_templates

from .conftest import ClientFactory

LAST_MICROSECOND = "9999-12-31T23:59:59.999999Z"
FIRST_OF_10000 = "9999-12-31T23:00:00-01:00"  # 10000-01-01T00:00:00Z, as RFC 3339 can write it
LAST_SECONDS = math.nextafter(END_OF_TIME, 0.0)  # the last microsecond of 9999 as a float
IN_RANGE = [LAST_MICROSECOND, repr(LAST_SECONDS)]
OUT_OF_RANGE = [FIRST_OF_10000, repr(END_OF_TIME)]
NOWHERE = "http://127.0.0.1:9"  # nothing listens


def alert(starts_at: str, ends_at: str | None = None) -> dict[str, Any]:
    fields = {"labels": {"alertname": "Edge"}, "startsAt": starts_at}
    return fields if ends_at is None else {**fields, "endsAt": ends_at}


def webhook(starts_at: str, ends_at: str | None = None) -> bytes:
    return json.dumps({"version": "4", "status": "firing", "alerts": [alert(starts_at, ends_at)]}).encode()


# --- webhook and alert payloads (in_time_range) ---------------------------------------------------------


def test_webhook_times_in_the_last_microsecond_of_9999_stay_in_9999() -> None:
    """A float rounds 9999-12-31T23:59:59.999999Z up to 10000-01-01: such a webhook was refused."""
    [parsed] = parse_webhook(webhook("2026-01-01T00:00:00Z", LAST_MICROSECOND)).alerts
    assert parsed.ends_at == LAST_SECONDS
    assert format_time(parse_alert(alert(LAST_MICROSECOND)).starts_at) == "9999-12-31T23:59:59Z"


@pytest.mark.parametrize("field", ["startsAt", "endsAt"])
def test_webhook_times_at_the_first_instant_of_10000_are_refused_naming_the_field(field: str) -> None:
    times = {"startsAt": "2026-01-01T00:00:00Z", "endsAt": "2026-01-01T01:00:00Z", field: FIRST_OF_10000}
    with pytest.raises(PayloadError, match="out of range") as raised:
        parse_webhook(webhook(times["startsAt"], times["endsAt"]))
    assert raised.value.field == f"alerts[0].{field}"
    with pytest.raises(PayloadError, match="out of range"):
        parse_alert(alert(times["startsAt"], times["endsAt"]))


@pytest.mark.parametrize(("starts_at", "status"), [(LAST_MICROSECOND, 200), (FIRST_OF_10000, 400)])
async def test_the_webhook_route_draws_the_same_edge(
    make_client: ClientFactory, starts_at: str, status: int
) -> None:
    client = await make_client()
    answer = await client.post(
        "/webhook/alertmanager", data=webhook(starts_at), headers={"Content-Type": "application/json"}
    )
    assert answer.status == status, await answer.text()


# --- time parameters (parse_time) -------------------------------------------------------------------------


@pytest.mark.parametrize("value", IN_RANGE)
def test_an_on_demand_alert_may_start_in_the_last_microsecond_of_9999(value: str) -> None:
    """parse_time's answer goes through format_time into parse_alert: each must take what the other gave."""
    incident = incident_from_adhoc(
        AdHocAlert(alertname="Edge", start=value), now=LAST_SECONDS
    )  # not after now
    assert incident.starts_at == LAST_SECONDS


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_an_on_demand_alert_may_not_start_in_10000(value: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        incident_from_adhoc(AdHocAlert(alertname="Edge", start=value), now=0.0)


@pytest.mark.parametrize(
    ("value", "status"), [*((v, 200) for v in IN_RANGE), *((v, 400) for v in OUT_OF_RANGE)]
)
async def test_list_filters_draw_the_same_edge(make_client: ClientFactory, value: str, status: int) -> None:
    client = await make_client()
    for path in ("/api/v1/incidents", "/ui/rows", "/ui/"):
        answer = await client.get(path, params={"since": value})
        assert answer.status == status, (path, await answer.text())


class EmptySource:
    async def query_range(self, query: str, start: float, end: float, step: float) -> list[Any]:
        return []


@pytest.mark.parametrize(
    ("value", "status"), [*((v, 200) for v in IN_RANGE), *((v, 400) for v in OUT_OF_RANGE)]
)
async def test_a_backtest_may_end_in_the_last_microsecond_of_9999(
    aiohttp_client: Any, tmp_path: Path, value: str, status: int
) -> None:
    scheduler = DetectionScheduler(
        Store(tmp_path / "analyst.db"), EmptySource(), DetectionSettings(rules=[]), on_anomaly=_nothing
    )
    app = web.Application()
    setup_templates(app)
    app.add_routes(backtest_routes(scheduler))
    client = await aiohttp_client(app)
    body = {"rule": {"query": "up"}, "from": "9999-12-31T23:00:00Z", "to": value, "interval": "5m"}
    answer = await client.post("/api/v1/backtest", json=body)
    assert answer.status == status, await answer.text()


async def _nothing(finding: object) -> None:
    return None


# --- the CLI ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "accepted"), [*((v, True) for v in IN_RANGE), *((v, False) for v in OUT_OF_RANGE)]
)
def test_diagnose_at_draws_the_same_edge(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, accepted: bool
) -> None:
    path = tmp_path / "alert.json"
    path.write_text(json.dumps(alert(LAST_MICROSECOND)))
    code = main(["diagnose", "--alert", str(path), "--at", value, "--prometheus.url", NOWHERE])
    err = capsys.readouterr().err
    assert (code == 0, "out of range" in err) == (accepted, not accepted), err


@pytest.mark.parametrize("value", OUT_OF_RANGE)
def test_backtest_to_in_10000_is_out_of_range(capsys: pytest.CaptureFixture[str], value: str) -> None:
    argv = ["backtest", "--query", "up", "--from", "9999-12-31T23:00:00Z", "--to", value]
    assert main([*argv, "--prometheus.url", NOWHERE]) == 2
    assert "out of range" in capsys.readouterr().err
