"""A page on another site cannot make the browser, which holds the workbench's Basic credentials, load the API
or the workbench as a subresource (an image, a script, a fetch): `/ui/series.json` would run the PromQL in
its query string against Prometheus. Following a link to the workbench (a navigation) still works."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from prometheus_client.parser import text_string_to_metric_families

from demo.processes import ManagedProcess, ReceiverProcess, start_receiver
from tests.evidence.scenario import Scenario
from tests.support.browser import WORKBENCH_AUTH, browser_available, visit_from_another_site

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not browser_available(), reason="needs chromium, chromium-driver and selenium"),
]
SERIES = "/ui/series.json"


@pytest.fixture(scope="module")
def receiver(
    tmp_path_factory: pytest.TempPathFactory, prometheus: ManagedProcess
) -> Iterator[ReceiverProcess]:
    config = {
        "prometheus": {"url": prometheus.url, "retries": 0},
        "webhook": {"basic_auth": {"username": WORKBENCH_AUTH[0], "password": WORKBENCH_AUTH[1]}},
        "detection": {"enabled": False},
    }
    proc = start_receiver(tmp_path_factory.mktemp("receiver"), config)
    yield proc
    proc.terminate()


def _answers(proc: ReceiverProcess, route: str) -> dict[str, float]:
    """alert_analyst_http_responses_total of `route`, by code."""
    text = urllib.request.urlopen(f"{proc.url}/metrics", timeout=10).read().decode()
    return {
        sample.labels["code"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "alert_analyst_http_responses"
        for sample in family.samples
        if sample.name.endswith("_total") and sample.labels.get("route") == route
    }


def test_another_site_cannot_run_a_query_through_the_chart_endpoint(
    receiver: ReceiverProcess, scenario: Scenario
) -> None:
    query = urlencode(
        {"query": "up", "start": scenario.effect_at - 600, "end": scenario.effect_at, "match": "{}"}
    )
    page = f'<img id="probe" src="{receiver.url}{SERIES}?{query}">'.encode()
    before = _answers(receiver, SERIES)

    visit_from_another_site(
        page, lambda _: sum(_answers(receiver, SERIES).values()) > sum(before.values()), WORKBENCH_AUTH
    )

    after = _answers(receiver, SERIES)
    assert after.get("200", 0) == before.get("200", 0), after  # the query never ran
    assert after.get("403", 0) == before.get("403", 0) + 1, after


def test_a_link_from_another_site_still_opens_the_workbench(receiver: ReceiverProcess) -> None:
    page = f'<a id="go" href="{receiver.url}/ui/">workbench</a><script>go.click()</script>'.encode()
    seen: list[str] = []

    def opened(driver: Any) -> bool:
        if driver.current_url.startswith(receiver.url):
            seen.append(driver.find_element("tag name", "body").text)
        return bool(seen)

    visit_from_another_site(page, opened, WORKBENCH_AUTH)

    assert seen and "Incidents" in seen[0], seen
