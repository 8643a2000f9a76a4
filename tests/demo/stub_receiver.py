"""A stand-in for `alert-analyst serve` that speaks the slice of its API the demo runner uses.

Run as `python stub_receiver.py --config.file=PATH`: it listens on `web.listen_address`, turns each
webhook alert into an incident and answers every incident with a fixed diagnosis.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import yaml
from aiohttp import web

INCIDENTS = web.AppKey("incidents", dict[str, dict[str, Any]])
TOKEN = web.AppKey("token", str)


def _authorized(request: web.Request) -> bool:
    return request.headers.get("Authorization") == f"Bearer {request.app[TOKEN]}"


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="OK\n")


async def webhook(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.json_response({"error": "unauthorized"}, status=401)
    payload = await request.json()
    for alert in payload["alerts"]:
        incident_id = f"{alert['fingerprint']}-{alert['startsAt']}"
        request.app[INCIDENTS][incident_id] = {
            "id": incident_id,
            "alertname": alert["labels"]["alertname"],
            "status": alert["status"],
            "severity": alert["labels"].get("severity", ""),
            "starts_at": time.time(),
            "stage": "diagnosed",
        }
    return web.json_response({"status": "success"})


async def list_incidents(request: web.Request) -> web.Response:
    if not _authorized(request):
        return web.json_response({"error": "unauthorized"}, status=401)
    return web.json_response({"incidents": list(request.app[INCIDENTS].values())})


async def get_incident(request: web.Request) -> web.Response:
    incident = request.app[INCIDENTS].get(request.match_info["incident_id"])
    if incident is None or not _authorized(request):
        return web.json_response({"error": "not found"}, status=404)
    diagnosis = {
        "primary_hypothesis": {
            "title": "Stub cause",
            "category": "stub",
            "suspect": "demo_volatility",
            "confidence": 0.9,
        },
        "executive_summary": "stub summary",
        "immediate_actions": ["stub action"],
    }
    return web.json_response(
        {"incident": incident, "alerts": [], "stages": [], "evidence": None, "diagnosis": diagnosis}
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config.file", dest="config_file", required=True)
    config = yaml.safe_load(open(parser.parse_args().config_file))  # noqa: SIM115
    host, _, port = config["web"]["listen_address"].rpartition(":")
    app = web.Application()
    app[INCIDENTS] = {}
    app[TOKEN] = config["webhook"]["bearer_token"]
    app.add_routes(
        [
            web.get("/-/ready", ready),
            web.post("/webhook/alertmanager", webhook),
            web.get("/api/v1/incidents", list_incidents),
            web.get("/api/v1/incidents/{incident_id}", get_incident),
        ]
    )
    web.run_app(app, host=host, port=int(port), print=None, access_log=None)


if __name__ == "__main__":
    main()
