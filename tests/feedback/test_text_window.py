"""Full-text recall searches a window of the newest incidents: its cost does not grow with history."""

from __future__ import annotations

import pytest
import sqlite_utils

from receiver.storage import memory
from receiver.storage.migrations import migrate


def _db_with_texts(count: int, saturated: set[int]) -> sqlite_utils.Database:
    """`count` incidents of one alert; those numbered in `saturated` say their pool saturated."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    for n in range(count):
        diagnosis = "db_pool saturated" if n in saturated else "db_pool idle"
        memory.index_text(db, f"inc-{n}", f"OrdersDbPoolExhausted desk=rates n{n}", diagnosis)
    return db


def test_text_search_ranks_only_the_newest_window(monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db_with_texts(8, {0, 5, 6})
    monkeypatch.setattr(memory, "TEXT_WINDOW", 3)
    found = memory._text_scores(db, "OrdersDbPoolExhausted db_pool saturated", exclude="inc-7")
    assert set(found) == {"inc-5", "inc-6"}


def test_a_reindexed_incident_joins_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    db = _db_with_texts(8, {6, 7})
    memory.index_text(db, "inc-0", "OrdersDbPoolExhausted desk=rates n0", "db_pool saturated again")
    monkeypatch.setattr(memory, "TEXT_WINDOW", 2)
    found = memory._text_scores(db, "OrdersDbPoolExhausted db_pool saturated", exclude="none")
    assert set(found) == {"inc-7", "inc-0"}
