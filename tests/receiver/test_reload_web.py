"""A configuration reload applies `web.trusted_origins` (checked at each request) and `web.external_url`
(the links in messages sent after it) without a restart; `web.listen_address` needs one and keeps its
value."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from receiver.config import load_settings
from receiver.testing import drain, wait_idle
from receiver.web.app import build_app
from receiver.web.keys import DELIVERY, PIPELINE, SETTINGS
from receiver.web.reload import ConfigSource
from tests.delivery.test_resolved_end_to_end import Episode
from tests.receiver.test_reload_pipeline import reload, webhook

AUTH = {"Authorization": "Bearer tok"}
PORTAL = "https://portal.example"
CROSS_SITE = {**AUTH, "Sec-Fetch-Site": "cross-site", "Origin": PORTAL}


def document(tmp_path: Path, hook: str | None = None, **web_settings: Any) -> dict[str, Any]:
    """Prometheus unreachable (a diagnosis says so), detection off, `web` as given, and an outgoing webhook
    to `hook` if given."""
    return {
        "storage": {"path": str(tmp_path / "aa.db")},
        "webhook": {"bearer_token": "tok"},
        "detection": {"enabled": False},
        "prometheus": {"url": "http://127.0.0.1:9", "retries": 0, "timeout_seconds": 1},
        "web": {"listen_address": "127.0.0.1:9099", **web_settings},
        **({"outgoing_webhook": {"url": hook}} if hook else {}),
    }


def start(tmp_path: Path, doc: dict[str, Any]) -> tuple[Path, TestClient[Any, Any]]:
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(doc))
    source = ConfigSource(str(config))
    return config, TestClient(
        TestServer(build_app(load_settings(source.path, environ={}), config_source=source))
    )


async def test_a_trusted_origin_added_by_a_reload_may_post_at_once(tmp_path: Path) -> None:
    config, client = start(tmp_path, document(tmp_path))
    rule = {"name": "pnl_drop", "query": "demo_pnl_usd"}
    async with client:
        assert (await client.post("/api/v1/rules", json=rule, headers=CROSS_SITE)).status == 403

        answer = await reload(client, config, document(tmp_path, trusted_origins=[PORTAL]), AUTH)

        assert answer == {"status": "success", "applied": ["web.trusted_origins"], "needs_restart": []}
        assert (await client.post("/api/v1/rules", json=rule, headers=CROSS_SITE)).status == 201


async def test_a_new_listen_address_needs_a_restart_and_keeps_the_old_one(tmp_path: Path) -> None:
    config, client = start(tmp_path, document(tmp_path))
    async with client:
        changed = document(tmp_path, listen_address="0.0.0.0:9100", external_url="https://alerts.example")

        answer = await reload(client, config, changed, AUTH)

        assert answer == {
            "status": "success",
            "applied": ["web.external_url"],
            "needs_restart": ["web.listen_address"],
        }
        running = client.app[SETTINGS].web
        assert (running.listen_address, running.external_url) == ("127.0.0.1:9099", "https://alerts.example")


async def test_links_in_messages_sent_after_a_reload_use_the_new_external_url(tmp_path: Path) -> None:
    received: list[dict[str, Any]] = []
    episode = Episode()  # its alert, on two instances: two incidents

    async def receive(request: web.Request) -> web.Response:
        received.append(json.loads(await request.read()))
        return web.Response(status=204)

    hook_app = web.Application()
    hook_app.router.add_post("/hook", receive)
    async with TestServer(hook_app) as hook_server:
        hook = str(hook_server.make_url("/hook"))
        config, client = start(tmp_path, document(tmp_path, hook, external_url="https://old.example"))
        async with client:
            for instance, url in (("orders-1:8080", None), ("orders-2:8080", "https://alerts.example/aa")):
                if url:
                    answer = await reload(client, config, document(tmp_path, hook, external_url=url), AUTH)
                    assert answer["applied"] == ["web.external_url"]
                assert (
                    await client.post(
                        "/webhook/alertmanager", json=webhook(episode, "firing", instance), headers=AUTH
                    )
                ).status == 200
                await wait_idle(client.app[PIPELINE])
                await drain(client.app[DELIVERY], 10)

    links = {
        d["incident"]["labels"]["instance"]: d["links"]["ui"] for d in received if d["event"] == "diagnosis"
    }
    assert links["orders-1:8080"].startswith("https://old.example/ui/incidents/")
    assert links["orders-2:8080"].startswith("https://alerts.example/aa/ui/incidents/")
