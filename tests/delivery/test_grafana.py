"""Grafana write-back: region annotations in ms with tags, dashboard checks, PATCH on resolve, auth."""

from __future__ import annotations

import asyncio
import base64

from pydantic import SecretStr

from receiver.delivery import GrafanaSettings
from receiver.testing import drain
from tests.delivery.builders import STARTS_AT, make_diagnosis, make_incident, resolved
from tests.delivery.conftest import PUBLIC_URL
from tests.fakes.grafana import FakeGrafana


def _created(fake: FakeGrafana) -> list[dict]:
    return [body for _, _, _, body in fake.requests_to("POST", "/api/annotations")]


async def test_diagnosis_creates_a_region_annotation_in_ms_with_tags_and_link(grafana, make_service):
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test"), org_id=3))
    incident = make_incident(ends_at=STARTS_AT + 120.5)
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)

    [body] = _created(fake)
    assert body["time"] == 1_764_000_000_250
    assert body["timeEnd"] == 1_764_000_120_750
    assert body["tags"] == ["alert-analyst", "PnLDrawdownHigh", "critical", "dependency.database"]
    assert "Connection pool exhausted" in body["text"] and "82%" in body["text"]
    assert "1. Raise the pool size to 50" in body["text"]
    assert f"{PUBLIC_URL}/ui/incidents/inc-1" in body["text"]
    assert "dashboardUID" not in body and "panelId" not in body
    [(_, _, headers, _)] = fake.requests_to("POST", "/api/annotations")
    assert headers["Authorization"] == "Bearer glsa_test"
    assert headers["X-Grafana-Org-Id"] == "3"
    [row] = await service.list_deliveries("inc-1")
    assert (row["destination"], row["kind"], row["status"], row["result"]["id"]) == (
        "grafana",
        "annotation",
        "sent",
        1,
    )


async def test_firing_region_ends_now_and_resolve_patches_time_end(grafana, make_service):
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    incident = make_incident()
    await service.on_diagnosis(incident, make_diagnosis())
    await drain(service, 5)
    assert fake.annotations[1]["timeEnd"] > fake.annotations[1]["time"]

    await service.on_incident_resolved(resolved(incident, after=600), make_diagnosis())
    await drain(service, 5)
    [(_, path, _, body)] = fake.requests_to("PATCH", "/api/annotations/")
    assert path == "/api/annotations/1"
    assert set(body) == {"timeEnd", "text"} and body["timeEnd"] == 1_764_000_600_250
    assert "<br>Follow-up:" in body["text"]  # the firing diagnosis's mitigations are replaced
    assert fake.annotations[1]["timeEnd"] == 1_764_000_600_250


async def test_basic_auth(grafana, make_service):
    fake, url = grafana
    fake.token, fake.basic = None, ("admin", "s3cret")
    service = await make_service(
        grafana=GrafanaSettings(url=url, username="admin", password=SecretStr("s3cret"))
    )
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    expected = "Basic " + base64.b64encode(b"admin:s3cret").decode()
    assert fake.requests[-1][2]["Authorization"] == expected
    assert len(fake.annotations) == 1


async def test_known_dashboard_and_panel_from_alert_annotations(grafana, make_service):
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    annotations = {"summary": "x", "__dashboardUid__": "trading", "__panelId__": "4"}
    await service.on_diagnosis(make_incident(annotations=annotations), make_diagnosis())
    await drain(service, 5)
    [body] = _created(fake)
    assert (body["dashboardUID"], body["panelId"]) == ("trading", 4)
    assert fake.annotations[1]["dashboardUID"] == "trading"


async def test_unknown_dashboard_uid_warns_and_posts_org_wide(grafana, make_service):
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    annotations = {"summary": "x", "grafana_dashboard_uid": "no-such-board", "grafana_panel_id": "2"}
    await service.on_diagnosis(make_incident(annotations=annotations), make_diagnosis())
    await drain(service, 5)
    assert fake.requests_to("GET", "/api/dashboards/uid/no-such-board")
    [body] = _created(fake)
    assert "dashboardUID" not in body and "panelId" not in body
    [row] = await service.list_deliveries("inc-1")
    assert "unknown Grafana dashboard UID 'no-such-board'" in row["result"]["warning"]


async def test_wrong_token_is_a_permanent_failure(grafana, make_service):
    fake, url = grafana
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_wrong")))
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    [row] = await service.list_deliveries("inc-1")
    assert row["status"] == "failed" and row["attempts"] == 1
    assert "HTTP 401" in row["last_error"] and "check grafana.token" in row["last_error"]
    assert fake.annotations == {}


async def test_a_token_that_may_not_read_dashboards_still_annotates_with_the_uid_as_given(
    grafana, make_service
):
    """The check's 403 failed the annotation for good, blaming the annotation permissions."""
    fake, url = grafana
    fake.failures.append((403, {"message": "Access denied to this dashboard"}))  # the dashboard lookup
    service = await make_service(grafana=GrafanaSettings(url=url, token=SecretStr("glsa_test")))
    annotations = {"summary": "x", "grafana_dashboard_uid": "trading", "grafana_panel_id": "2"}
    await service.on_diagnosis(make_incident(annotations=annotations), make_diagnosis())
    await drain(service, 5)
    [body] = _created(fake)
    assert (body["dashboardUID"], body["panelId"]) == ("trading", 2)
    [row] = await service.list_deliveries("inc-1")
    assert row["status"] == "sent" and "dashboards:read" in row["result"]["warning"]
    [annotation] = fake.annotations.values()
    assert annotation["dashboardUID"] == "trading"


async def test_a_create_answered_after_the_timeout_is_found_not_posted_twice(grafana, make_service):
    """Grafana stored the region but answered late: the retry posted it again (four regions in all for
    one diagnosis, and the row still failed). The next attempt now looks for it by its delivery id."""
    fake, url = grafana
    fake.hold_creates = asyncio.Event()
    settings = GrafanaSettings(url=url, token=SecretStr("glsa_test"), timeout_seconds=0.3)
    service = await make_service(grafana=settings)
    await service.on_diagnosis(make_incident(), make_diagnosis())
    await drain(service, 5)
    fake.hold_creates.set()
    [annotation] = fake.annotations.values()
    [row] = await service.list_deliveries("inc-1")
    assert (row["status"], row["attempts"]) == ("sent", 2)
    assert row["result"]["id"] == annotation["id"]
    assert len(_created(fake)) == 1 and fake.requests_to("GET", "/api/annotations?")

    await service.on_incident_resolved(resolved(make_incident()), make_diagnosis())
    await drain(service, 5)
    assert len(fake.annotations) == 1 and fake.requests_to("PATCH", f"/api/annotations/{annotation['id']}")


async def test_a_lookup_the_token_may_not_make_lets_the_create_be_sent_again(grafana):
    """Finding an earlier attempt's region needs annotations:read; without it, post again (a second
    region rather than none) instead of failing the row."""
    import aiohttp

    from receiver.delivery.grafana import CREATE, GrafanaSink
    from receiver.storage.outbox import Delivery

    fake, url = grafana
    fake.failures.append((403, {"message": "You'll need additional permissions: annotations:read"}))
    body = {"time": 1_764_000_000_250, "text": "x", "tags": ["alert-analyst"]}
    delivery = Delivery(7, "inc-1", "g", "grafana", CREATE, {"body": body}, 1, reconcile=True)
    async with aiohttp.ClientSession() as session:
        sink = GrafanaSink(GrafanaSettings(url=url, token=SecretStr("glsa_test")), session)
        assert await sink.recover(delivery) is None
    assert fake.requests_to("GET", "/api/annotations?")
