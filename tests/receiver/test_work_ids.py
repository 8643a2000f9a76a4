"""The sweeper's pick (`work_ids`): the groups in turn, the same rows as numbering every waiting incident
per group would give, at a cost that does not grow with the backlog."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest
import sqlite_utils

from receiver.storage import incidents as db_incidents
from receiver.storage.database import open_database
from tests.support.sqlite_steps import vm_steps

# What the sweeper read before: every waiting row numbered within its group (ties broken by rowid here).
REFERENCE_SQL = (
    "SELECT id, coalesce(group_key, '') FROM (SELECT id, group_key, first_seen, rowid AS r,"
    " ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY first_seen, rowid) AS turn"
    f" FROM incidents WHERE {db_incidents.WAITING}) ORDER BY turn, first_seen, r LIMIT ?"
)


@pytest.fixture
def db() -> Iterator[sqlite_utils.Database]:
    database = open_database(":memory:")
    yield database
    database.conn.close()


def add(db: sqlite_utils.Database, rows: list[tuple[str | None, float, str, int]]) -> None:
    """Incidents (group, first_seen, stage, resolve_pending), ids in insertion order."""
    start = db.conn.execute("SELECT count(*) FROM incidents").fetchone()[0]
    db.conn.executemany(
        "INSERT INTO incidents (id, group_key, first_seen, stage, resolve_pending) VALUES (?,?,?,?,?)",
        [(f"i{start + n:06d}", *row) for n, row in enumerate(rows)],
    )


def reference(db: sqlite_utils.Database, limit: int) -> list[tuple[str, str]]:
    return [(str(i), str(g)) for i, g in db.conn.execute(REFERENCE_SQL, (limit,))]


@pytest.mark.parametrize("seed", range(12))
def test_the_pick_is_the_groups_in_turn_for_any_mix_of_groups(db: sqlite_utils.Database, seed: int) -> None:
    rnd = random.Random(seed)
    groups: list[str | None] = [f"g{n}" for n in range(rnd.choice([1, 3, 40, 400]))] + [None]
    weights = [rnd.paretovariate(1.0) for _ in groups]  # a few large groups, many small ones
    rows = []
    for _ in range(rnd.choice([50, 600, 2000])):
        stage = rnd.choice(["collect", "diagnose", "done", "done"])
        pending = int(stage == "done" and rnd.random() < 0.2)  # a resolution still to deliver
        first_seen = float(rnd.randrange(500))  # ties too
        rows.append((rnd.choices(groups, weights)[0], first_seen, stage, pending))
    add(db, rows)
    for limit in (1, 2, 7, 64, 333, 5000):
        picked = db_incidents.work_ids(db, limit)
        assert list(picked.items()) == reference(db, limit), limit


def test_nothing_waiting_and_no_room_pick_nothing(db: sqlite_utils.Database) -> None:
    assert db_incidents.work_ids(db, 10) == {}
    add(db, [("g", 1.0, "done", 0), ("g", 2.0, "collect", 0)])
    assert db_incidents.work_ids(db, 0) == {}
    assert db_incidents.work_ids(db, 10) == {"i000001": "g"}


def test_a_lone_alert_behind_a_storm_is_in_the_first_two(db: sqlite_utils.Database) -> None:
    add(db, [("storm", float(n), "collect", 0) for n in range(3000)])
    add(db, [("lone", 5000.0, "collect", 0)])
    assert list(db_incidents.work_ids(db, 2)) == ["i000000", "i003000"]


def pick_steps(db: sqlite_utils.Database, limit: int) -> int:
    """SQLite virtual-machine instructions the pick runs (counted in hundreds), not seconds."""
    return vm_steps(db, lambda: db_incidents.work_ids(db, limit), every=100)


@pytest.mark.parametrize("groups", [1, 5, 2000])
def test_the_pick_reads_about_limit_rows_whatever_the_backlog(db: sqlite_utils.Database, groups: int) -> None:
    """A storm of 40,000 waiting incidents costs the pick what 4,000 do (the window over every waiting row
    it replaced grew with them). With more groups than the limit, it reads oldest first until the limit's
    worth of groups showed up."""
    rnd = random.Random(groups)
    add(db, [("done", float(n), "done", 0) for n in range(20_000)])  # history the pick must not read

    def storm(count: int) -> None:
        add(
            db,
            [(f"g{rnd.randrange(groups)}", float(rnd.randrange(10**6)), "collect", 0) for _ in range(count)],
        )

    storm(4_000)
    small = pick_steps(db, 100)
    storm(36_000)
    large = pick_steps(db, 100)
    assert large < 1.5 * small + 20, (small, large)
    old = db.conn.execute("SELECT count(*) FROM (" + REFERENCE_SQL + ")", (100,)).fetchone()[0]
    assert old == 100  # the same pick size, for the record
