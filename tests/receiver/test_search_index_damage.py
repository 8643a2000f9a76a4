"""Memory over damaged full-text indexes: incidents are still diagnosed, recall keeps what the primary
tables hold (evidence signatures, judgements), and the index comes back with the incidents' words."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from receiver.payload import parse_webhook
from receiver.pipeline import memory
from receiver.storage import incidents as db_incidents
from receiver.storage import memory as db_memory
from receiver.storage.database import Store, fetch_one
from receiver.web.keys import STORE
from tests.feedback.conftest import diagnose_with_memory
from tests.feedback.test_memory import DAY, T0, diagnosis, traffic_surge

from .conftest import ClientFactory
from .test_damaged_database import FIRING, damage_search_indexes, integrity_of

CAUSE = "container_cpu_usage_seconds_total"


async def judged_incident(make_client: ClientFactory) -> str:
    """An incident diagnosed and judged wrong (with its true cause and a note), in a closed app."""
    client = await make_client()
    first = await diagnose_with_memory(client, traffic_surge(), "fp-a", T0)
    judged = await client.post(
        f"/api/v1/incidents/{first}/feedback",
        json={"verdict": "wrong", "actual_cause": CAUSE, "who": "ana", "note": "a noisy neighbour"},
    )
    assert judged.status == 201
    await client.close()
    return first


async def test_a_repeat_is_diagnosed_with_the_given_cause_over_damaged_indexes(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    first = await judged_incident(make_client)
    damage_search_indexes(tmp_path / "aa.db")
    client = await make_client()
    with capture_logs() as logs:
        repeat = await diagnose_with_memory(client, traffic_surge(), "fp-b", T0 + DAY)
    assert (await diagnosis(client, repeat))["primary_hypothesis"]["suspect"] == CAUSE
    assert {e["index"] for e in logs if e["event"] == "search_index_rebuilt"} == {
        "incident_text",
        "incident_search",
    }
    text = await client.app[STORE].run(fetch_one, "SELECT * FROM incident_text WHERE incident_id=?", [first])
    assert text is not None  # rebuilt from the incident, its diagnosis and feedback
    assert "HighLatency" in text["alert"] and "Traffic surge" in text["diagnosis"]
    assert text["notes"] == f"a noisy neighbour {CAUSE}"
    for index in ("incident_text", "incident_search"):
        integrity_of(tmp_path / "aa.db", index)


async def test_recall_goes_on_by_signature_when_the_index_cannot_be_rebuilt(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """A full database cannot take the new index: recall says so and uses the evidence signature."""
    first = await judged_incident(make_client)
    damage_search_indexes(tmp_path / "aa.db")
    client = await make_client()
    store = client.app[STORE]
    await store.run(_fill_up)
    evidence = dataclasses.replace(traffic_surge(), incident_id="inc-repeat")
    with capture_logs() as logs:
        recalled = await memory.recall(store, evidence)
    assert [row["incident_id"] for row in recalled.similar] == [first]
    assert recalled.similar[0]["actual_cause"] == CAUSE
    events = [e["event"] for e in logs]
    assert "search_index_rebuild_failed" in events and "memory_text_search_unavailable" in events
    ready = await client.get("/-/ready")
    assert ready.status == 200
    assert (await ready.text()).startswith("OK\nnote: full-text index damaged, rebuild failed:")


def _fill_up(db: Any) -> None:
    """No page beyond those the file has (SQLite answers "database or disk is full")."""
    pages = db.conn.execute("PRAGMA page_count").fetchone()[0]
    db.conn.execute(f"PRAGMA max_page_count={pages}")


async def test_a_workbench_search_over_a_damaged_index_rebuilds_it_and_answers(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    """A search is often the first to meet the damage (nothing written since). Before: a 500 for every
    search until some write happened to rebuild the index."""
    store = Store(tmp_path / "aa.db")
    store.write_sync(db_incidents.ingest_notification, parse_webhook(FIRING), FIRING)
    store.write_sync(db_incidents.materialize_pending, 10)
    store.close()
    damage_search_indexes(tmp_path / "aa.db")
    client = await make_client()

    page = await client.get("/ui/", params={"q": "PnLDrawdownHigh"})
    rows = await client.get("/ui/rows", params={"q": "PnLDrawdownHigh"})

    assert page.status == 200 and rows.status == 200
    assert (await rows.text()).count("/ui/incidents/inc-") >= 2


async def test_a_recall_that_fails_costs_the_precedents_not_the_diagnosis(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fault in reading past incidents (here the division by zero an empty history once met when the
    writer indexed incidents between two of recall's reads) is logged and the incident is diagnosed
    without precedents. Before: the diagnose stage failed and the incident had no diagnosis."""
    await judged_incident(make_client)
    client = await make_client()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise ZeroDivisionError("integer division or modulo by zero")

    monkeypatch.setattr(db_memory, "similar_incidents", broken)
    with capture_logs() as logs:
        repeat = await diagnose_with_memory(client, traffic_surge(), "fp-b", T0 + DAY)

    found = await diagnosis(client, repeat)
    assert found["primary_hypothesis"]["category"] == "traffic.surge"
    assert found["recall"] is None  # no "seen before" line: the precedents were not read
    assert [e["incident_id"] for e in logs if e["event"] == "memory_recall_failed"] == [repeat]


async def test_a_recall_the_storage_cannot_serve_now_is_left_for_the_retry(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A locked or full database is the worker's to retry (the stage is not recorded): not swallowed."""
    client = await make_client()

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(db_memory, "similar_incidents", locked)
    with pytest.raises(sqlite3.OperationalError):
        await diagnose_with_memory(client, traffic_surge(), "fp-c", T0)
