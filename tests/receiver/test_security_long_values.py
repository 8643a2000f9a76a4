"""One webhook with very long values cannot hold the receiver's event loop (no webhook acknowledged
meanwhile): the workbench's list (which every open tab polls) shortens selectors in what it shows, and
evidence collection reads the alert's expression out of its generatorURL (a webhook's, or the one an
on-demand alert's `expr` makes), both in time linear in the text.

On the code before, these tests do not finish: shortening took about 6 s for a 30 kB label value (an hour
for 1 MB), reading 40 kB of nested parentheses 56 s (days for 1 MB)."""

from __future__ import annotations

import json

from demo.processes import ManagedProcess
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE
from receiver.web.resources import pipeline_parts
from receiver.web.templating import brief
from tests.evidence.scenario import Scenario

from .conftest import ClientFactory

LONG = "x" * 1_000_000


def test_selectors_in_a_long_word_are_shortened_as_in_a_short_one() -> None:
    assert brief(LONG + ' up{job="a"} 9' + LONG) == LONG + " up 9" + LONG


async def test_the_incident_list_shows_an_alert_with_a_megabyte_label(make_client: ClientFactory) -> None:
    client = await make_client(pipeline_parts, prometheus={"url": "http://127.0.0.1:9", "retries": 0})
    alert = {"labels": {"alertname": "Long", "service": LONG}, "startsAt": "2026-12-06T00:00:00Z"}
    body = json.dumps({"version": "4", "status": "firing", "alerts": [alert]})
    answer = await client.post(
        "/webhook/alertmanager", data=body, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 200, await answer.text()
    await wait_idle(client.app[PIPELINE])

    rows = await client.get("/ui/rows")

    assert rows.status == 200
    assert LONG in await rows.text()  # the suspect: the service the diagnosis names


async def test_a_megabyte_of_nested_parentheses_in_an_alert_expression_is_read_and_answered(
    make_client: ClientFactory, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    expr = "(" * 500_000 + "demo_order_error_ratio > 0.1" + ")" * 500_000
    client = await make_client(pipeline_parts, prometheus={"url": prometheus.url, "retries": 0})
    alert = {"alertname": "Long", "expr": expr, "start": scenario.effect_at + 60}

    answer = await client.post("/api/v1/diagnoses", json={"alert": alert})

    assert answer.status == 200, (await answer.text())[:500]
    assert (await answer.json())["diagnosis"]["primary_hypothesis"]
