"""A judgement is about the diagnosis the judge read: Slack buttons and the incident page's form carry its
id, so a re-diagnosis made in between does not take the judgement."""

from __future__ import annotations

import re
from typing import Any

from receiver.delivery.slack_blocks import feedback_actions
from receiver.storage import feedback as db_feedback
from receiver.storage import incidents as db_incidents
from receiver.web.keys import STORE
from tests.receiver.conftest import ClientFactory
from tests.support.polling import eventually

from .conftest import SlackServer, click_button, firing, posted, rediagnose, slack_client, stored_incident

HIDDEN_DIAGNOSIS_ID = re.compile(r'<input type="hidden" name="diagnosis_id" value="([0-9]+)">')


async def newest_diagnosis_id(client: Any, incident_id: str) -> int:
    row = await client.app[STORE].run(db_feedback.latest_diagnosis, incident_id)
    assert row is not None
    return int(row["id"])


async def judgements(client: Any, incident_id: str) -> dict[str, Any]:
    return dict(await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json())


async def test_a_click_on_an_older_diagnosis_reply_judges_that_diagnosis(
    make_client: ClientFactory, slack: SlackServer
) -> None:
    """The thread holds both replies; the click on the first one judged the re-diagnosis nobody had read."""
    fake, _ = slack
    client = await slack_client(make_client, slack)
    incident_id = await stored_incident(client)
    first = await newest_diagnosis_id(client, incident_id)
    old_reply = posted(fake, [feedback_actions(incident_id, first)], "1700000001.000001")
    second = await rediagnose(client, incident_id)
    posted(fake, [feedback_actions(incident_id, second)], "1700000002.000001")

    assert await click_button(client, slack, old_reply, "wrong", user="ana") == 200

    current = (await judgements(client, incident_id))["current"]
    assert [(c["who"], c["verdict"], c["diagnosis_id"]) for c in current] == [("slack:ana", "wrong", first)]
    await eventually(lambda: len(fake.responses) == 1, within=10)
    texts = [e["text"] for b in old_reply["blocks"] if b["type"] == "context" for e in b["elements"]]
    assert "Judged *wrong* by ana" in texts


async def test_a_button_posted_before_diagnosis_ids_judges_the_newest_diagnosis(
    make_client: ClientFactory, slack: SlackServer
) -> None:
    fake, _ = slack
    client = await slack_client(make_client, slack)
    incident_id = await stored_incident(client)
    reply = posted(fake, [feedback_actions(incident_id)], "1700000001.000001")
    assert reply["blocks"][0]["elements"][0]["value"] == incident_id  # the old format: the incident alone
    second = await rediagnose(client, incident_id)

    assert await click_button(client, slack, reply, "correct") == 200

    current = (await judgements(client, incident_id))["current"]
    assert [(c["verdict"], c["diagnosis_id"]) for c in current] == [("correct", second)]


async def test_a_click_on_a_diagnosis_no_longer_stored_tells_the_clicker_and_stores_nothing(
    make_client: ClientFactory, slack: SlackServer
) -> None:
    fake, _ = slack
    client = await slack_client(make_client, slack)
    incident_id = await stored_incident(client)
    gone = await newest_diagnosis_id(client, incident_id) + 1000
    reply = posted(fake, [feedback_actions(incident_id, gone)], "1700000001.000001")

    assert await click_button(client, slack, reply, "correct") == 200

    await eventually(lambda: len(fake.responses) == 1, within=10)
    (response,) = fake.responses
    assert response["response_type"] == "ephemeral" and response["replace_original"] is False
    assert f"diagnosis {gone}" in response["text"] and "not stored" in response["text"]
    assert reply["blocks"] == [feedback_actions(incident_id, gone)]
    assert (await judgements(client, incident_id))["current"] == []


async def test_a_judgement_pinned_to_the_older_diagnosis_stays_on_it(make_client: ClientFactory) -> None:
    """Without a diagnosis id, judging again after a re-diagnosis moves the judgement to the new one; with
    the older one's id it stays there, and sending it again changes nothing."""
    client = await make_client()
    incident_id = await stored_incident(client)
    first = await newest_diagnosis_id(client, incident_id)
    url = f"/api/v1/incidents/{incident_id}/feedback"
    await client.post(url, json={"verdict": "correct", "who": "ana"})
    second = await rediagnose(client, incident_id)

    pinned = await client.post(url, json={"verdict": "correct", "who": "ana", "diagnosis_id": first})
    assert pinned.status == 200
    assert (await pinned.json())["changes"] == {}
    assert (await pinned.json())["feedback"]["diagnosis_id"] == first

    moved = await (await client.post(url, json={"verdict": "correct", "who": "ana"})).json()
    assert moved["changes"] == {"diagnosis_id": [first, second]}
    back = await (
        await client.post(url, json={"verdict": "wrong", "who": "ana", "diagnosis_id": first})
    ).json()
    assert back["changes"] == {"verdict": ["correct", "wrong"], "diagnosis_id": [second, first]}


async def test_a_diagnosis_id_of_another_incident_is_400_naming_it_and_stores_nothing(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    incident_id = await stored_incident(client, "fp-1")
    other = await stored_incident(client, "fp-2")
    others_diagnosis = await newest_diagnosis_id(client, other)
    url = f"/api/v1/incidents/{incident_id}/feedback"

    answer = await client.post(url, json={"verdict": "wrong", "who": "ana", "diagnosis_id": others_diagnosis})
    assert answer.status == 400
    error = await answer.json()
    assert error["field"] == "diagnosis_id" and f"diagnosis {others_diagnosis}" in error["error"]
    form = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data={"verdict": "wrong", "who": "ana", "diagnosis_id": str(others_diagnosis)},
        allow_redirects=False,
    )
    assert form.status == 400 and (await form.json())["field"] == "diagnosis_id"
    assert await judgements(client, incident_id) == {"verdict": None, "current": [], "history": []}
    assert (await judgements(client, other))["current"] == []


async def test_a_diagnosis_id_that_is_not_a_positive_integer_is_400_naming_it(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    url = f"/api/v1/incidents/{incident_id}/feedback"
    for value in ("x", True, -1, 0, 1.5, "\u00b2", "1" * 19, [1]):
        answer = await client.post(url, json={"verdict": "wrong", "diagnosis_id": value})
        assert answer.status == 400, value
        assert (await answer.json())["field"] == "diagnosis_id"
    assert (await judgements(client, incident_id))["current"] == []


async def test_the_incident_page_shows_the_form_only_once_diagnosed(make_client: ClientFactory) -> None:
    """The form was shown before any diagnosis, and sending it answered 409."""
    client = await make_client()
    incident = firing("fp-new", 1_790_000_000.0, {"alertname": "LatencyHigh"}, {}, "diagnose")
    await client.app[STORE].write(db_incidents.create_incident, incident)
    action = f'action="/ui/incidents/{incident.id}/feedback"'

    page = await (await client.get(f"/ui/incidents/{incident.id}")).text()
    assert action not in page and HIDDEN_DIAGNOSIS_ID.search(page) is None
    assert "Not diagnosed yet" in page

    diagnosis_id = await rediagnose(client, incident.id)
    page = await (await client.get(f"/ui/incidents/{incident.id}")).text()
    assert action in page
    shown = HIDDEN_DIAGNOSIS_ID.search(page)
    assert shown is not None and int(shown.group(1)) == diagnosis_id


async def test_the_form_judges_the_diagnosis_its_page_showed(make_client: ClientFactory) -> None:
    """The page was rendered with diagnosis N; a re-diagnosis made N+1 before the form was sent."""
    client = await make_client()
    incident_id = await stored_incident(client)
    await rediagnose(client, incident_id)
    page = await (await client.get(f"/ui/incidents/{incident_id}")).text()
    shown = HIDDEN_DIAGNOSIS_ID.search(page)
    assert shown is not None
    await rediagnose(client, incident_id)

    answer = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data={"verdict": "partly", "who": "ana", "diagnosis_id": shown.group(1)},
        allow_redirects=False,
    )
    assert answer.status == 303
    current = (await judgements(client, incident_id))["current"]
    assert [(c["verdict"], c["diagnosis_id"]) for c in current] == [("partly", int(shown.group(1)))]
