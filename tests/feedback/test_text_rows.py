"""An incident's full-text row is found by its id through `incident_text_rows`: re-indexing an incident,
adding its notes or reading its text costs the same whatever the history (FTS5 cannot index the id, and a
search of it read every row)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlite_utils

from receiver.storage import memory, migrations
from receiver.storage.search_index import rebuild_index
from tests.receiver.conftest import open_with_first_migrations
from tests.support.sqlite_steps import vm_steps


def _history(count: int) -> sqlite_utils.Database:
    db = sqlite_utils.Database(memory=True)
    migrations.migrate(db)
    for n in range(count):
        memory.index_text(db, f"inc-{n}", f"DiskFull instance=db-{n}", "capacity on db")
    return db


def _mapped(db: sqlite_utils.Database) -> dict[str, int]:
    return dict(db.conn.execute("SELECT incident_id, text_rowid FROM incident_text_rows").fetchall())


def test_indexing_an_incident_again_costs_the_same_whatever_the_history() -> None:
    small, large = _history(100), _history(3000)

    def work(db: sqlite_utils.Database) -> int:
        def again() -> None:
            memory.index_text(db, "inc-50", "DiskFull instance=db-50", "capacity again")
            memory.index_notes(db, "inc-50")
            memory.incident_text(db, "inc-50")

        again()  # the first write may merge FTS5's segments, whatever the lookup
        return vm_steps(db, again)

    assert work(large) <= 2 * work(small)  # reading every row: thousands of steps more


def test_an_incident_indexed_again_keeps_one_row_the_newest_with_its_notes() -> None:
    db = _history(5)
    db.conn.execute(
        "INSERT INTO incidents (id, alertname, stage, first_seen) VALUES ('inc-2', 'DiskFull', 'done', 1.0)"
    )
    db.conn.execute(
        "INSERT INTO feedback (incident_id, who, verdict, note, source, created_at, updated_at)"
        " VALUES ('inc-2', 'ana', 'wrong', 'the backup job filled it', 'api', 2.0, 2.0)"
    )
    memory.index_notes(db, "inc-2")

    memory.index_text(db, "inc-2", "DiskFull instance=db-2", "capacity again")

    rows = db.conn.execute(
        "SELECT rowid, diagnosis, notes FROM incident_text WHERE incident_id='inc-2'"
    ).fetchall()
    newest = db.conn.execute("SELECT max(rowid) FROM incident_text").fetchone()[0]
    assert rows == [(newest, "capacity again", "the backup job filled it")]
    assert _mapped(db)["inc-2"] == newest
    assert memory.incident_text(db, "inc-2") == "DiskFull instance=db-2 capacity again"
    assert memory.incident_text(db, "inc-9") == ""


def test_notes_of_an_incident_never_indexed_get_a_row_of_their_own() -> None:
    db = _history(2)
    db.conn.execute("INSERT INTO incidents (id, alertname, stage, first_seen) VALUES ('x', 'A', 'done', 1.0)")
    db.conn.execute(
        "INSERT INTO feedback (incident_id, who, verdict, note, source, created_at, updated_at)"
        " VALUES ('x', 'ana', 'correct', 'noted', 'api', 2.0, 2.0)"
    )

    memory.index_notes(db, "x")

    assert db.conn.execute("SELECT rowid, notes FROM incident_text WHERE incident_id='x'").fetchall() == [
        (_mapped(db)["x"], "noted")
    ]


def test_the_migration_maps_the_rows_an_older_database_has(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn, db = open_with_first_migrations(tmp_path / "v15.db", 15, monkeypatch)
    assert migrations.migrate(db) == 15
    for n, incident in enumerate(["a", "b", "a", "c"]):  # "a" indexed twice, as a bug might have left it
        conn.execute("INSERT INTO incident_text (incident_id, alert) VALUES (?, ?)", (incident, f"text {n}"))
    monkeypatch.undo()

    assert migrations.migrate(db) == len(migrations.MIGRATIONS)

    assert _mapped(db) == {"a": 3, "b": 2, "c": 4}


def test_a_rebuilt_index_is_mapped_anew() -> None:
    db = _history(0)
    for n in range(3):
        db.conn.execute(
            "INSERT INTO incidents (id, alertname, labels, annotations, stage, first_seen)"
            " VALUES (?, 'DiskFull', '{}', '{}', 'done', ?)",
            (f"inc-{n}", float(n)),
        )
        db.conn.execute(
            "INSERT INTO feedback (incident_id, who, verdict, source, created_at, updated_at)"
            " VALUES (?, 'ana', 'correct', 'api', 2.0, 2.0)",
            (f"inc-{n}",),
        )
        memory.index_text(db, f"inc-{n}", "DiskFull", "capacity")
    memory.index_text(db, "inc-0", "DiskFull", "capacity again")  # its row is now the newest
    db.conn.commit()

    rebuild_index(db, "incident_text")

    rows = dict(db.conn.execute("SELECT incident_id, rowid FROM incident_text").fetchall())
    assert _mapped(db) == rows and set(rows) == {"inc-0", "inc-1", "inc-2"}
