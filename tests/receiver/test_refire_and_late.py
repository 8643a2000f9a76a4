"""Occurrences out of the simple order: an alert firing again with the same startsAt after its resolution,
and a late notification of an older occurrence than the one already firing."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from receiver.payload import parse_webhook
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store, fetch_all
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE, STORE

from .conftest import ClientFactory
from .test_incidents_idempotency import FIRING, counting_components, post

CountingClient = tuple[TestClient[Any, Any], list[tuple[str, str]], list[str]]


@pytest.fixture
async def counting_client(make_client: ClientFactory) -> CountingClient:
    """A client whose stages only record (incident, stage) in `calls`, and resolutions in `resolved`."""
    calls: list[tuple[str, str]] = []
    resolved: list[str] = []
    return await make_client(counting_components(calls, resolved)), calls, resolved


def iso(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + f"{at % 1:.3f}Z"[1:]


def notification(corpus: Path, starts: float, ends: float | None = None) -> bytes:
    """The corpus notification, its alerts starting at `starts`; resolved at `ends` when given."""
    payload = json.loads((corpus / FIRING).read_bytes())
    payload["status"] = "firing" if ends is None else "resolved"
    for alert in payload["alerts"]:
        alert["status"] = payload["status"]
        alert["startsAt"] = iso(starts)
        alert["endsAt"] = "0001-01-01T00:00:00Z" if ends is None else iso(ends)
    return json.dumps(payload).encode()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "db.sqlite")
    yield store
    store.close()


async def opened(client: Any, data: bytes) -> list[str]:
    """Posts `data`; the incidents the answer names."""
    return list((await (await post(client, data)).json())["incidents"])


def ingest(store: Store, data: bytes, at: float) -> db_incidents.IngestResult:
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data, at)


async def incidents(client: Any) -> dict[str, dict[str, Any]]:
    rows = await client.app[STORE].run(fetch_all, "SELECT * FROM incidents ORDER BY first_seen, id")
    return {row["id"]: row for row in rows}


def assert_stored_superseded(
    rows: dict[str, dict[str, Any]], older: list[str], newer: list[str], calls: list[tuple[str, str]]
) -> None:
    """Each `older` incident is resolved, done, and ends where its `newer` successor starts; none of
    them went through a stage."""
    assert set(rows) == {*newer, *older}
    for incident_id in older:
        row = rows[incident_id]
        assert row["status"] == "resolved" and row["superseded_by"] in newer
        assert row["stage"] == "done" and row["resolve_pending"] == 0
        successor = rows[row["superseded_by"]]
        assert successor["fingerprint"] == row["fingerprint"] and row["ends_at"] == successor["starts_at"]
    assert not [i for i, _ in calls if i in older]  # never analysed nor announced


async def test_an_alert_firing_again_after_its_resolution_with_the_same_start_is_a_new_incident(
    counting_client: CountingClient, webhook_corpus: Path
) -> None:
    """Prometheus out of reach: Alertmanager resolves the alert, then it comes back with its startsAt."""
    client, calls, resolved = counting_client
    starts = round(time.time() - 600, 3)
    firing = notification(webhook_corpus, starts)
    first = await opened(client, firing)
    await post(client, firing)  # a re-send before the resolution: idempotent
    await wait_idle(client.app[PIPELINE])
    assert set(await incidents(client)) == set(first) and len(calls) == 2 * 5

    await post(client, notification(webhook_corpus, starts, ends=time.time() - 5))
    await wait_idle(client.app[PIPELINE])
    assert sorted(resolved) == sorted(first)

    await post(client, firing)  # the same bytes again, after the resolution: the alert fires again
    await wait_idle(client.app[PIPELINE])
    rows = await incidents(client)
    again = [i for i in rows if i not in first]
    assert len(again) == 2
    assert all(rows[i]["status"] == "resolved" for i in first)
    for incident_id in again:
        assert rows[incident_id]["status"] == "firing" and rows[incident_id]["starts_at"] == starts
        assert {stage for i, stage in calls if i == incident_id} == {
            "announce",
            "collect_evidence",
            "detect",
            "diagnose",
            "deliver",
        }
    assert await client.app[STORE].run(db_incidents.count_open) == 2
    metrics = await (await client.get("/metrics")).text()
    assert 'alert_analyst_incidents_created_total{source="alertmanager"} 4.0' in metrics

    await post(client, firing)  # re-sends of the new occurrence only bump last_seen
    await post(client, notification(webhook_corpus, starts, ends=time.time()))
    await post(client, notification(webhook_corpus, starts, ends=time.time()))
    await wait_idle(client.app[PIPELINE])
    rows = await incidents(client)
    assert len(rows) == 4 and all(row["status"] == "resolved" for row in rows.values())
    assert sorted(resolved) == sorted([*first, *again])  # each resolution delivered once
    assert len(calls) == 4 * 5


def test_a_firing_notification_received_before_the_resolution_ended_does_not_reopen(
    store: Store, webhook_corpus: Path
) -> None:
    starts = time.time() - 600
    first = ingest(store, notification(webhook_corpus, starts), starts + 10).created
    ingest(store, notification(webhook_corpus, starts, ends=starts + 100), starts + 110)
    late = ingest(store, notification(webhook_corpus, starts), starts + 90)  # received before the end
    assert late.created == [] and late.resolved == []
    again = ingest(store, notification(webhook_corpus, starts), starts + 200)
    assert len(again.created) == 2 and set(again.created).isdisjoint(first)
    assert ingest(store, notification(webhook_corpus, starts), starts + 210).created == []
    assert store.run_sync(db_incidents.count_open) == 2


def test_a_re_fire_outlives_the_pruning_of_the_first_incident(store: Store, webhook_corpus: Path) -> None:
    """Retention deletes the resolved first incident while its re-fire fires: re-sends find the re-fire."""
    starts = time.time() - 600
    first = ingest(store, notification(webhook_corpus, starts), starts + 10).created
    ingest(store, notification(webhook_corpus, starts, ends=starts + 100), starts + 110)
    again = ingest(store, notification(webhook_corpus, starts), starts + 200).created
    store.write_sync(lambda db: db.conn.execute("DELETE FROM incidents WHERE id IN (?, ?)", first))
    assert ingest(store, notification(webhook_corpus, starts), starts + 300).created == []
    closed = ingest(store, notification(webhook_corpus, starts, ends=starts + 400), starts + 410)
    assert sorted(closed.resolved) == sorted(again)
    assert store.run_sync(db_incidents.count_open) == 0


async def test_a_late_notification_of_an_older_occurrence_is_stored_superseded(
    counting_client: CountingClient, webhook_corpus: Path
) -> None:
    """An HA replica lagging or a retry: the older startsAt arrives after the newer one is firing."""
    client, calls, resolved = counting_client
    now = time.time()
    newer = await opened(client, notification(webhook_corpus, now - 60))
    await wait_idle(client.app[PIPELINE])
    older = await opened(client, notification(webhook_corpus, now - 600))
    await wait_idle(client.app[PIPELINE])

    rows = await incidents(client)
    assert_stored_superseded(rows, older, newer, calls)
    firing = [i for i, row in rows.items() if row["status"] == "firing"]
    assert sorted(firing) == sorted(newer)
    metrics = await (await client.get("/metrics")).text()
    assert "alert_analyst_incidents_superseded_total 2.0" in metrics

    await post(client, notification(webhook_corpus, now - 60, ends=now))  # Alertmanager resolves the newer
    await wait_idle(client.app[PIPELINE])
    assert await client.app[STORE].run(db_incidents.count_open) == 0
    assert sorted(resolved) == sorted(newer)


async def test_a_late_older_occurrence_after_the_newer_one_resolved_is_stored_superseded(
    counting_client: CountingClient, webhook_corpus: Path
) -> None:
    """It was opened firing and stayed so for ever: Alertmanager, holding the newer one, never resolves it."""
    client, calls, resolved = counting_client
    now = time.time()
    newer = await opened(client, notification(webhook_corpus, now - 60))
    await post(client, notification(webhook_corpus, now - 60, ends=now - 5))
    await wait_idle(client.app[PIPELINE])
    older = await opened(client, notification(webhook_corpus, now - 600))
    await wait_idle(client.app[PIPELINE])

    rows = await incidents(client)
    assert_stored_superseded(rows, older, newer, calls)
    assert await client.app[STORE].run(db_incidents.count_open) == 0
    assert sorted(resolved) == sorted(newer)


def test_a_late_older_occurrence_is_superseded_by_the_next_newer_one_not_the_newest(
    store: Store, webhook_corpus: Path
) -> None:
    now = time.time()
    newest = ingest(store, notification(webhook_corpus, now - 60), now - 50).created
    ingest(store, notification(webhook_corpus, now - 60, ends=now - 40), now - 40)
    middle = ingest(store, notification(webhook_corpus, now - 300), now - 30)  # late: superseded by newest
    assert sorted(middle.superseded) == sorted(middle.created)
    oldest = ingest(store, notification(webhook_corpus, now - 600), now - 20)
    assert sorted(oldest.superseded) == sorted(oldest.created) and oldest.resolved == []
    rows = {r["id"]: r for r in store.run_sync(fetch_all, "SELECT * FROM incidents")}
    for incident_id in oldest.created:
        successor = rows[rows[incident_id]["superseded_by"]]
        assert successor["id"] in middle.created and successor["id"] not in newest
        assert rows[incident_id]["ends_at"] == successor["starts_at"]
    assert store.run_sync(db_incidents.count_open) == 0


@pytest.mark.parametrize("newer_resolved", [False, True], ids=["newer-firing", "newer-resolved"])
def test_a_re_send_of_a_superseded_occurrence_opens_nothing(
    store: Store, webhook_corpus: Path, newer_resolved: bool
) -> None:
    """Each re-send of the late notification (a retry, an HA replica) counted as a re-fire of the
    superseded occurrence: one more incident, stored superseded, every time."""
    now = time.time()
    ingest(store, notification(webhook_corpus, now - 60), now - 50)
    if newer_resolved:
        ingest(store, notification(webhook_corpus, now - 60, ends=now - 40), now - 40)
    late = ingest(store, notification(webhook_corpus, now - 600), now - 30)
    assert len(late.created) == 2 and sorted(late.superseded) == sorted(late.created)
    for at in (now - 20, now - 10):
        again = ingest(store, notification(webhook_corpus, now - 600), at)
        assert again.created == again.superseded == again.resolved == []
    assert len(store.run_sync(fetch_all, "SELECT id FROM incidents")) == 4


async def test_the_answer_names_the_new_incident_of_an_alert_firing_again_after_its_resolution(
    counting_client: CountingClient, webhook_corpus: Path
) -> None:
    """It named the resolved one, the occurrence's id: a client following it read the closed incident."""
    client, _, _ = counting_client
    starts = round(time.time() - 600, 3)
    firing = notification(webhook_corpus, starts)
    first = await opened(client, firing)
    await post(client, notification(webhook_corpus, starts, ends=time.time() - 5))
    await wait_idle(client.app[PIPELINE])

    again = await opened(client, firing)  # the same bytes: answered from the re-send memory before
    await wait_idle(client.app[PIPELINE])
    rows = await incidents(client)
    assert set(again).isdisjoint(first)
    assert all(rows[i]["status"] == "firing" for i in again)
    assert await opened(client, firing) == again  # its re-sends name it too
    assert await opened(client, notification(webhook_corpus, starts, ends=time.time())) == again
