"""The webhook's rejection codes are on /metrics at 0 from the start, so the first rejection is an increase
that `AlertAnalystWebhookRejected` sees (a series born at 1 reads as no increase)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from receiver.config import load_settings
from receiver.metrics import WEBHOOK_REJECTION_CODES
from receiver.web.app import build_app
from receiver.web.resources import PipelineParts


async def no_components(app: Any, settings: Any, store: Any) -> PipelineParts:
    return PipelineParts()


async def client_with_token(aiohttp_client: Any, tmp_path: Path) -> TestClient[Any, Any]:
    overrides = {
        "storage": {"path": str(tmp_path / "aa.db")},
        "detection": {"enabled": False},
        "webhook": {"bearer_token": "s3cret", "max_body_bytes": 1024},
    }
    settings = load_settings(None, environ={}, overrides=overrides)
    client: TestClient[Any, Any] = await aiohttp_client(build_app(settings, no_components))
    return client


async def webhook_counts(client: TestClient[Any, Any]) -> dict[str, float]:
    text = await (await client.get("/metrics")).text()
    [family] = [f for f in text_string_to_metric_families(text) if f.name == "alert_analyst_webhook_requests"]
    return {s.labels["code"]: s.value for s in family.samples if s.name.endswith("_total")}


async def test_every_rejection_code_is_exported_at_zero_before_any_webhook(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_with_token(aiohttp_client, tmp_path)

    assert await webhook_counts(client) == dict.fromkeys(WEBHOOK_REJECTION_CODES, 0.0)


async def test_a_wrong_token_and_an_oversized_body_count_from_zero(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await client_with_token(aiohttp_client, tmp_path)
    json = {"Content-Type": "application/json"}
    wrong = await client.post(
        "/webhook/alertmanager", data=b"{}", headers={**json, "Authorization": "Bearer x"}
    )
    big = await client.post(
        "/webhook/alertmanager", data=b" " * 2048, headers={**json, "Authorization": "Bearer s3cret"}
    )

    counts = await webhook_counts(client)

    assert (wrong.status, big.status) == (401, 413)
    assert counts == {**dict.fromkeys(WEBHOOK_REJECTION_CODES, 0.0), "401": 1.0, "413": 1.0}
