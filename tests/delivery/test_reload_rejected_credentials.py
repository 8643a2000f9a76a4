"""A Grafana or Slack token that was refused (401, `invalid_auth`) and is fixed by a configuration reload:
the rows that failed on it are sent again while their alert fires, through the real app and `/-/reload`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from receiver.testing import drain, wait_idle
from receiver.web.keys import DELIVERY, PIPELINE
from tests.delivery.test_resolved_end_to_end import Episode
from tests.fakes.grafana import FakeGrafana
from tests.fakes.slack import FakeSlack
from tests.receiver.test_reload_pipeline import reload
from tests.receiver.test_reload_web import AUTH, document, start


def destinations(tmp_path: Path, grafana_url: str, slack_url: str, token: str) -> dict[str, Any]:
    """Prometheus unreachable (the diagnosis says so), Grafana and Slack's Web API with `token` for both."""
    return {
        **document(tmp_path),
        "grafana": {"url": grafana_url, "token": token},
        "slack": {"token": token, "channel": "#alerts", "api_url": slack_url},
    }


async def notify(client: TestClient[Any, Any], body: dict[str, Any]) -> str:
    answer = await client.post("/webhook/alertmanager", json=body, headers=AUTH)
    assert answer.status == 200, await answer.text()
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    await drain(client.app[DELIVERY], 10)
    return str(incident_id)


async def reload_and_send(
    client: TestClient[Any, Any], config: Path, document: dict[str, Any]
) -> dict[str, Any]:
    """Reload with `document` (`/-/reload`), then send what the outbox queued; the reload's answer."""
    answer = await reload(client, config, document, AUTH)
    await drain(client.app[DELIVERY], 10)
    return answer


async def statuses(client: TestClient[Any, Any], incident_id: str) -> dict[tuple[str, str], str]:
    rows = await client.app[DELIVERY].list_deliveries(incident_id)
    return {(row["destination"], row["kind"]): row["status"] for row in rows}


async def test_a_reload_that_fixes_the_tokens_draws_the_firing_alerts_region_and_thread(
    tmp_path: Path, grafana: tuple[FakeGrafana, str], slack: tuple[FakeSlack, str]
) -> None:
    (fake_grafana, grafana_url), (fake_slack, slack_url) = grafana, slack
    fake_slack.token = fake_grafana.token = "right"
    config, client = start(tmp_path, destinations(tmp_path, grafana_url, slack_url, "wrong"))
    async with client:
        incident_id = await notify(client, Episode().webhook("firing"))
        assert await statuses(client, incident_id) == {
            ("slack", "parent"): "failed",
            ("slack", "diagnosis"): "failed",
            ("grafana", "annotation"): "failed",
        }

        answer = await reload_and_send(
            client, config, destinations(tmp_path, grafana_url, slack_url, "right")
        )

        assert {"grafana", "slack"} <= set(answer["applied"])
        assert set((await statuses(client, incident_id)).values()) == {"sent"}
    [parent] = fake_slack.parents()
    assert len(fake_slack.replies(parent["ts"])) == 1  # the diagnosis, in the thread
    [region] = fake_grafana.annotations.values()
    assert region["data"]["incident_id"] == incident_id


async def test_a_resolved_alerts_refused_region_is_not_sent_again(
    tmp_path: Path, grafana: tuple[FakeGrafana, str], slack: tuple[FakeSlack, str]
) -> None:
    (fake_grafana, grafana_url), (_, slack_url) = grafana, slack
    fake_grafana.token = "right"
    config, client = start(tmp_path, destinations(tmp_path, grafana_url, slack_url, "wrong"))
    episode = Episode()
    async with client:
        incident_id = await notify(client, episode.webhook("firing"))
        await notify(client, episode.webhook("resolved"))  # its region was planned again at resolution

        await reload_and_send(client, config, destinations(tmp_path, grafana_url, slack_url, "right"))

        rows = await client.app[DELIVERY].list_deliveries(incident_id)
    assert [row["status"] for row in rows if row["destination"] == "grafana"] == ["failed", "failed"]
    assert fake_grafana.annotations == {}


def from_files(tmp_path: Path, grafana_url: str, slack_url: str) -> dict[str, Any]:
    """As `destinations`, each token read from its own file."""
    return {
        **document(tmp_path),
        "grafana": {"url": grafana_url, "token_file": str(tmp_path / "grafana.token")},
        "slack": {"token_file": str(tmp_path / "slack.token"), "channel": "#alerts", "api_url": slack_url},
    }


def write_tokens(tmp_path: Path, token: str) -> None:
    for name in ("grafana.token", "slack.token"):
        (tmp_path / name).write_text(f"{token}\n")


async def test_a_token_rotated_inside_its_file_sends_the_refused_rows_again(
    tmp_path: Path, grafana: tuple[FakeGrafana, str], slack: tuple[FakeSlack, str]
) -> None:
    """The same `token_file`, new contents: the destination changed as a new inline token changes it."""
    (fake_grafana, grafana_url), (fake_slack, slack_url) = grafana, slack
    fake_slack.token = fake_grafana.token = "right"
    write_tokens(tmp_path, "wrong")
    config, client = start(tmp_path, from_files(tmp_path, grafana_url, slack_url))
    async with client:
        incident_id = await notify(client, Episode().webhook("firing"))
        assert set((await statuses(client, incident_id)).values()) == {"failed"}

        write_tokens(tmp_path, "right")
        answer = await reload_and_send(client, config, from_files(tmp_path, grafana_url, slack_url))

        assert {"grafana", "slack"} <= set(answer["applied"])
        assert set((await statuses(client, incident_id)).values()) == {"sent"}
    [parent] = fake_slack.parents()
    assert len(fake_slack.replies(parent["ts"])) == 1
    [region] = fake_grafana.annotations.values()
    assert region["data"]["incident_id"] == incident_id


async def test_a_reload_with_the_token_files_unchanged_changes_no_destination(
    tmp_path: Path, grafana: tuple[FakeGrafana, str], slack: tuple[FakeSlack, str]
) -> None:
    (fake_grafana, grafana_url), (fake_slack, slack_url) = grafana, slack
    fake_slack.token = fake_grafana.token = "right"
    write_tokens(tmp_path, "wrong")
    config, client = start(tmp_path, from_files(tmp_path, grafana_url, slack_url))
    async with client:
        incident_id = await notify(client, Episode().webhook("firing"))

        answer = await reload_and_send(client, config, from_files(tmp_path, grafana_url, slack_url))

        assert answer["applied"] == []
        assert set((await statuses(client, incident_id)).values()) == {"failed"}
    assert fake_slack.parents() == [] and fake_grafana.annotations == {}
