"""A configuration reload applies the `pipeline` fields read at each use (here `recovery_check`) to the
running pipeline, without a restart, and names the ones sized at start (here `workers`) as needing a
restart, field by field, keeping their old value."""

from __future__ import annotations

import asyncio
import copy
from pathlib import Path
from typing import Any

import yaml
from aiohttp.test_utils import TestClient, TestServer
from structlog.testing import capture_logs

from demo.processes import ManagedProcess
from receiver.config import load_settings
from receiver.testing import wait_idle
from receiver.web.app import build_app
from receiver.web.keys import MATERIALIZER, PIPELINE, SETTINGS
from receiver.web.reload import ConfigSource
from tests.delivery.recovery_app import prometheus
from tests.delivery.test_recovery_fired_again import api_requests_served
from tests.delivery.test_resolved_end_to_end import Episode

__all__ = ["prometheus"]  # the fixture: a Prometheus backfilled with Episode's series


def document(tmp_path: Path, prometheus: ManagedProcess, **pipeline: Any) -> dict[str, Any]:
    return {
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
        "prometheus": {"url": prometheus.url, "retries": 0},
        "pipeline": pipeline,
    }


def webhook(episode: Episode, status: str, instance: str) -> dict[str, Any]:
    """Episode's alert on another instance (another fingerprint): an incident of its own."""
    body = copy.deepcopy(episode.webhook(status))
    [alert] = body["alerts"]
    alert["labels"]["instance"], alert["fingerprint"] = instance, instance
    return body


async def fire(client: TestClient[Any, Any], episode: Episode, instance: str) -> str:
    answer = await client.post("/webhook/alertmanager", json=webhook(episode, "firing", instance))
    assert answer.status == 200, await answer.text()
    [incident_id] = (await answer.json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    return str(incident_id)


async def resolve(
    client: TestClient[Any, Any],
    prometheus: ManagedProcess,
    episode: Episode,
    incident_id: str,
    instance: str,
) -> tuple[dict[str, Any], float]:
    """The resolved incident's detail, and how many queries Prometheus answered for its resolution."""
    served = api_requests_served(prometheus)
    answer = await client.post("/webhook/alertmanager", json=webhook(episode, "resolved", instance))
    assert answer.status == 200, await answer.text()
    await wait_idle(client.app[PIPELINE])
    detail = await (await client.get(f"/api/v1/incidents/{incident_id}")).json()
    assert detail["incident"]["status"] == "resolved", detail["incident"]
    return detail, api_requests_served(prometheus) - served


def recovery_stages(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [s for s in detail["stages"] if s["stage"] == "recovery"]


async def reload(
    client: TestClient[Any, Any],
    config: Path,
    document: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Write `document` and reload (with `headers`: the API's credentials); the answer, with the
    `config_reloaded` log line's fields."""
    config.write_text(yaml.safe_dump(document))
    with capture_logs() as logs:
        answer = await client.post("/-/reload", headers=headers)
    assert answer.status == 200, await answer.text()
    [line] = [entry for entry in logs if entry["event"] == "config_reloaded"]
    body: dict[str, Any] = await answer.json()
    assert [list(line["applied"]), list(line["needs_restart"])] == [body["applied"], body["needs_restart"]]
    return body


def worker_tasks() -> int:
    return sum(task.get_name().startswith("pipeline-worker-") for task in asyncio.all_tasks())


def start(tmp_path: Path, prometheus: ManagedProcess, **pipeline: Any) -> tuple[Path, TestClient[Any, Any]]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(document(tmp_path, prometheus, **pipeline)))
    source = ConfigSource(str(config))
    app = build_app(load_settings(source.path, environ={}), config_source=source)
    return config, TestClient(TestServer(app))


async def test_a_reload_turning_the_recovery_check_off_reaches_the_next_resolution(
    tmp_path: Path, prometheus: ManagedProcess
) -> None:
    episode = Episode()
    config, client = start(tmp_path, prometheus, recovery_check=True)
    async with client:
        checked = await fire(client, episode, "orders-1:8080")
        unchecked = await fire(client, episode, "orders-2")
        detail, queries = await resolve(client, prometheus, episode, checked, "orders-1:8080")
        assert queries > 0 and detail["recovery"] is not None and recovery_stages(detail)

        answer = await reload(client, config, document(tmp_path, prometheus, recovery_check=False))
        assert answer == {"status": "success", "applied": ["pipeline.recovery_check"], "needs_restart": []}

        detail, queries = await resolve(client, prometheus, episode, unchecked, "orders-2")
        assert queries == 0 and detail["recovery"] is None and not recovery_stages(detail)


async def test_a_reload_changing_the_workers_needs_a_restart_and_keeps_them(
    tmp_path: Path, prometheus: ManagedProcess
) -> None:
    config, client = start(tmp_path, prometheus, workers=3)
    async with client:
        assert worker_tasks() == 3
        answer = await reload(client, config, document(tmp_path, prometheus, workers=5))
        assert answer == {"status": "success", "applied": [], "needs_restart": ["pipeline.workers"]}
        assert client.app[SETTINGS].pipeline.workers == 3 and worker_tasks() == 3


async def test_a_reload_changing_both_applies_one_and_names_the_other(
    tmp_path: Path, prometheus: ManagedProcess
) -> None:
    episode = Episode()
    config, client = start(tmp_path, prometheus, workers=3)
    async with client:
        incident_id = await fire(client, episode, "orders-1:8080")
        changed = document(tmp_path, prometheus, workers=5, recovery_check=False, reuse_analysis_seconds=60)
        answer = await reload(client, config, changed)
        assert answer["applied"] == ["pipeline.reuse_analysis_seconds", "pipeline.recovery_check"]
        assert answer["needs_restart"] == ["pipeline.workers"]

        pipeline = client.app[SETTINGS].pipeline
        assert (pipeline.workers, pipeline.recovery_check, pipeline.reuse_analysis_seconds) == (3, False, 60)
        assert worker_tasks() == 3
        detail, queries = await resolve(client, prometheus, episode, incident_id, "orders-1:8080")
        assert queries == 0 and detail["recovery"] is None and not recovery_stages(detail)


async def test_a_reload_shortening_the_stage_timeout_reaches_the_running_workers(
    tmp_path: Path, prometheus: ManagedProcess
) -> None:
    """The workers and the materializer hold the running pipeline settings from their start: the reload
    updates those (a new settings object in `SETTINGS` would not reach them). Checked on the objects they
    read, not by timing a stage out: a 1-ms timeout was beaten by a fast Prometheus answer on a busy box."""
    config, client = start(tmp_path, prometheus)
    async with client:
        held = client.app[PIPELINE].settings, client.app[MATERIALIZER].settings
        answer = await reload(client, config, document(tmp_path, prometheus, stage_timeout_seconds=0.5))
        assert answer["applied"] == ["pipeline.stage_timeout_seconds"] and answer["needs_restart"] == []
        assert client.app[PIPELINE].settings is held[0] and client.app[MATERIALIZER].settings is held[1]
        assert [s.stage_timeout_seconds for s in held] == [0.5, 0.5]
        assert client.app[SETTINGS].pipeline.stage_timeout_seconds == 0.5
