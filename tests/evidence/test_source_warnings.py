"""The `warnings` of a successful answer (Thanos' partial response) become evidence notes: the evidence
says it may be incomplete, each warning once."""

from __future__ import annotations

import pytest
from aiohttp import web

from receiver.evidence.context import fetch_alert_context
from receiver.evidence.settings import ContextSettings
from receiver.evidence.source import MetricSourceError, warning_notes
from tests.evidence.alerts import firing_incident, source_at

PARTIAL = "partial response: store 10.0.0.3:10901 unavailable"
LABELS = {"alertname": "OrdersSlow", "service": "orders", "namespace": "shop"}


def thanos_with_a_store_down() -> web.Application:
    async def query_range(request: web.Request) -> web.Response:
        start, end = float(request.query["start"]), float(request.query["end"])
        values = [[start, "1"], [end, "2"]]
        result = [{"metric": {"__name__": "latency", "service": "orders"}, "values": values}]
        data = {"resultType": "matrix", "result": result}
        return web.json_response({"status": "success", "warnings": [PARTIAL], "data": data})

    async def series(request: web.Request) -> web.Response:
        return web.json_response({"status": "success", "warnings": [PARTIAL], "data": []})

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    app.router.add_get("/api/v1/series", series)
    return app


async def test_a_partial_response_is_a_note_once(aiohttp_server) -> None:
    server = await aiohttp_server(thanos_with_a_store_down())
    incident = firing_incident(10_000, LABELS, "latency > 1")
    async with source_at(str(server.make_url("")).rstrip("/")) as source:
        context = await fetch_alert_context(incident, source, ContextSettings(), now=10_600)

    assert context.alert_index == 0
    assert [note for note in context.notes if PARTIAL in note] == [
        f"the metric source warned (the data may be partial): {PARTIAL}"
    ]


def test_warning_notes_are_distinct_and_bounded() -> None:
    warnings = [f"store {i % 8} unavailable" for i in range(40)]

    notes = warning_notes(warnings, limit=5)

    assert len(notes) == 6 and notes[-1] == "the metric source gave 3 more warnings"
    assert notes[0].endswith("store 0 unavailable") and notes[4].endswith("store 4 unavailable")


async def test_a_200_with_an_error_envelope_is_an_error_naming_it(aiohttp_server) -> None:
    async def query_range(request: web.Request) -> web.Response:
        return web.json_response({"status": "error", "errorType": "internal", "error": "store gateway: boom"})

    app = web.Application()
    app.router.add_get("/api/v1/query_range", query_range)
    server = await aiohttp_server(app)
    async with source_at(str(server.make_url("")).rstrip("/")) as source:
        with pytest.raises(MetricSourceError) as caught:
            await source.query_range("up", 100, 130, 15)

    assert "internal: store gateway: boom" in str(caught.value)
