"""The web workbench in headless Chromium, against `alert-analyst serve` and a real, backfilled Prometheus.

One diagnosed incident carries hostile labels and annotations (<script>, <img onerror>, a javascript:
runbook); a second, different one lets the filters and the search show that they narrow the list.
"""

from __future__ import annotations

import base64
import calendar
import collections
import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.processes import ManagedProcess, ReceiverProcess, start_receiver
from tests.evidence.scenario import ALERT_EXPR, Scenario
from tests.support.browser import (
    WORKBENCH_AUTH,
    browser_available,
    chromium,
    console_errors,
    visit_from_another_site,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs chromium, chromium-driver and selenium"),
]

AUTH = WORKBENCH_AUTH
BASIC = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode()}
DISK = {"job": "node", "instance": "db-1:9100", "device": "sda"}
ALERTMANAGER = "http://127.0.0.1:9093"
HOSTILE = {
    "note": "<script>window.__pwned = 1</script>",
    "description": '<img src=x onerror="window.__pwned = 2">',
    "runbook_url": "javascript:window.__pwned = 3",
}


def _rfc3339(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _notification(prom: str, alertname: str, severity: str, starts: float, extra: dict[str, Any]) -> bytes:
    labels = {"alertname": alertname, "severity": severity, "note": extra.get("note", "plain")}
    labels.update(extra.get("target") or {"job": "shop", "service": "orders", "instance": "orders-1:8080"})
    alert = {
        "status": "firing",
        "labels": labels,
        "annotations": {
            "summary": f"{alertname} summary",
            "description": extra.get("description", "plain description"),
            "runbook_url": extra.get("runbook_url", "https://runbooks.example/orders"),
        },
        "startsAt": _rfc3339(starts),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"{prom}/graph?g0.expr={ALERT_EXPR}",
        "fingerprint": f"{abs(hash(alertname)):016x}"[:16],
    }
    body = {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{alertname}"}}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "alert-analyst",
        "groupLabels": {"alertname": alertname},
        "commonLabels": labels,
        "commonAnnotations": {},
        "externalURL": ALERTMANAGER,
        "alerts": [alert],
    }
    return json.dumps(body).encode()


def _call(url: str, data: bytes | None = None) -> Any:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json", **BASIC})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


def _diagnosed(url: str) -> bool:
    try:
        return _call(url)["diagnosis"] is not None
    except urllib.error.HTTPError as exc:  # 404 until the notification is turned into an incident
        if exc.code != 404:
            raise
        return False


def _config(prometheus: ManagedProcess) -> dict[str, Any]:
    """A receiver on `prometheus` behind the workbench's Basic login, without scheduled detection."""
    return {
        "prometheus": {"url": prometheus.url, "retries": 0},
        "webhook": {"basic_auth": {"username": AUTH[0], "password": AUTH[1]}},
        "detection": {"enabled": False},
    }


@pytest.fixture(scope="module")
def receiver(
    tmp_path_factory: pytest.TempPathFactory, prometheus: ManagedProcess, scenario: Scenario
) -> Iterator[tuple[ReceiverProcess, str]]:
    proc = start_receiver(tmp_path_factory.mktemp("receiver"), _config(prometheus))
    try:
        hook = f"{proc.url}/webhook/alertmanager"
        starts = scenario.effect_at + 60
        answer = _call(hook, _notification(prometheus.url, "OrderErrorsHigh", "critical", starts, HOSTILE))
        _call(
            hook, _notification(prometheus.url, "DiskAlmostFull", "warning", starts - 300, {"target": DISK})
        )
        incident_id = answer["incidents"][0]
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if _diagnosed(f"{proc.url}/api/v1/incidents/{incident_id}"):
                break
            time.sleep(0.3)
        else:
            pytest.fail("no diagnosis within 30 s:\n" + proc.log()[-3000:])
        yield proc, incident_id
    finally:
        proc.terminate()


def _open(browser: Any, url: str) -> None:
    browser.get(url)
    browser.implicitly_wait(5)


def _submit(browser: Any, button: str = "form.diagnose button", confirm: bool = False) -> None:
    """Click the form's button (`confirm`: and accept the question it asks) and wait until the next page
    has replaced this one and has loaded.

    The old page is told apart by a mark set on its window, not by asking whether the button's element
    is stale: while the next page loads, Chrome may answer that question with an inspector error
    ("Node with given id does not belong to the document") instead of a stale-element one."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    browser.execute_script("window.__before_submit = true")
    browser.find_element("css selector", button).click()
    if confirm:
        browser.switch_to.alert.accept()
    WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda driver: driver.execute_script(
            "return window.__before_submit === undefined && document.readyState === 'complete'"
        )
    )


def _answers(proc: ReceiverProcess) -> collections.Counter[str]:
    """How many requests the receiver has answered, by route (from its /metrics)."""
    with urllib.request.urlopen(f"{proc.url}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    counts: collections.Counter[str] = collections.Counter()
    for family in text_string_to_metric_families(text):
        if family.name == "alert_analyst_http_responses":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    counts[sample.labels["route"]] += int(sample.value)
    return counts


def _fill(browser: Any, **fields: str) -> None:
    """Replace what the form's named fields hold."""
    for name, value in fields.items():
        field = browser.find_element("name", name)
        field.clear()
        field.send_keys(value)


def _rows(browser: Any) -> list[str]:
    return [r.text for r in browser.find_elements("css selector", "#rows tr")]


def test_list_loads_without_console_errors_and_filters_narrow_it(browser: Any, receiver: Any) -> None:
    proc, _ = receiver
    _open(browser, f"{proc.url}/ui/")
    assert len(_rows(browser)) == 2
    assert console_errors(browser) == []
    _open(browser, f"{proc.url}/ui/?severity=critical")
    rows = _rows(browser)
    assert len(rows) == 1 and "OrderErrorsHigh" in rows[0], rows
    _open(browser, f"{proc.url}/ui/?q=disk")
    assert "DiskAlmostFull" in _rows(browser)[0] and len(_rows(browser)) == 1
    _open(browser, f"{proc.url}/ui/?q=postgres")  # words of the diagnosis, not of the alert
    rows = _rows(browser)
    assert len(rows) == 1 and "OrderErrorsHigh" in rows[0], rows


def test_the_incident_chart_holds_the_alert_series_points(browser: Any, receiver: Any) -> None:
    proc, incident_id = receiver
    _open(browser, f"{proc.url}/ui/incidents/{incident_id}")
    first = browser.find_element("css selector", "figure.chart")
    assert "demo_order_error_ratio" in first.text  # the alert's own series comes first
    browser.find_element("css selector", "figure.chart .plot[data-points]")
    values = browser.execute_script("return document.querySelector('figure.chart').uplot.data[1]")
    finite = [v for v in values if v is not None]
    assert len(finite) > 100
    assert min(finite) < 0.05 and max(finite) > 0.2  # the step from ~1% to ~25% errors is in the window
    assert console_errors(browser) == []


def test_charts_draw_when_the_page_was_opened_with_credentials_in_its_url(receiver: Any) -> None:
    # http://user:password@host/... : fetch() refuses a relative URL resolved against such a page
    proc, incident_id = receiver
    split = urlsplit(proc.url)
    with chromium() as driver:  # no Authorization header of its own: only the URL's credentials
        _open(driver, f"{split.scheme}://{AUTH[0]}:{AUTH[1]}@{split.netloc}/ui/incidents/{incident_id}")
        driver.find_element("css selector", "figure.chart .plot[data-points]")
        failed = driver.find_elements("css selector", "figure.chart .plot .fail")
        assert failed == [], [f.text for f in failed]
        assert console_errors(driver) == []


def test_chart_captions_never_overlap_their_plot(browser: Any, receiver: Any) -> None:
    # narrow enough that the marks (onset, alert start, ...) drop below the series' name
    proc, incident_id = receiver
    browser.set_window_size(600, 900)
    try:
        _open(browser, f"{proc.url}/ui/incidents/{incident_id}")
        browser.find_element("css selector", "figure.chart .plot[data-points]")
        boxes = browser.execute_script(
            """function box(e) { var r = e.getBoundingClientRect(); return [r.top, r.bottom]; }
               return Array.from(document.querySelectorAll('figure.chart')).filter(function (f) {
                 return f.querySelector('canvas'); }).map(function (f) { return {
                 caption: box(f.querySelector('figcaption')), name: box(f.querySelector('figcaption b')),
                 marks: box(f.querySelector('.marks')), canvas: box(f.querySelector('canvas')),
                 legend: box(f.querySelector('.u-legend'))}; });"""
        )
    finally:
        browser.set_window_size(1280, 900)
    assert boxes and any(b["marks"][0] >= b["name"][1] for b in boxes), boxes  # the marks did drop
    for b in boxes:
        assert b["marks"][1] <= b["caption"][1] + 1, b  # the caption holds its marks ...
        assert b["legend"][0] >= b["canvas"][1] - 1, b  # ... so the legend stays below the axis labels


def test_links_point_to_prometheus_and_an_alertmanager_silence(
    browser: Any, receiver: Any, prometheus: ManagedProcess
) -> None:
    proc, incident_id = receiver
    _open(browser, f"{proc.url}/ui/incidents/{incident_id}")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements("css selector", "nav.links a")}
    graph = urlsplit(links["Prometheus graph"])
    assert f"{graph.scheme}://{graph.netloc}" == prometheus.url and graph.path == "/graph"
    assert parse_qs(graph.query)["g0.expr"] == [ALERT_EXPR]
    silence = links["Silence in Alertmanager"]
    assert silence.startswith(f"{ALERTMANAGER}/#/silences/new?filter=")
    assert 'alertname="OrderErrorsHigh"' in unquote(silence)
    assert "Runbook" not in links  # a javascript: runbook_url is shown as text, not linked
    assert links["JSON"].endswith(f"/api/v1/incidents/{incident_id}")


def test_hostile_labels_and_annotations_render_inert(browser: Any, receiver: Any) -> None:
    proc, incident_id = receiver
    for path in ("/ui/?q=orders", f"/ui/incidents/{incident_id}"):
        _open(browser, proc.url + path)
        assert browser.execute_script("return window.__pwned === undefined")
        assert browser.execute_script("return document.querySelectorAll('main img, main script').length") == 0
        hrefs = [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "a")]
        assert not [h for h in hrefs if h.lower().startswith("javascript")]
    page = browser.find_element("tag name", "main").text
    assert "<script>window.__pwned = 1</script>" in page  # shown as text


def test_the_ondemand_form_redirects_to_its_result_and_rediagnosis_keeps_history(
    browser: Any, receiver: Any, scenario: Scenario
) -> None:
    proc, incident_id = receiver
    _open(browser, f"{proc.url}/ui/diagnose")
    window = {"start": str(int(scenario.effect_at - 1800)), "end": str(int(scenario.effect_at + 120))}
    _fill(browser, expr='demo_order_error_ratio{service="orders"}', **window)
    _submit(browser)
    result_url = browser.current_url  # the result's own GET URL, not the form's
    assert re.fullmatch(rf"{re.escape(proc.url)}/ui/diagnoses/[\w-]+", result_url), result_url
    result = browser.find_element("tag name", "main").text
    assert "On-demand diagnosis" in result and "Most likely cause" in result
    assert browser.find_elements("css selector", "figure.chart .plot[data-points]")
    before = _answers(proc)
    browser.refresh()  # a GET of the result: no form to send again, no second diagnosis
    assert browser.current_url == result_url
    assert "Most likely cause" in browser.find_element("tag name", "main").text
    after = _answers(proc)
    assert after["/ui/diagnose"] == before["/ui/diagnose"], (before, after)
    assert after["/ui/diagnoses/{result_id}"] == before["/ui/diagnoses/{result_id}"] + 1
    _open(browser, f"{proc.url}/ui/diagnose?incident_id={incident_id}")
    _submit(browser)
    assert browser.current_url.endswith(f"/ui/incidents/{incident_id}")
    assert "Earlier diagnoses" in browser.find_element("tag name", "main").text
    assert console_errors(browser) == []


def test_the_backtest_form_lists_what_a_rule_would_have_opened_and_charts_it(
    browser: Any, receiver: Any, scenario: Scenario
) -> None:
    proc, _ = receiver
    _open(browser, f"{proc.url}/ui/backtest")
    span = {"from": str(int(scenario.cause_at - 3600)), "to": str(int(scenario.end)), "interval": "5m"}
    _fill(browser, query="demo_db_pool_in_use", **span)
    _submit(browser)

    assert browser.find_element("css selector", ".backtest-result h2").text == "1 incident would have opened"
    [row] = browser.find_elements("css selector", "table.findings tbody tr")
    starts = calendar.timegm(time.strptime(row.find_element("css selector", "td").text, "%Y-%m-%dT%H:%M:%SZ"))
    assert abs(starts - scenario.cause_at) <= 300  # the pool saturating, not noise
    assert 'service="postgres"' in row.text
    plot = browser.find_element("css selector", "figure.chart .plot[data-points]")
    assert int(plot.get_attribute("data-points")) > 100
    assert console_errors(browser) == []


def test_a_page_on_another_site_cannot_add_a_rule_with_the_browsers_credentials(receiver: Any) -> None:
    """CSRF: the browser holds the credentials (sent with every request, as a cached Basic login is); a
    page on another site auto-submits a text/plain form that reads as a rule's JSON."""
    proc, _ = receiver
    page = f"""<form method="post" action="{proc.url}/api/v1/rules" enctype="text/plain">
      <input name='{{"name": "csrf", "query": "up&gt;' value='0"}}'></form>
      <script>document.forms[0].submit()</script>""".encode()

    answer = visit_from_another_site(page, lambda driver: "/api/v1/rules" in driver.current_url, AUTH)
    assert "cross-origin request refused" in answer, answer
    assert "csrf" not in {r["name"] for r in _call(f"{proc.url}/api/v1/rules")["data"]}


def test_a_name_that_resolves_to_loopback_does_not_open_the_workbench(receiver: Any) -> None:
    """DNS rebinding: a site's name made to resolve to 127.0.0.1 would read the workbench as its own
    origin; a receiver listening on loopback answers browsers only under loopback names."""
    proc, _ = receiver
    rebound = ("--host-resolver-rules=MAP evil.test 127.0.0.1",)
    with chromium(auth=AUTH, flags=rebound) as driver:
        driver.get(f"http://evil.test:{proc.port}/ui/")
        refused = driver.find_element("tag name", "body").text
        driver.get(f"http://localhost:{proc.port}/ui/")
        opened = driver.find_element("tag name", "body").text
    assert "DNS rebinding" in refused and "Incidents" not in refused, refused
    assert "OrderErrorsHigh" in opened


def test_a_backtested_rule_is_saved_from_the_page_and_changed_there_again(
    browser: Any, receiver: Any
) -> None:
    from selenium.webdriver.support.ui import Select

    proc, _ = receiver
    save = "button[value=save]"
    _open(browser, f"{proc.url}/ui/backtest")
    _fill(browser, name="pool_saturation", query="demo_db_pool_in_use", min_change="0.5")
    _fill(browser, severity="critical", labels="team=trading, desk=fx-spot")
    Select(browser.find_element("name", "anomaly_type")).select_by_value("RESOURCE_SATURATION")
    _submit(browser, save)
    assert "Rule pool_saturation added" in browser.find_element("css selector", "p.saved").text

    _open(browser, f"{proc.url}/ui/backtest?rule=pool_saturation")  # the form comes back filled
    assert browser.find_element("name", "query").get_attribute("value") == "demo_db_pool_in_use"
    _fill(browser, threshold="4")
    _submit(browser, save)
    assert "Rule pool_saturation replaced" in browser.find_element("css selector", "p.saved").text

    [rule] = [r for r in _call(f"{proc.url}/api/v1/rules")["data"] if r["name"] == "pool_saturation"]
    assert (rule["query"], rule["min_change"], rule["threshold"], rule["source"]) == (
        "demo_db_pool_in_use",
        0.5,
        4.0,
        "api",
    )
    # routing set on the page, kept through the second save
    assert (rule["severity"], rule["anomaly_type"], rule["labels"]) == (
        "critical",
        "RESOURCE_SATURATION",
        {"team": "trading", "desk": "fx-spot"},
    )
    assert console_errors(browser) == []
    _fill(browser, name="")
    _submit(browser, save)  # a 400 page
    assert "give the rule a name" in browser.find_element("css selector", "p.error").text
    assert all(
        "status of 400" in e for e in console_errors(browser)
    )  # the page's own answer, no script error


def test_an_api_rule_is_deleted_from_the_overview_after_a_confirmation(browser: Any, receiver: Any) -> None:
    proc, _ = receiver
    rule = json.dumps({"name": "to_delete", "query": "demo_db_pool_in_use"}).encode()
    _call(f"{proc.url}/api/v1/rules", rule)
    button = 'form[action="/ui/rules/to_delete/delete"] button'

    _open(browser, f"{proc.url}/ui/overview")
    browser.find_element("css selector", button).click()
    browser.switch_to.alert.dismiss()  # asked, and said no
    assert "to_delete" in {r["name"] for r in _call(f"{proc.url}/api/v1/rules")["data"]}

    _submit(browser, button, confirm=True)

    assert "Rule to_delete deleted" in browser.find_element("css selector", "#rules p.saved").text
    assert "to_delete" not in {r["name"] for r in _call(f"{proc.url}/api/v1/rules")["data"]}
    assert console_errors(browser) == []


def test_overview_shows_usage_per_backend(browser: Any, receiver: Any) -> None:
    proc, _ = receiver
    _open(browser, f"{proc.url}/ui/overview")
    text = browser.find_element("tag name", "main").text
    assert "builtin" in text and "Time to diagnosis" in text
    assert console_errors(browser) == []


def test_pages_carry_a_strict_content_security_policy(receiver: Any) -> None:
    proc, _ = receiver
    request = urllib.request.Request(f"{proc.url}/ui/overview", headers=BASIC)
    with urllib.request.urlopen(request, timeout=10) as answer:
        csp = answer.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp


def test_the_incident_page_shows_what_collecting_the_evidence_noted(
    browser: Any, receiver: Any, prometheus: ManagedProcess, scenario: Scenario, tmp_path: Any
) -> None:
    proc, _ = receiver
    body = json.loads(_notification(prometheus.url, "NoSuchSeries", "warning", scenario.effect_at, {}))
    body["alerts"][0]["generatorURL"] = f"{prometheus.url}/graph?g0.expr=no_such_metric_total%20%3E%201"
    incident_id = _call(f"{proc.url}/webhook/alertmanager", json.dumps(body).encode())["incidents"][0]
    deadline = time.monotonic() + 30
    while not _diagnosed(f"{proc.url}/api/v1/incidents/{incident_id}"):
        assert time.monotonic() < deadline, proc.log()[-3000:]
        time.sleep(0.3)
    expected = _call(f"{proc.url}/api/v1/incidents/{incident_id}")["evidence"]["notes"]
    assert any("returned no data" in n for n in expected), expected

    _open(browser, f"{proc.url}/ui/incidents/{incident_id}")
    shown = [li.text for li in browser.find_elements("css selector", "ul.evidence-notes li")]

    assert shown == expected
    assert console_errors(browser) == []
    browser.execute_script("document.querySelector('ul.evidence-notes').closest('section').scrollIntoView()")
    browser.save_screenshot(str(tmp_path / "evidence-notes.png"))


def test_a_refired_alert_links_both_occurrences_and_shows_its_reused_analysis(
    browser: Any, tmp_path: Any, prometheus: ManagedProcess, scenario: Scenario
) -> None:
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.wait import WebDriverWait

    config = {
        "prometheus": {"url": prometheus.url, "retries": 0},
        "webhook": {"basic_auth": {"username": AUTH[0], "password": AUTH[1]}},
        "detection": {"enabled": False},
    }
    proc = start_receiver(tmp_path / "receiver", config)
    try:
        hook, starts = f"{proc.url}/webhook/alertmanager", scenario.effect_at + 60
        ids = []
        for again in (0, 120):  # the same alert, firing again two minutes later
            notification = _notification(prometheus.url, "OrderErrorsHigh", "critical", starts + again, {})
            ids.append(_call(hook, notification)["incidents"][0])
            deadline = time.monotonic() + 30
            while not _diagnosed(f"{proc.url}/api/v1/incidents/{ids[-1]}"):
                assert time.monotonic() < deadline, proc.log()[-3000:]
                time.sleep(0.3)
        old, new = ids
        _open(browser, f"{proc.url}/ui/incidents/{old}")
        link = browser.find_element("link text", new)
        assert "ended when the alert fired again" in browser.find_element("css selector", "main p.muted").text
        link.click()
        WebDriverWait(browser, 10, ignored_exceptions=(WebDriverException,)).until(
            lambda b: new in b.current_url and b.execute_script("return document.readyState") == "complete"
        )
        header = browser.find_element("css selector", "main p.muted").text
        assert f"analysis reused from {old}" in header
        assert browser.find_elements("css selector", "figure.chart")  # the referenced evidence is charted
        stages = browser.find_element("xpath", "//summary[text()='Pipeline stages']/..").get_attribute(
            "textContent"
        )
        assert stages.count("reused") >= 3
        notes = browser.find_element("css selector", "ul.diagnosis-notes").text
        assert f"reused the analysis of {old}" in notes
        assert console_errors(browser) == []
        browser.save_screenshot(str(tmp_path / "refired.png"))
    finally:
        proc.terminate()


@pytest.mark.parametrize(
    ("values", "step", "labels"),
    [
        ([2.130e9, 2.135e9, 2.140e9], 5e6, ["2.130G", "2.135G", "2.140G"]),  # memory moving by megabytes
        ([100_010_000, 100_030_000], 20_000, ["100.01M", "100.03M"]),  # a large counter
        ([15_000, 15_100], 100, ["15.0k", "15.1k"]),
        ([0.25, 0.5], 0.25, ["0.25", "0.5"]),
        ([2e9, 4e9], 2e9, ["2G", "4G"]),
        # small and huge magnitudes: every tick of a rate near 1e-4 read "0.0001", 6e10 read "60000000000G"
        ([0.00009, 0.000095, 0.0001, 0.000105], 0.000005, ["0.00009", "0.000095", "0.0001", "0.000105"]),
        ([2.5e-7, 3e-7, 3.5e-7], 5e-8, ["2.5e-7", "3e-7", "3.5e-7"]),  # finer than 1e-6: exponent form
        ([6e10, 7e10], 1e10, ["60G", "70G"]),
        ([1.5e13, 2e13], 5e12, ["15T", "20T"]),
        ([6e19, 6.5e19], 5e18, ["6e19", "6.5e19"]),
        ([0.00009512, 1.23456e-7, 6e19, 2.13456e9], 0, ["0.00009512", "1.23456e-7", "6e19", "2.1346G"]),
    ],
)
def test_axis_ticks_keep_the_decimals_that_tell_them_apart(
    browser: Any, receiver: Any, values: list[float], step: float, labels: list[str]
) -> None:
    proc, _ = receiver
    if not browser.current_url.startswith(proc.url):
        _open(browser, f"{proc.url}/ui/overview")
    shown = browser.execute_script(
        "var step = arguments[1];"
        " return arguments[0].map(function (v) { return window.alertAnalyst.compact(v, step); })",
        values,
        step,
    )
    assert shown == labels


def test_an_unknown_incident_is_a_page_of_the_workbench_with_its_way_back(
    browser: Any, receiver: Any, tmp_path: Any
) -> None:
    proc, _ = receiver
    _open(browser, f"{proc.url}/ui/incidents/inc-0000000000000000")
    heading = browser.find_element("css selector", "main h1").text
    assert heading == "No such incident", heading
    back = browser.find_element("link text", "All incidents")
    assert [e for e in console_errors(browser) if "404" not in e] == []
    browser.save_screenshot(str(tmp_path / "unknown-incident.png"))
    back.click()
    assert urlsplit(browser.current_url).path == "/ui/" and _rows(browser)  # the list, with its incidents
