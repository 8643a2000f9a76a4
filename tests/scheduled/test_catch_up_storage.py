"""The outage catch-up in SQLite: per rule whose cycles fail, where the first failed cycle's window began,
for the definition that failed; gone once the rule is evaluated, changed or removed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from receiver.storage import rules as db_rules
from receiver.storage.database import Store, fetch_all


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "analyst.db")
    yield store
    store.close()


def kept(store: Store) -> dict[str, tuple[float, str]]:
    """The stored rows: rule to (since, definition)."""
    rows = store.run_sync(fetch_all, "SELECT rule, since, definition FROM detection_catch_up")
    return {row["rule"]: (row["since"], row["definition"]) for row in rows}


def test_a_saved_catch_up_resumes_for_the_same_definition(store: Store):
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1", "errors": "def-2"}, 1000.0)

    resumed = store.write_sync(db_rules.resume_catch_up, {"latency": "def-1", "errors": "def-2"})

    assert resumed == {"latency": 1000.0, "errors": 1000.0}
    assert kept(store) == {"latency": (1000.0, "def-1"), "errors": (1000.0, "def-2")}


def test_a_rule_defined_otherwise_now_resumes_nothing_and_loses_its_row(store: Store):
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1", "errors": "def-2"}, 1000.0)

    resumed = store.write_sync(db_rules.resume_catch_up, {"latency": "def-1", "errors": "changed"})

    assert resumed == {"latency": 1000.0}
    assert kept(store) == {"latency": (1000.0, "def-1")}


def test_a_rule_no_longer_defined_resumes_nothing_and_keeps_its_row_for_removal(store: Store):
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1"}, 1000.0)

    assert store.write_sync(db_rules.resume_catch_up, {}) == {}
    assert kept(store) == {"latency": (1000.0, "def-1")}


def test_saving_a_rules_catch_up_again_replaces_it(store: Store):
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1"}, 1000.0)
    store.write_sync(db_rules.save_catch_up, {"latency": "def-2"}, 2000.0)

    assert kept(store) == {"latency": (2000.0, "def-2")}


def test_clearing_a_catch_up_leaves_the_other_rules(store: Store):
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1", "errors": "def-2"}, 1000.0)

    store.write_sync(db_rules.clear_catch_up, ["latency"])

    assert kept(store) == {"errors": (1000.0, "def-2")}


def test_replacing_an_api_rule_clears_its_catch_up(store: Store):
    store.write_sync(db_rules.insert_api_rule, "latency", {"name": "latency", "query": "up"})
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1"}, 1000.0)

    store.write_sync(db_rules.replace_api_rule, "latency", {"name": "latency", "query": "up == 0"})

    assert kept(store) == {}


def test_deleting_an_api_rule_clears_its_catch_up(store: Store):
    store.write_sync(db_rules.insert_api_rule, "latency", {"name": "latency", "query": "up"})
    store.write_sync(db_rules.save_catch_up, {"latency": "def-1"}, 1000.0)

    store.write_sync(db_rules.delete_api_rule, "latency", 2000.0)

    assert kept(store) == {}


def test_the_catch_up_of_rules_neither_configured_nor_stored_is_cleared(store: Store):
    store.write_sync(db_rules.insert_api_rule, "stored", {"name": "stored", "query": "up"})
    store.write_sync(db_rules.save_catch_up, {"stored": "d1", "configured": "d2", "removed": "d3"}, 1000.0)

    store.write_sync(db_rules.resolve_removed_rules, configured=["configured"], now=2000.0)

    assert set(kept(store)) == {"stored", "configured"}
