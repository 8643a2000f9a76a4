"""GET /api/v1/incidents pages by cursor: a walk sees every incident once while new ones arrive and others
resolve between pages (walking by offset repeated rows, or skipped them)."""

from __future__ import annotations

import base64
import json
from typing import Any

from receiver.testing import drain
from receiver.web.keys import MATERIALIZER

from .conftest import ClientFactory


def storm(group: str, count: int, status: str = "firing", hosts: list[str] | None = None) -> dict[str, Any]:
    """One notification of `count` alerts of group `group` (or of the `hosts` named)."""
    alerts = [
        {
            "status": status,
            "labels": {"alertname": f"Page{group}", "instance": host},
            "annotations": {},
            "startsAt": "2026-12-01T10:00:00Z",
            "endsAt": "2026-12-01T10:30:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
            "generatorURL": "",
        }
        for host in hosts or [f"host-{n:03d}" for n in range(count)]
    ]
    return {
        "version": "4",
        "status": status,
        "receiver": "alert-analyst",
        "groupKey": f"{{}}:{{group={group!r}}}",
        "groupLabels": {},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "",
        "alerts": alerts,
    }


async def send(client: Any, payload: dict[str, Any]) -> None:
    assert (await client.post("/webhook/alertmanager", json=payload)).status == 200
    await drain(client.app[MATERIALIZER], 10)


async def walk(client: Any, query: str, between: Any = None) -> list[str]:
    """Every page of `query` by cursor; `between(n)` runs after page n."""
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        answer = await client.get(f"/api/v1/incidents?{query}" + (f"&cursor={cursor}" if cursor else ""))
        assert answer.status == 200, await answer.text()
        page = await answer.json()
        seen += [i["id"] for i in page["incidents"]]
        cursor = page["next_cursor"]
        pages += 1
        if cursor is None:
            return seen
        if between is not None:
            await between(pages)


async def test_a_cursor_walk_sees_each_incident_once_while_new_ones_arrive(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    for n in range(4):  # four notifications: first_seen differs between them, not within
        await send(client, storm(f"base{n}", 12))
    before = [i["id"] for i in (await (await client.get("/api/v1/incidents?limit=500")).json())["incidents"]]

    async def arrive(page: int) -> None:
        await send(client, storm(f"new{page}", 5))

    seen = await walk(client, "limit=7", arrive)
    assert len(seen) == len(set(seen))  # by offset: every arrival pushed 5 seen rows onto the next page
    assert seen == before  # all of them, newest first, none of those that arrived after the walk began


async def test_a_cursor_walk_of_firing_incidents_skips_none_when_some_resolve_between_pages(
    make_client: ClientFactory,
) -> None:
    client = await make_client()
    await send(client, storm("fleet", 30))
    listed = (await (await client.get("/api/v1/incidents?limit=500")).json())["incidents"]
    first_page = [i["labels"]["instance"] for i in listed[:7]]

    async def resolve_first_page(page: int) -> None:
        if page == 1:  # the first page's alerts resolve: by offset, the next page began 7 rows too far
            await send(client, storm("fleet", 7, status="resolved", hosts=first_page))

    seen = await walk(client, "status=firing&limit=7", resolve_first_page)
    assert seen == [i["id"] for i in listed]


async def test_the_answer_names_no_next_page_after_the_last_one(make_client: ClientFactory) -> None:
    client = await make_client()
    await send(client, storm("few", 4))
    page = await (await client.get("/api/v1/incidents?limit=4")).json()
    assert len(page["incidents"]) == 4
    assert page["next_cursor"] is None and page["next_offset"] is None
    first = await (await client.get("/api/v1/incidents?limit=3")).json()
    assert first["next_offset"] == 3  # offset still works, for clients written against it
    rest = await (await client.get(f"/api/v1/incidents?limit=3&cursor={first['next_cursor']}")).json()
    assert [i["id"] for i in first["incidents"] + rest["incidents"]] == [i["id"] for i in page["incidents"]]
    assert rest["next_cursor"] is None and rest["next_offset"] is None


async def test_a_cursor_that_is_not_one_is_400_naming_it(make_client: ClientFactory) -> None:
    client = await make_client()
    forged = base64.urlsafe_b64encode(json.dumps({"a": 1}).encode()).decode()
    huge = base64.urlsafe_b64encode(b"[1" + b"0" * 400 + b', "inc-x"]').decode()
    for cursor in ("nope!", forged, huge, "W10", "%C3%A9"):
        answer = await client.get(f"/api/v1/incidents?cursor={cursor}")
        assert answer.status == 400, cursor
        assert (await answer.json())["field"] == "cursor"
    both = await client.get("/api/v1/incidents?cursor=W10&offset=0")
    assert both.status == 400
