"""The workbench in headless Chromium, on what a keyboard user and a reader meet: the list's live refresh
keeps the focus, its clock says UTC, descriptions keep their lines and right-to-left overrides stay inside
their value. Against `alert-analyst serve` with no Prometheus (nothing here charts)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from demo.processes import ReceiverProcess, start_receiver
from tests.support.browser import WORKBENCH_AUTH, browser_available

from .test_workbench_browser import _call, _diagnosed, _open

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs chromium, chromium-driver and selenium"),
]
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: what follows it reads backwards, up to the end of its isolate
REFRESH = 10  # seconds between the list's refreshes (workbench.js REFRESH_MS)


def _webhook(alertname: str, starts: float, **annotations: str) -> bytes:
    alert = {
        "status": "firing",
        "labels": {"alertname": alertname, "severity": "warning", "team": f"{RLO}evil"},
        "annotations": {"summary": f"{alertname} summary", **annotations},
        "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(starts)),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "",
    }
    body = {"version": "4", "status": "firing", "receiver": "aa", "groupKey": alertname, "alerts": [alert]}
    return json.dumps(body).encode()


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ReceiverProcess, list[str]]]:
    """A receiver whose Prometheus is down, with four incidents that started hours ago: three with a
    two-line description, the fourth named with a right-to-left override and described in 10,000
    characters; each has a label value that starts with an override."""
    config = {
        "prometheus": {"url": "http://127.0.0.1:9", "retries": 0},
        "webhook": {"basic_auth": {"username": WORKBENCH_AUTH[0], "password": WORKBENCH_AUTH[1]}},
        "detection": {"enabled": False},
    }
    proc = start_receiver(tmp_path_factory.mktemp("receiver"), config)
    try:
        hook, ids = f"{proc.url}/webhook/alertmanager", []
        for n, name in enumerate(("First", "Second", "Third", f"{RLO}Spoofed")):
            said = {"description": f"line one of {name}\nline two" if n < 3 else "D" * 10_000}
            ids += _call(hook, _webhook(name, time.time() - 3 * 3600 - n * 60, **said))["incidents"]
        deadline = time.monotonic() + 30
        while not all(_diagnosed(f"{proc.url}/api/v1/incidents/{i}") for i in ids):
            assert time.monotonic() < deadline, proc.log()[-3000:]
            time.sleep(0.3)
        yield proc, ids
    finally:
        proc.terminate()


def _focused_href(browser: Any) -> str | None:
    return browser.execute_script("return document.activeElement.getAttribute('href')")


def _refreshed(browser: Any) -> str:
    """Wait for the list's next refresh; what its status line says then."""
    from selenium.webdriver.support.wait import WebDriverWait

    browser.execute_script("document.getElementById('live').textContent = ''")
    WebDriverWait(browser, REFRESH + 5).until(
        lambda b: b.execute_script("return document.getElementById('live').textContent")
    )
    return str(browser.execute_script("return document.getElementById('live').textContent"))


def test_the_live_refresh_leaves_the_keyboard_focus_where_it_was(browser: Any, listed: Any) -> None:
    proc, ids = listed
    _open(browser, f"{proc.url}/ui/")
    link = browser.find_element("css selector", f'#rows a[href="/ui/incidents/{ids[1]}"]')
    browser.execute_script("arguments[0].focus(); arguments[0].__kept = true", link)
    assert _refreshed(browser).startswith("live: updated")
    assert _focused_href(browser) == f"/ui/incidents/{ids[1]}"
    assert browser.execute_script("return document.activeElement.__kept === true")  # not even re-rendered


def test_new_rows_keep_the_focus_on_the_same_incident(browser: Any, listed: Any) -> None:
    proc, ids = listed
    _open(browser, f"{proc.url}/ui/")
    link = browser.find_element("css selector", f'#rows a[href="/ui/incidents/{ids[2]}"]')
    browser.execute_script("arguments[0].focus()", link)
    before = len(browser.find_elements("css selector", "#rows tr"))
    _call(f"{proc.url}/webhook/alertmanager", _webhook("Newest", time.time() - 60))  # a row above it
    _refreshed(browser)
    if len(browser.find_elements("css selector", "#rows tr")) == before:  # not yet an incident then
        _refreshed(browser)
    assert len(browser.find_elements("css selector", "#rows tr")) == before + 1
    assert _focused_href(browser) == f"/ui/incidents/{ids[2]}"


def test_the_live_status_says_its_time_in_utc(browser: Any, listed: Any) -> None:
    proc, _ = listed
    _open(browser, f"{proc.url}/ui/")
    said = _refreshed(browser)
    assert re.fullmatch(r"live: updated \d\d:\d\d:\d\d UTC", said), said
    clock = time.strftime("%H:%M", time.gmtime())
    assert clock in said or time.strftime("%H:%M", time.gmtime(time.time() - 60)) in said


def test_a_description_keeps_its_lines(browser: Any, listed: Any) -> None:
    proc, ids = listed
    _open(browser, f"{proc.url}/ui/incidents/{ids[0]}")
    shown = browser.find_element("css selector", "section.alert .description").get_attribute("innerText")
    assert shown == "line one of First\nline two"


def test_a_long_description_is_folded_under_its_beginning(browser: Any, listed: Any) -> None:
    proc, ids = listed
    _open(browser, f"{proc.url}/ui/incidents/{ids[3]}")
    folded = browser.find_element("css selector", "section.alert details.description")
    assert folded.get_attribute("open") is None and "10000 characters" in folded.text
    assert browser.find_element("css selector", "section.alert").size["height"] < 300


def test_a_right_to_left_override_is_shown_and_stays_inside_its_value(browser: Any, listed: Any) -> None:
    """An override without its end reordered what followed it: the status badge went left of the name, and
    the diagnosis sentence that quotes the name read backwards."""
    proc, ids = listed
    _open(browser, f"{proc.url}/ui/incidents/{ids[3]}")
    name, badge = (browser.find_element("css selector", f"h1 {c}") for c in ("bdi", ".badge"))
    assert name.text == "[U+202E]Spoofed"  # shown, not obeyed
    summary = browser.find_element("css selector", "section.card:not(.alert) p.summary").text
    assert "[U+202E]Spoofed (firing)" in summary, summary  # the sentence quoting it reads forwards
    assert badge.location["x"] > name.location["x"] + name.size["width"] - 1
    values = browser.find_elements("css selector", "section.alert .labels .chip bdi")
    isolation = {
        browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", v) for v in values
    }
    assert values and isolation == {"isolate"}
    _open(browser, f"{proc.url}/ui/")
    link = browser.find_element("css selector", f'#rows a[href="/ui/incidents/{ids[3]}"] bdi')
    assert browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", link) == "isolate"


def test_phone_cards_say_which_time_is_which(listed: Any) -> None:
    """The cards have no column headers: '6m 25s ago 10m' said neither 'started' nor how long."""
    from tests.support.browser import chromium

    proc, _ = listed
    with chromium(auth=WORKBENCH_AUTH, width=390, height=800) as phone:
        _open(phone, f"{proc.url}/ui/")
        row = phone.find_element("css selector", "#rows tr")
        said = [
            phone.execute_script("return getComputedStyle(arguments[0], '::before').content", cell)
            for cell in row.find_elements("css selector", "td[data-label]")
        ]
        assert said == ['"started" " "', '"lasted" " "'] or said == ['"started "', '"lasted "'], said


def test_an_override_in_a_judgement_is_shown_and_the_form_sends_it_back_as_it_was(
    browser: Any, listed: Any
) -> None:
    """The feedback section is built in Python, outside the templates: a judge named with an override read
    backwards and reversed the rest of the judgement's line. The form's fields keep the value as given,
    so sending the form again does not store the shown `[U+202E]` in its place."""
    proc, ids = listed
    judgement = {"verdict": "wrong", "who": f"{RLO}ana", "actual_cause": f"{RLO}db-1", "note": f"{RLO}slow"}
    _call(f"{proc.url}/api/v1/incidents/{ids[0]}/feedback", json.dumps(judgement).encode())
    _open(browser, f"{proc.url}/ui/incidents/{ids[0]}?judge=%E2%80%AEana#feedback")

    [line] = browser.find_elements("css selector", "section.feedback ul li")[:1]
    assert line.text.startswith("[U+202E]ana: wrong, cause [U+202E]db-1, note [U+202E]slow,"), line.text
    values = line.find_elements("css selector", "bdi")
    isolation = {
        browser.execute_script("return getComputedStyle(arguments[0]).unicodeBidi", v) for v in values
    }
    assert len(values) == 3 and isolation == {"isolate"}
    fields = {
        name: browser.find_element("css selector", f"section.feedback input[name={name}]").get_attribute(
            "value"
        )
        for name in ("who", "actual_cause", "note")
    }
    assert fields == {"who": f"{RLO}ana", "actual_cause": f"{RLO}db-1", "note": f"{RLO}slow"}
