"""Occurrences out of the simple order: an alert firing again with the same startsAt after its resolution,
and a late notification of an older occurrence than the one already firing."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from receiver.payload import parse_webhook
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store, fetch_all
from receiver.testing import wait_idle
from receiver.web.keys import PIPELINE, STORE

from .conftest import ClientFactory
from .test_incidents_idempotency import FIRING, counting_components, post


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


def ingest(store: Store, data: bytes, at: float) -> db_incidents.IngestResult:
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(data), data, at)


async def incidents(client: Any) -> dict[str, dict[str, Any]]:
    rows = await client.app[STORE].run(fetch_all, "SELECT * FROM incidents ORDER BY first_seen, id")
    return {row["id"]: row for row in rows}


async def test_an_alert_firing_again_after_its_resolution_with_the_same_start_is_a_new_incident(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    """Prometheus out of reach: Alertmanager resolves the alert, then it comes back with its startsAt."""
    calls: list[tuple[str, str]] = []
    resolved: list[str] = []
    client = await make_client(counting_components(calls, resolved))
    starts = round(time.time() - 600, 3)
    firing = notification(webhook_corpus, starts)
    first = (await (await post(client, firing)).json())["incidents"]
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
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    starts = time.time() - 600
    first = ingest(store, notification(webhook_corpus, starts), starts + 10).created
    ingest(store, notification(webhook_corpus, starts, ends=starts + 100), starts + 110)
    late = ingest(store, notification(webhook_corpus, starts), starts + 90)  # received before the end
    assert late.created == [] and late.resolved == []
    again = ingest(store, notification(webhook_corpus, starts), starts + 200)
    assert len(again.created) == 2 and set(again.created).isdisjoint(first)
    assert ingest(store, notification(webhook_corpus, starts), starts + 210).created == []
    assert store.run_sync(db_incidents.count_open) == 2
    store.close()


def test_a_re_fire_outlives_the_pruning_of_the_first_incident(tmp_path: Path, webhook_corpus: Path) -> None:
    """Retention deletes the resolved first incident while its re-fire fires: re-sends find the re-fire."""
    store = Store(tmp_path / "db.sqlite")
    starts = time.time() - 600
    first = ingest(store, notification(webhook_corpus, starts), starts + 10).created
    ingest(store, notification(webhook_corpus, starts, ends=starts + 100), starts + 110)
    again = ingest(store, notification(webhook_corpus, starts), starts + 200).created
    store.write_sync(lambda db: db.conn.execute("DELETE FROM incidents WHERE id IN (?, ?)", first))
    assert ingest(store, notification(webhook_corpus, starts), starts + 300).created == []
    closed = ingest(store, notification(webhook_corpus, starts, ends=starts + 400), starts + 410)
    assert sorted(closed.resolved) == sorted(again)
    assert store.run_sync(db_incidents.count_open) == 0
    store.close()


async def test_a_late_notification_of_an_older_occurrence_is_stored_superseded(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    """An HA replica lagging or a retry: the older startsAt arrives after the newer one is firing."""
    calls: list[tuple[str, str]] = []
    resolved: list[str] = []
    client = await make_client(counting_components(calls, resolved))
    now = time.time()
    newer = (await (await post(client, notification(webhook_corpus, now - 60))).json())["incidents"]
    await wait_idle(client.app[PIPELINE])
    older = (await (await post(client, notification(webhook_corpus, now - 600))).json())["incidents"]
    await wait_idle(client.app[PIPELINE])

    rows = await incidents(client)
    assert set(rows) == {*newer, *older}
    for incident_id in older:
        row = rows[incident_id]
        assert row["status"] == "resolved" and row["superseded_by"] in newer
        assert row["stage"] == "done" and row["resolve_pending"] == 0
        successor = rows[row["superseded_by"]]
        assert successor["fingerprint"] == row["fingerprint"] and row["ends_at"] == successor["starts_at"]
    assert not [i for i, _ in calls if i in older]  # never analysed nor announced
    firing = [i for i, row in rows.items() if row["status"] == "firing"]
    assert sorted(firing) == sorted(newer)
    metrics = await (await client.get("/metrics")).text()
    assert "alert_analyst_incidents_superseded_total 2.0" in metrics

    await post(client, notification(webhook_corpus, now - 60, ends=now))  # Alertmanager resolves the newer
    await wait_idle(client.app[PIPELINE])
    assert await client.app[STORE].run(db_incidents.count_open) == 0
    assert sorted(resolved) == sorted(newer)


async def test_a_late_older_occurrence_after_the_newer_one_resolved_is_stored_superseded(
    make_client: ClientFactory, webhook_corpus: Path
) -> None:
    """It was opened firing and stayed so for ever: Alertmanager, holding the newer one, never resolves it."""
    calls: list[tuple[str, str]] = []
    resolved: list[str] = []
    client = await make_client(counting_components(calls, resolved))
    now = time.time()
    newer = (await (await post(client, notification(webhook_corpus, now - 60))).json())["incidents"]
    await post(client, notification(webhook_corpus, now - 60, ends=now - 5))
    await wait_idle(client.app[PIPELINE])
    older = (await (await post(client, notification(webhook_corpus, now - 600))).json())["incidents"]
    await wait_idle(client.app[PIPELINE])

    rows = await incidents(client)
    assert set(rows) == {*newer, *older}
    for incident_id in older:
        row = rows[incident_id]
        assert row["status"] == "resolved" and row["superseded_by"] in newer
        assert row["stage"] == "done" and row["resolve_pending"] == 0
        successor = rows[row["superseded_by"]]
        assert successor["fingerprint"] == row["fingerprint"] and row["ends_at"] == successor["starts_at"]
    assert not [i for i, _ in calls if i in older]  # never analysed nor announced
    assert await client.app[STORE].run(db_incidents.count_open) == 0
    assert sorted(resolved) == sorted(newer)


def test_a_late_older_occurrence_is_superseded_by_the_next_newer_one_not_the_newest(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
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
    store.close()


@pytest.mark.parametrize("newer_resolved", [False, True], ids=["newer-firing", "newer-resolved"])
def test_a_re_send_of_a_superseded_occurrence_opens_nothing(
    tmp_path: Path, webhook_corpus: Path, newer_resolved: bool
) -> None:
    """Each re-send of the late notification (a retry, an HA replica) counted as a re-fire of the
    superseded occurrence: one more incident, stored superseded, every time."""
    store = Store(tmp_path / "db.sqlite")
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
    store.close()
