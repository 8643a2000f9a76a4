"""The workbench in headless Chromium as a user meets it: numbers on the axes, times in UTC, long strings and
a phone's narrow screen, charts that follow the window, a double-clicked button.

Against `alert-analyst serve` and a real, backfilled Prometheus, as test_workbench_browser.py (whose helpers
these reuse).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from demo.processes import ManagedProcess, ReceiverProcess, start_receiver
from tests.evidence.scenario import Scenario
from tests.support.browser import browser_available, chromium, console_errors

from .test_workbench_browser import AUTH, _call, _config, _diagnosed, _fill, _notification, _open, _submit

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs chromium, chromium-driver and selenium"),
]
LONG = {  # one unbroken string in each place a user's alert can put one
    "summary": "S" * 500,
    "description": "D" * 800,
    "other": "O" * 700,
    "path": "/" + "x" * 400,
}
PHONE = 375


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, prometheus: ManagedProcess, scenario: Scenario
) -> Iterator[tuple[ReceiverProcess, dict[str, str]]]:
    """A receiver with two diagnosed incidents: `charted`, of the scenario's alert, and `long`, whose
    summary, description, another annotation and a label are each one unbroken string."""
    proc = start_receiver(tmp_path_factory.mktemp("receiver"), _config(prometheus))
    try:
        hook, starts = f"{proc.url}/webhook/alertmanager", scenario.effect_at + 60
        charted = _call(hook, _notification(prometheus.url, "OrderErrorsHigh", "critical", starts, {}))
        body = json.loads(_notification(prometheus.url, "LongStrings", "warning", starts, {}))
        alert = body["alerts"][0]
        alert["annotations"].update({k: LONG[k] for k in ("summary", "description", "other")})
        alert["labels"]["path"] = LONG["path"]
        alert["fingerprint"] = "0123456789abcdef"
        long = _call(hook, json.dumps(body).encode())
        ids = {"charted": charted["incidents"][0], "long": long["incidents"][0]}
        deadline = time.monotonic() + 30
        while not all(_diagnosed(f"{proc.url}/api/v1/incidents/{i}") for i in ids.values()):
            assert time.monotonic() < deadline, proc.log()[-3000:]
            time.sleep(0.3)
        yield proc, ids
    finally:
        proc.terminate()


def _charts_drawn(driver: Any) -> list[Any]:
    """Wait until every chart on the page is drawn (or said why not); the drawn ones' uPlot objects."""
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script(
            "return Array.from(document.querySelectorAll('figure.chart .plot')).every(function (p) {"
            " return p.hasAttribute('data-points') || p.querySelector('.fail'); })"
        )
    )
    return list(driver.find_elements("css selector", "figure.chart .plot[data-points]"))


def _phone(driver: Any) -> None:
    """A phone's viewport (a desktop window is at least 500 px wide)."""
    metrics = {"width": PHONE, "height": 800, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    driver.get("about:blank")
    assert driver.execute_script("return window.innerWidth") == PHONE


def _overflow(driver: Any) -> dict[str, int]:
    return dict(
        driver.execute_script(
            "return {scroll: document.documentElement.scrollWidth, inner: window.innerWidth}"
        )
    )


def test_a_chart_of_a_small_rate_has_ticks_that_differ(browser: Any, served: Any, scenario: Scenario) -> None:
    # a funding rate: around 0.0001, moving by millionths (the order error ratio, 1% .. 25%, scaled down)
    proc, _ = served
    _open(browser, f"{proc.url}/ui/diagnose")
    window = {"start": str(int(scenario.effect_at - 1800)), "end": str(int(scenario.effect_at + 120))}
    _fill(browser, expr='0.0001 + demo_order_error_ratio{service="orders"} / 10000', **window)
    _submit(browser)
    assert _charts_drawn(browser)
    ticks = browser.execute_script("return document.querySelector('figure.chart').uplot.axes[1]._values")
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    assert console_errors(browser) == []


def test_chart_times_are_utc_as_the_captions_say(
    served: Any, scenario: Scenario, monkeypatch: pytest.MonkeyPatch
) -> None:
    proc, ids = served
    monkeypatch.setenv("TZ", "America/New_York")  # the browser's (chromedriver passes it on)
    with chromium(auth=AUTH) as driver:
        assert driver.execute_script("return Intl.DateTimeFormat().resolvedOptions().timeZone") == (
            "America/New_York"
        )
        _open(driver, f"{proc.url}/ui/incidents/{ids['charted']}")
        assert _charts_drawn(driver)
        axis = driver.execute_script(
            "var u = document.querySelector('figure.chart').uplot;"
            " return {splits: u.axes[0]._splits, values: u.axes[0]._values}"
        )
        caption = driver.find_element("css selector", "figure.chart figcaption .marks").text
    labels = [v.split("\n")[0] for v in axis["values"]]
    assert labels == [time.strftime("%H:%M", time.gmtime(t)) for t in axis["splits"]], axis
    assert axis["values"][0].endswith("UTC")  # the first tick says the date, in UTC
    starts = scenario.effect_at + 60  # the notification's startsAt
    assert f"alert start {time.strftime('%H:%M:%S', time.gmtime(starts))}" in caption
    assert caption.endswith("UTC"), caption


def test_one_long_string_does_not_widen_the_pages(browser: Any, served: Any) -> None:
    proc, ids = served
    for path in ("/ui/", f"/ui/incidents/{ids['long']}"):
        _open(browser, proc.url + path)
        assert LONG["summary"] in browser.find_element("tag name", "main").text.replace("\n", "")
        size = _overflow(browser)
        assert size["scroll"] <= size["inner"], (path, size)


def test_pages_fit_a_phone_screen(served: Any) -> None:
    proc, ids = served
    with chromium(auth=AUTH) as driver:
        _phone(driver)
        for path in (
            "/ui/?alertname=OrderErrorsHigh",  # not the long strings' incident (tested above)
            f"/ui/incidents/{ids['charted']}",
            "/ui/backtest",
            "/ui/overview",
            "/ui/diagnose",
            "/ui/problems",
        ):
            _open(driver, proc.url + path)
            if "incidents/" in path:
                assert _charts_drawn(driver)
            if path == "/ui/problems":  # both incidents' groups, the long strings' one included
                assert len(driver.find_elements("css selector", "main tbody tr")) == len(ids)
            size = _overflow(driver)
            assert size["scroll"] <= size["inner"], (path, size)
        assert console_errors(driver) == []


@pytest.mark.parametrize("width", [1280, 1024, PHONE])
def test_evidence_links_never_break_inside_a_word(served: Any, width: int) -> None:
    """The evidence table's last column is the one squeezed: its "graph" link read "grap / h"."""
    proc, ids = served
    with chromium(auth=AUTH, width=width) as driver:
        if width == PHONE:
            _phone(driver)
        _open(driver, f"{proc.url}/ui/incidents/{ids['charted']}")
        links = [
            a for a in driver.find_elements("css selector", "main td a") if a.text in ("graph", "explore")
        ]
        lines = [driver.execute_script("return arguments[0].getClientRects().length", a) for a in links]
        assert links and lines == [1] * len(links), lines


def test_charts_follow_the_window_when_it_narrows(browser: Any, served: Any) -> None:
    proc, ids = served
    _open(browser, f"{proc.url}/ui/incidents/{ids['charted']}")
    assert _charts_drawn(browser)
    wide = browser.execute_script("return document.querySelector('figure.chart').uplot.width")
    browser.set_window_size(PHONE + 200, 900)
    try:
        time.sleep(0.5)  # the resize handler waits 100 ms for the window to settle
        narrow = browser.execute_script("return document.querySelector('figure.chart').uplot.width")
        size = _overflow(browser)
    finally:
        browser.set_window_size(1280, 900)
    assert narrow < wide and size["scroll"] <= size["inner"], (wide, narrow, size)


def test_a_double_clicked_backtest_shows_its_result(browser: Any, served: Any, scenario: Scenario) -> None:
    from selenium.webdriver.support.wait import WebDriverWait

    proc, _ = served
    _open(browser, f"{proc.url}/ui/backtest")
    span = {"from": str(int(scenario.cause_at - 3 * 3600)), "to": str(int(scenario.end)), "interval": "15s"}
    _fill(browser, query="demo_db_pool_in_use", **span)
    browser.execute_script("window.__before_submit = true")
    # an impatient user: the second click comes while the first request's backtest runs
    browser.execute_script(
        "var b = document.querySelector('button[value=backtest]'); b.click();"
        " setTimeout(function () { b.click(); }, 300);"
    )
    WebDriverWait(browser, 60).until(
        lambda d: d.execute_script(
            "return window.__before_submit === undefined && document.readyState === 'complete'"
        )
    )
    main = browser.find_element("tag name", "main").text
    assert "running already" not in main
    assert browser.find_elements("css selector", ".backtest-result h2"), main


def test_a_posting_form_is_sent_once(browser: Any, served: Any) -> None:
    proc, _ = served
    _open(browser, f"{proc.url}/ui/diagnose")
    sent = browser.execute_script(
        """var form = document.querySelector('form.diagnose'), sent = 0;
           form.addEventListener('submit', function (e) {  // after the page's own listener: count, stay here
             if (!e.defaultPrevented) { sent += 1; e.preventDefault(); } });
           form.requestSubmit(); form.requestSubmit();
           return sent;"""
    )
    time.sleep(0.1)
    assert sent == 1
    assert browser.find_element("css selector", "form.diagnose button").get_attribute("disabled")
