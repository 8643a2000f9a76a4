"""The demo's write-back is visible without accounts: the real receiver, configured as the demo configures
it, posts to the local Slack and Grafana stand-ins, whose page shows it (escaped and labelled a stand-in);
the printed Prometheus and Alertmanager links are ones that answer."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from demo.configs import receiver_config
from demo.processes import free_port, start_alertmanager, start_prometheus, start_receiver
from demo.report import alertmanager_link, prometheus_links
from demo.standins import StandIns, slack_html
from tests.support.polling import eventually

WEBHOOKS = Path(__file__).resolve().parents[1] / "data" / "webhooks"


@pytest.fixture
def standins() -> Iterator[StandIns]:
    running = StandIns(free_port())
    running.start()
    yield running
    running.stop()


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        return answer.status, answer.read().decode()


async def test_the_receiver_posts_to_the_standins_and_their_page_shows_it(
    tmp_path: Path, standins: StandIns
) -> None:
    config = receiver_config(
        free_port(), f"http://127.0.0.1:{free_port()}", tmp_path, "t0ken", standins_url=standins.url
    )
    del config["web"]
    config["prometheus"].update({"retries": 0, "timeout_seconds": 1})
    receiver = start_receiver(tmp_path, config)
    try:
        payload = json.loads((WEBHOOKS / "captured-am025-prom242-firing.json").read_text())
        payload["alerts"][0]["labels"]["desk"] = "<script>alert(1)</script>"
        request = urllib.request.Request(
            f"{receiver.url}/webhook/alertmanager",
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Authorization": "Bearer t0ken"},
        )
        assert await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).status) == 200
        await eventually(lambda: bool(standins.posted.messages and standins.posted.annotations), within=30)
    finally:
        receiver.terminate()
    status, page = fetch(f"{standins.url}/")
    assert status == 200
    assert "not Slack or Grafana" in page
    assert "PnLDrawdownHigh" in page and "FIRING" in page
    assert "alert(1)" in page and "<script>alert(1)</script>" not in page
    assert "&amp;lt;" not in page  # Slack's own escaping is decoded once, not shown
    assert "{'type'" not in page and "[✅ Correct]" in page  # the feedback buttons, by their labels
    assert '<a href="http://127.0.0.1:' in page and "|Open in alert-analyst" not in page  # a link
    assert yaml.safe_load(receiver.config_path.read_text())["slack"]["api_url"].startswith(standins.url)


def test_slack_mrkdwn_shows_as_slack_shows_it() -> None:
    text = (
        "*Started:* <!date^1796426942^{date_short_pretty}|2026-12-04 23:29:02 UTC> <!here>\n"
        "p&lt;1e-16 &amp; <https://ui.example/i?a=1&amp;b=2|Open> <script>x</script>"
    )
    shown = slack_html(text)
    assert shown.startswith("*Started:* 2026-12-04 23:29:02 UTC @here\n")
    assert "p&lt;1e-16 &amp; " in shown  # p<1e-16 & , escaped once for the page
    assert '<a href="https://ui.example/i?a=1&amp;b=2">Open</a>' in shown
    assert "<script>" not in shown


def test_prometheus_links_point_at_pages_that_answer(tmp_path: Path) -> None:
    prometheus = start_prometheus(tmp_path, "global: {scrape_interval: 15s}\n")
    try:
        links = prometheus_links(prometheus.url)
        assert fetch(links.alerts)[0] == 200
        assert fetch(links.graph)[0] == 200
    finally:
        prometheus.stop()


def test_the_alertmanager_link_answers(tmp_path: Path) -> None:
    config = "route: {receiver: x}\nreceivers: [{name: x}]\n"
    alertmanager = start_alertmanager(tmp_path, config)
    try:
        link = alertmanager_link(alertmanager.url)
        status, body = fetch(link.split()[0])
        assert status == 200
        if "/api/v2/alerts" in link:  # Debian's package: a placeholder page instead of the UI
            assert "amtool" in link and isinstance(json.loads(body), list)
    finally:
        alertmanager.stop()
