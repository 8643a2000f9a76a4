"""A 200 means committed: kill -9 right after it, restart, and the incident is there and gets processed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from demo.processes import start_receiver

FIRING = "captured-am025-prom242-firing.json"


def post(url: str, data: bytes) -> dict[str, Any]:
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.status == 200
        return dict(json.loads(resp.read()))


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def stage_of(url: str, incident_id: str) -> str:
    """The incident's pipeline stage, or "pending" while its notification is not yet materialised."""
    try:
        return str(get(f"{url}/api/v1/incidents/{incident_id}")["incident"]["stage"])
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return "pending"
        raise


def test_incident_survives_kill_9_and_is_processed_after_restart(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    # The kill lands right after the 200: the notification must be on disk, and whatever the pipeline
    # had not finished must be picked up after the restart.
    config = {"pipeline": {"workers": 1}, "detection": {"enabled": False}}
    first = start_receiver(tmp_path, config)
    answer = post(f"{first.url}/webhook/alertmanager", (webhook_corpus / FIRING).read_bytes())
    first.kill9()
    assert len(answer["incidents"]) == 2

    second = start_receiver(tmp_path, config, port=first.port)
    try:
        deadline = time.monotonic() + 20
        stages: dict[str, str] = {}
        while time.monotonic() < deadline:
            stages = {i: stage_of(second.url, i) for i in answer["incidents"]}
            if set(stages.values()) == {"done"}:
                break
            time.sleep(0.2)
        assert set(stages.values()) == {"done"}, stages
        detail = get(f"{second.url}/api/v1/incidents/{answer['incidents'][0]}")
        assert [s["stage"] for s in detail["stages"]][-1] == "deliver"
    finally:
        assert second.terminate() == 0
