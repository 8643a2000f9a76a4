"""POST/GET /api/v1/incidents/{id}/feedback: validation, idempotence per user, history, accuracy."""

from __future__ import annotations

import html
import re

import aiohttp

from receiver.storage import incidents as db_incidents
from receiver.web.keys import STORE
from tests.receiver.conftest import ClientFactory

from .conftest import firing, rediagnose, stored_incident


async def test_feedback_is_stored_and_shown_with_the_incident(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    answer = await client.post(
        f"/api/v1/incidents/{incident_id}/feedback",
        json={
            "verdict": "wrong",
            "actual_category": "dependency.database",
            "actual_cause": "orders-db",
            "note": "the database was locked",
            "who": "ana",
        },
    )
    assert answer.status == 201
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["feedback"]["verdict"] == "wrong"
    assert detail["feedback"]["current"][0]["actual_cause"] == "orders-db"
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert [h["changes"]["verdict"] for h in listed["history"]] == [[None, "wrong"]]


async def test_same_judgement_twice_adds_no_history(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    url = f"/api/v1/incidents/{incident_id}/feedback"
    first = await client.post(url, json={"verdict": "correct", "who": "ana"})
    again = await client.post(url, json={"verdict": "correct", "who": "ana"})
    assert (first.status, again.status) == (201, 200)
    assert (await again.json())["changes"] == {}
    changed = await client.post(url, json={"verdict": "partly", "who": "ana", "note": "half of it"})
    assert (await changed.json())["changes"] == {
        "verdict": ["correct", "partly"],
        "note": [None, "half of it"],
    }
    other = await client.post(url, json={"verdict": "wrong", "who": "bo"})
    assert other.status == 201
    listed = await (await client.get(url)).json()
    assert [(h["who"], sorted(h["changes"])) for h in listed["history"]] == [
        ("ana", ["verdict"]),
        ("ana", ["note", "verdict"]),
        ("bo", ["verdict"]),
    ]
    assert {(c["who"], c["verdict"]) for c in listed["current"]} == {("ana", "partly"), ("bo", "wrong")}


async def test_bad_feedback_names_the_field(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    url = f"/api/v1/incidents/{incident_id}/feedback"
    cases = [
        ({"verdict": "maybe"}, "verdict"),
        ({"verdict": "wrong", "actual_category": "cosmic.rays"}, "actual_category"),
        ({"verdict": "wrong", "note": 5}, "note"),
        ({"verdict": "wrong", "who": "x" * 201}, "who"),
        ({"verdict": "wrong", "colour": "red"}, "colour"),
    ]
    for body, field in cases:
        answer = await client.post(url, json=body)
        assert answer.status == 400, body
        assert (await answer.json())["field"] == field
    assert (await client.post(url, data=b"[1]")).status == 400
    assert (
        await client.post("/api/v1/incidents/inc-nope/feedback", json={"verdict": "correct"})
    ).status == 404
    assert (await (await client.get(url)).json())["current"] == []


async def test_feedback_that_is_not_storable_json_is_400_and_stores_nothing(
    make_client: ClientFactory,
) -> None:
    """A lone surrogate escape (valid JSON, not storable text) and nesting past Python's limit were 500s."""
    client = await make_client()
    incident_id = await stored_incident(client)
    url = f"/api/v1/incidents/{incident_id}/feedback"
    for body in (
        b'{"verdict": "correct", "note": "\\ud800"}',
        b'{"verdict": "correct", "who": "\\udfff ana"}',
        b"[" * 100_000 + b"]" * 100_000,
        b"\xff\xfe{}",
    ):
        answer = await client.post(url, data=body, headers={"Content-Type": "application/json"})
        assert answer.status == 400, body[:40]
        assert (await answer.json())["error"]
    assert (await (await client.get(url)).json())["current"] == []


async def test_ui_form_stores_feedback_and_redirects_back(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    answer = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data={"verdict": "correct", "who": "ana", "note": "<b>yes</b>"},
        allow_redirects=False,
    )
    assert answer.status == 303
    assert answer.headers["Location"] == f"/ui/incidents/{incident_id}?judge=ana#feedback"
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert listed["current"][0]["note"] == "<b>yes</b>"


async def test_accuracy_counts_judged_diagnoses_by_category_backend_and_confidence(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    cpu = await stored_incident(client, "fp-1", category="resource.cpu", confidence=0.9)
    db = await stored_incident(
        client, "fp-2", category="dependency.database", confidence=0.3, backend="openai"
    )
    await stored_incident(client, "fp-3")
    await client.post(f"/api/v1/incidents/{cpu}/feedback", json={"verdict": "correct", "who": "ana"})
    await client.post(f"/api/v1/incidents/{db}/feedback", json={"verdict": "wrong", "who": "ana"})
    accuracy = await (await client.get("/api/v1/accuracy")).json()
    assert (accuracy["judged"], accuracy["diagnosed"], accuracy["precision"]) == (2, 3, 0.5)
    assert {r["backend"]: r["precision"] for r in accuracy["by_backend"]} == {"builtin": 1.0, "openai": 0.0}
    assert {r["category"]: r["judged"] for r in accuracy["by_category"]} == {
        "dependency.database": 1,
        "resource.cpu": 1,
    }
    bins = {(b["confidence_from"], b["observed"]) for b in accuracy["calibration"] if b["judged"]}
    assert bins == {(0.2, 0.0), (0.8, 1.0)}
    metrics = await (await client.get("/metrics")).text()
    assert (
        'alert_analyst_feedback_total{backend="openai",category="dependency.database",verdict="wrong"} 1.0'
        in metrics
    )


async def test_accuracy_fragment_escapes_what_it_shows(make_client: ClientFactory) -> None:
    from receiver.web.feedback import accuracy_extras_html

    client = await make_client()
    judged = await stored_incident(client, "fp-1", backend="<b>x</b>", confidence=0.9)
    await client.post(f"/api/v1/incidents/{judged}/feedback", json={"verdict": "correct"})
    fragment = accuracy_extras_html(await (await client.get("/api/v1/accuracy")).json())
    assert "1 of 1 diagnosed incidents judged; precision 100%" in fragment
    assert "&lt;b&gt;x&lt;/b&gt;" in fragment and "<b>x</b>" not in fragment
    assert "<td>80%-100%</td><td>1</td><td>90%</td><td>100%</td>" in fragment


async def test_accuracy_without_judgements_says_where_they_come_from(make_client: ClientFactory) -> None:
    from receiver.web.feedback import accuracy_extras_html

    client = await make_client()
    await stored_incident(client, "fp-1")
    fragment = accuracy_extras_html(await (await client.get("/api/v1/accuracy")).json())
    assert "0 of 1 diagnosed incidents judged" in fragment
    assert "<table" not in fragment and "Judge a diagnosis on its incident page" in fragment


async def test_the_incident_page_and_overview_show_the_feedback_sections(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    await rediagnose(client, incident_id)
    await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data={"verdict": "wrong", "who": "ana", "note": "<script>alert(1)</script>"},
        allow_redirects=False,
    )
    page = await (await client.get(f"/ui/incidents/{incident_id}")).text()
    assert f'action="/ui/incidents/{incident_id}/feedback"' in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)" not in page
    overview = await (await client.get("/ui/overview")).text()
    assert "Accuracy from feedback" in overview and "judged" in overview


async def test_an_incident_not_yet_diagnosed_cannot_be_judged(make_client: ClientFactory) -> None:
    """A judgement stored with no diagnosis was counted nowhere, and a "correct" later vouched for a
    diagnosis that nobody had seen."""
    client = await make_client()
    incident = firing("fp-new", 1_790_000_000.0, {"alertname": "LatencyHigh"}, {}, "diagnose")
    await client.app[STORE].write(db_incidents.create_incident, incident)
    url = f"/api/v1/incidents/{incident.id}/feedback"
    answer = await client.post(url, json={"verdict": "correct", "who": "ana"})
    assert answer.status == 409
    assert "no diagnosis yet" in (await answer.json())["error"]
    form = await client.post(
        f"/ui/incidents/{incident.id}/feedback",
        data={"verdict": "correct", "who": "ana"},
        allow_redirects=False,
    )
    assert form.status == 409
    assert (await (await client.get(url)).json())["current"] == []


async def test_judging_a_pruned_or_unknown_incident_is_404_naming_it(make_client: ClientFactory) -> None:
    client = await make_client()
    answer = await client.post("/api/v1/incidents/inc-gone/feedback", json={"verdict": "wrong"})
    assert answer.status == 404
    assert "inc-gone" in (await answer.json())["error"]


async def test_a_missing_verdict_is_400_saying_it_is_required(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    answer = await client.post(f"/api/v1/incidents/{incident_id}/feedback", json={"who": "ana"})
    assert answer.status == 400
    assert await answer.json() == {
        "status": "error",
        "error": "verdict is required: one of correct, wrong, partly",
        "field": "verdict",
    }


async def test_a_file_sent_to_the_form_is_400_and_stores_nothing(make_client: ClientFactory) -> None:
    """A multipart file field was stored as the repr of aiohttp's FileField."""
    client = await make_client()
    incident_id = await stored_incident(client)
    form = aiohttp.FormData()
    form.add_field("verdict", "wrong")
    form.add_field("note", b"the pool", filename="note.txt")
    answer = await client.post(f"/ui/incidents/{incident_id}/feedback", data=form, allow_redirects=False)
    assert answer.status == 400
    assert (await answer.json())["field"] == "note"
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json()
    assert listed["current"] == []


async def test_the_form_refuses_another_site_and_missing_credentials(make_client: ClientFactory) -> None:
    client = await make_client(webhook={"bearer_token": "s3cret"})
    incident_id = await stored_incident(client)
    url = f"/ui/incidents/{incident_id}/feedback"
    auth = {"Authorization": "Bearer s3cret"}
    cross_site = {**auth, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
    answer = await client.post(url, data={"verdict": "correct"}, headers=cross_site, allow_redirects=False)
    assert answer.status == 403
    assert (await client.post(url, data={"verdict": "correct"}, allow_redirects=False)).status == 401
    listed = await (await client.get(f"/api/v1/incidents/{incident_id}/feedback", headers=auth)).json()
    assert listed["current"] == []
    same_site = {**auth, "Sec-Fetch-Site": "same-origin"}
    judged = {"verdict": "correct", "who": "ana"}
    answer = await client.post(url, data=judged, headers=same_site, allow_redirects=False)
    assert answer.status == 303


async def test_a_limit_in_other_digits_is_400_not_a_crash(make_client: ClientFactory) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    answer = await client.get(f"/api/v1/incidents/{incident_id}/similar", params={"limit": "\u00b2"})
    assert answer.status == 400
    assert (await answer.json())["field"] == "limit"


def _form_fields(page: str) -> dict[str, str]:
    """What the page's feedback form holds: the checked verdict, the selected category, the text fields."""
    [form] = re.findall(r'<form method="post" action="/ui/incidents/[^"]*/feedback">.*?</form>', page)
    held = dict(re.findall(r'<input (?:type="hidden" )?name="(\w+)"[^>]* value="([^"]*)"', form))
    held.update(re.findall(r'name="(verdict)" value="(\w+)" required checked', form))
    held.update(actual_category=(re.findall(r'<option value="([^"]*)" selected>', form) or [""])[0])
    return {name: html.unescape(value) for name, value in held.items()}


async def test_the_form_holds_the_judgement_so_changing_one_field_keeps_the_others(
    make_client: ClientFactory,
) -> None:
    """ana changes only her verdict: her category, cause and note stay (the form was empty, and sending
    it cleared them)."""
    client = await make_client()
    incident_id = await stored_incident(client)
    url = f"/ui/incidents/{incident_id}/feedback"
    first = {"verdict": "wrong", "actual_category": "network", "actual_cause": "orders-db", "who": "ana"}
    sent = await client.post(url, data={**first, "note": 'the "primary" was locked'}, allow_redirects=False)
    back = sent.headers["Location"]
    assert back == f"/ui/incidents/{incident_id}?judge=ana#feedback"

    held = _form_fields(await (await client.get(back)).text())
    assert held == {**first, "note": 'the "primary" was locked', "diagnosis_id": held["diagnosis_id"]}
    assert (await client.post(url, data={**held, "verdict": "partly"}, allow_redirects=False)).status == 303
    [current] = (await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json())["current"]
    assert (current["verdict"], current["actual_category"], current["actual_cause"], current["note"]) == (
        "partly",
        "network",
        "orders-db",
        'the "primary" was locked',
    )


async def test_the_page_lists_each_current_judgement_with_a_link_that_opens_it_in_the_form(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    for who, verdict in (("ana", "wrong"), ("bo", "correct")):
        judged = {"verdict": verdict, "who": who, "note": f"{who} <says>"}
        await client.post(f"/ui/incidents/{incident_id}/feedback", data=judged, allow_redirects=False)
    page = await (await client.get(f"/ui/incidents/{incident_id}")).text()
    listed = re.findall(r"<li><bdi>(\w+)</bdi>: <b>(\w+)</b>, note <bdi>(\w+ &lt;says&gt;)</bdi>", page)
    assert listed == [("bo", "correct", "bo &lt;says&gt;"), ("ana", "wrong", "ana &lt;says&gt;")]
    assert f'href="/ui/incidents/{incident_id}?judge=ana#feedback">change</a>' in page
    assert _form_fields(page)["who"] == ""  # a new judge's empty form, until one is chosen


async def test_the_form_needs_a_name_so_two_judges_do_not_share_the_anonymous_one(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    incident_id = await stored_incident(client)
    answer = await client.post(
        f"/ui/incidents/{incident_id}/feedback",
        data={"verdict": "correct", "who": " "},
        allow_redirects=False,
    )
    assert answer.status == 400
    refused = await answer.json()
    assert refused["field"] == "who" and "anonymous" in refused["error"]
    assert (await (await client.get(f"/api/v1/incidents/{incident_id}/feedback")).json())["current"] == []
