"""An alert storm in one group does not starve the diagnosis of another group's alert.

The pipeline's queue takes the alert groups in turn (`FairQueue`), and so does the sweeper's refill from
SQLite (`work_ids`): a lone alert arriving behind a storm is taken within about one round of the
groups waiting, whatever the storm's size, and nothing of the storm is lost.
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from receiver.config import PipelineSettings
from receiver.metrics import create_metrics
from receiver.models import DONE
from receiver.payload import parse_webhook
from receiver.pipeline.fair_queue import FairQueue
from receiver.pipeline.fair_slots import FairSlots
from receiver.pipeline.materializer import Materializer
from receiver.pipeline.workers import Pipeline, StageContext, StageOutcome
from receiver.storage import incidents as db_incidents
from receiver.storage.database import Store
from receiver.testing import drain, wait_idle

FIRING = "captured-am025-prom242-firing.json"
STORM = 60


# --- the queue ------------------------------------------------------------------------------------


def take_all(queue: FairQueue[str, str]) -> list[str]:
    return [queue.take() for _ in range(len(queue))]


def test_lanes_are_served_in_turn_oldest_first_within_each() -> None:
    queue: FairQueue[str, str] = FairQueue(10)
    for item in ("a1", "a2", "a3"):
        queue.put("a", item)
    queue.put("b", "b1")
    queue.put("b", "b2")
    queue.put("c", "c1")
    assert take_all(queue) == ["a1", "b1", "c1", "a2", "b2", "a3"]


def test_a_new_lane_is_served_within_one_round_of_the_waiting_lanes() -> None:
    queue: FairQueue[str, str] = FairQueue(1000)
    for n in range(500):
        queue.put("storm", f"s{n}")
    queue.put("other", "lone")
    assert take_all(queue)[:2] == ["s0", "lone"]


def test_a_full_queue_refuses_an_item_of_its_longest_lane() -> None:
    queue: FairQueue[str, str] = FairQueue(3)
    assert [queue.put("storm", f"s{n}") for n in range(3)] == [None, None, None]
    assert queue.put("storm", "s3") == "s3"
    assert len(queue) == 3 and take_all(queue) == ["s0", "s1", "s2"]


def test_a_full_queue_drops_the_newest_of_the_longest_lane_for_a_shorter_one() -> None:
    queue: FairQueue[str, str] = FairQueue(4)
    for n in range(4):
        queue.put("storm", f"s{n}")
    assert queue.put("other", "lone") == "s3"
    assert queue.put("other", "second") == "s2"
    assert queue.put("other", "third") == "third"  # it would be as long as the storm's lane: refused
    assert len(queue) == 4 and take_all(queue) == ["s0", "lone", "s1", "second"]


def test_take_from_an_empty_queue_is_an_index_error() -> None:
    queue: FairQueue[str, str] = FairQueue(1)
    with pytest.raises(IndexError):
        queue.take()
    with pytest.raises(ValueError):
        FairQueue(0)


# --- the pipeline over SQLite ---------------------------------------------------------------------


def group_notification(corpus: Path, group: str, alerts: int) -> bytes:
    """A notification of alert group `group` with `alerts` firing alerts (an InstanceDown-like storm)."""
    payload = json.loads((corpus / FIRING).read_bytes())
    template = payload["alerts"][0]
    payload["groupKey"] = f'{{}}:{{alertname="{group}"}}'
    payload["alerts"] = []
    for n in range(alerts):
        alert = copy.deepcopy(template)
        alert["labels"] = {**alert["labels"], "alertname": group, "instance": f"node-{n}:9100"}
        alert["fingerprint"] = f"{group}-{n:06d}"
        payload["alerts"].append(alert)
    return json.dumps(payload).encode()


def accept(store: Store, body: bytes, received_at: float) -> None:
    """What the webhook commits before answering: the raw notification, materialised later."""
    store.write_sync(db_incidents.accept_notification, parse_webhook(body), body, received_at)


def ingest(store: Store, body: bytes, received_at: float) -> list[str]:
    """A notification already turned into incidents (as a restart finds them: none queued)."""
    return store.write_sync(db_incidents.ingest_notification, parse_webhook(body), body, received_at).created


def storm_then_lone(store: Store, corpus: Path, place: Any = accept) -> str:
    """A storm of STORM alerts in one group, then one alert of another group; returns its incident id."""
    place(store, group_notification(corpus, "InstanceDown", STORM), 1000.0)
    place(store, group_notification(corpus, "PaymentsFailing", 1), 1001.0)
    [lone] = db_incidents.incident_ids(parse_webhook(group_notification(corpus, "PaymentsFailing", 1)))
    return lone


def evidence_order(order: list[str]) -> dict[str, Any]:
    """Stages that record the order in which incidents reach their analysis (evidence collection)."""

    async def collect_evidence(ctx: StageContext) -> StageOutcome:
        async with ctx.heavy_work():
            order.append(ctx.incident.id)
        return StageOutcome("ok")

    return {"collect_evidence": collect_evidence}


def pipeline(store: Store, order: list[str], **settings: Any) -> Pipeline:
    return Pipeline(store, evidence_order(order), PipelineSettings(workers=1, **settings), create_metrics())


def assert_all_done_once(store: Store, order: list[str]) -> None:
    stages = store.run_sync(lambda db: [r[0] for r in db.conn.execute("SELECT stage FROM incidents")])
    assert len(stages) == STORM + 1 and set(stages) == {DONE}
    assert sorted(order) == sorted(set(order)) and len(order) == STORM + 1


async def test_a_lone_alert_behind_a_storm_is_diagnosed_within_the_first_few(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    store = Store(tmp_path / "db.sqlite")
    lone = storm_then_lone(store, webhook_corpus)
    order: list[str] = []
    worker = pipeline(store, order)
    settings = PipelineSettings()
    await drain(Materializer(store, worker, settings, worker.metrics), within=10)  # storm, then lone
    await worker.start()
    await wait_idle(worker)
    await worker.stop()
    assert order.index(lone) <= 2  # FIFO took it last, after the whole storm
    assert_all_done_once(store, order)


async def test_a_lone_alert_gets_into_a_queue_the_storm_filled(tmp_path: Path, webhook_corpus: Path) -> None:
    """The storm is five times the queue: the lone alert takes the place of the storm's newest, which
    stays in SQLite and is swept up later (FIFO left it out until the storm had gone through)."""
    store = Store(tmp_path / "db.sqlite")
    lone = storm_then_lone(store, webhook_corpus)
    order: list[str] = []
    worker = pipeline(store, order, queue_size=STORM // 5, sweep_interval_seconds=0.01)
    await drain(Materializer(store, worker, PipelineSettings(), worker.metrics), within=10)
    assert worker.queued == STORM // 5  # bounded: the rest waits in SQLite
    await worker.start()
    await wait_idle(worker)
    await worker.stop()
    assert order.index(lone) <= 2
    assert_all_done_once(store, order)


async def test_the_sweeper_refills_the_groups_in_turn(tmp_path: Path, webhook_corpus: Path) -> None:
    """After a restart nothing is queued: the sweeper fills a small queue from SQLite; it used to take
    the oldest first, the whole storm before the lone alert."""
    store = Store(tmp_path / "db.sqlite")
    lone = storm_then_lone(store, webhook_corpus, place=ingest)
    order: list[str] = []
    worker = pipeline(store, order, queue_size=STORM // 5, sweep_interval_seconds=0.01)
    await worker.start()
    await wait_idle(worker)
    await worker.stop()
    assert order.index(lone) <= 2
    assert_all_done_once(store, order)


async def test_an_incident_submitted_without_its_group_gets_a_lane_of_its_own(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    """On-demand and detector incidents are submitted by id alone: they do not wait behind a storm."""
    store = Store(tmp_path / "db.sqlite")
    accept(store, group_notification(webhook_corpus, "InstanceDown", STORM), 1000.0)
    [lone] = ingest(store, group_notification(webhook_corpus, "DetectorFinding", 1), 1001.0)
    order: list[str] = []
    worker = pipeline(store, order)
    await drain(Materializer(store, worker, PipelineSettings(), worker.metrics), within=10)
    worker.submit([lone])
    await worker.start()
    await wait_idle(worker)
    await worker.stop()
    assert order.index(lone) <= 2
    assert_all_done_once(store, order)


# --- the analysis slots ---------------------------------------------------------------------------


async def admitted_order(slots: FairSlots, arrivals: list[tuple[str, str]]) -> list[str]:
    """The order in which waiters (lane, name), arriving while the one slot is held, get it."""
    order: list[str] = []

    async def wait(lane: str, name: str) -> None:
        async with slots.hold(lane):
            order.append(name)
            await asyncio.sleep(0)

    async with slots.hold("first"):
        tasks = []
        for lane, name in arrivals:
            tasks.append(asyncio.create_task(wait(lane, name)))
            await asyncio.sleep(0)  # queued in this order
    await asyncio.gather(*tasks)
    return order


async def test_slots_admit_the_waiting_lanes_in_turn() -> None:
    arrivals = [("storm", f"s{n}") for n in range(5)] + [("other", "lone")]
    assert await admitted_order(FairSlots(1), arrivals) == ["s0", "lone", "s1", "s2", "s3", "s4"]


async def test_a_cancelled_waiter_neither_holds_nor_loses_a_slot() -> None:
    slots = FairSlots(1)
    async with slots.hold("a"):
        waiter = asyncio.create_task(slots.hold("b").__aenter__())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert slots.waiting == 0
    async with asyncio.timeout(1), slots.hold("c"):  # the slot is free again, not lost
        pass
    with pytest.raises(ValueError):
        FairSlots(0)


async def test_a_later_alert_does_not_wait_for_the_slot_behind_every_busy_worker(
    tmp_path: Path, webhook_corpus: Path
) -> None:
    """All 16 workers hold storm incidents, 15 of them waiting for the one analysis slot, when another
    group's alert arrives: it gets the slot within a few turns (first come, first served, it went after
    every one of them)."""
    store = Store(tmp_path / "db.sqlite")
    accept(store, group_notification(webhook_corpus, "InstanceDown", STORM), 1000.0)
    order: list[str] = []
    gate = asyncio.Event()

    async def collect_evidence(ctx: StageContext) -> StageOutcome:
        async with ctx.heavy_work():
            order.append(ctx.incident.id)
            await gate.wait()  # the first holder keeps the slot until the lone alert is in
            await asyncio.sleep(0.05)  # an analysis: the freed workers take new incidents meanwhile
        return StageOutcome("ok")

    settings = PipelineSettings(workers=16, max_concurrent_analyses=1)
    worker = Pipeline(store, {"collect_evidence": collect_evidence}, settings, create_metrics())
    await drain(Materializer(store, worker, PipelineSettings(), worker.metrics), within=10)
    await worker.start()
    async with asyncio.timeout(10):
        while worker._analysis_slots.waiting < 15:  # noqa: ASYNC110 (the count has no event to wait on)
            await asyncio.sleep(0.001)
    [lone] = ingest(store, group_notification(webhook_corpus, "PaymentsFailing", 1), 1001.0)
    worker.submit([lone], "PaymentsFailing")
    gate.set()
    await wait_idle(worker)
    await worker.stop()
    assert order.index(lone) <= 4  # first come, first served: after the 16 storm incidents held
    assert_all_done_once(store, order)
