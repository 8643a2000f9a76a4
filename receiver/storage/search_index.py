"""The full-text indexes (SQLite FTS5) are derived data: damage to them never stops the primary work.

`incident_text` is memory's text of diagnosed incidents (`memory.py`), `incident_search` the workbench's
search, kept by triggers on incidents and diagnoses (`workbench_tables.py`). Both are refilled from the
primary tables, so a damaged one is rebuilt rather than left to fail every write that touches it: dropped
(or, when too damaged to drop, unlinked from the schema, its pages unused until a VACUUM), created again
and filled. Every function runs on the Store's writer connection.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

import sqlite_utils

from receiver.storage.workbench_tables import INCIDENT_SEARCH_DDL, fill_incident_search

INCIDENT_TEXT_DDL = (
    "CREATE VIRTUAL TABLE incident_text USING fts5(incident_id UNINDEXED, alert, diagnosis, notes)"
)
# Each incident's row of `incident_text` (FTS5 does not index `incident_id`: finding a row by it reads them
# all). Written with the row (`memory.py`), refilled with the index.
INCIDENT_TEXT_ROWS_DDL = (
    "CREATE TABLE incident_text_rows (incident_id TEXT PRIMARY KEY, text_rowid INTEGER NOT NULL)"
)
# What FTS5 keeps for table t: t_data, t_idx, t_content, t_docsize, t_config.
_SHADOWS = ("data", "idx", "content", "docsize", "config")
_VALUES = "(SELECT ' ' || group_concat(value, ' ') FROM json_each(CASE WHEN json_valid({0}) THEN {0} END))"
_DIAGNOSIS = (
    "SELECT coalesce(json_extract(d.body, '$.primary_hypothesis.title'), '')"
    " || ' ' || coalesce(json_extract(d.body, '$.primary_hypothesis.category'), '')"
    " || ' ' || coalesce(json_extract(d.body, '$.primary_hypothesis.suspect'), '')"
    " || ' ' || coalesce(json_extract(d.body, '$.executive_summary'), '')"
    " FROM diagnoses d WHERE d.id = coalesce(s.diagnosis_id,"
    " (SELECT max(id) FROM diagnoses WHERE incident_id = i.id))"
)


def fill_incident_text(db: sqlite_utils.Database) -> None:
    """Memory's text of every remembered (signed or judged) incident, oldest first as it was indexed:
    alert name, label and annotation values, its diagnosis' headline and summary, feedback notes."""
    db.conn.execute(
        "INSERT INTO incident_text (incident_id, alert, diagnosis, notes) SELECT i.id,"
        f" i.alertname || coalesce({_VALUES.format('i.labels')}, '')"
        f" || coalesce({_VALUES.format('i.annotations')}, ''),"
        f" coalesce(({_DIAGNOSIS}), ''),"
        " coalesce((SELECT trim(group_concat(coalesce(note, '') || ' ' || coalesce(actual_cause, '') || ' '"
        " || coalesce(actual_category, ''), ' ')) FROM feedback f WHERE f.incident_id = i.id), '')"
        " FROM incidents i LEFT JOIN incident_signatures s ON s.incident_id = i.id"
        " WHERE s.incident_id IS NOT NULL OR i.id IN (SELECT incident_id FROM feedback)"
        " ORDER BY coalesce(s.created_at, i.first_seen), i.id"
    )
    fill_incident_text_rows(db)


def fill_incident_text_rows(db: sqlite_utils.Database) -> None:
    """`incident_text_rows` anew from `incident_text` (the newest row of an incident, were there two)."""
    db.conn.execute("DELETE FROM incident_text_rows")
    db.conn.execute(
        "INSERT INTO incident_text_rows (incident_id, text_rowid)"
        " SELECT incident_id, max(rowid) FROM incident_text GROUP BY incident_id"
    )


SEARCH_INDEXES: dict[str, tuple[str, Callable[[sqlite_utils.Database], None]]] = {
    "incident_text": (INCIDENT_TEXT_DDL, fill_incident_text),
    "incident_search": (INCIDENT_SEARCH_DDL, fill_incident_search),
}


@dataclass(frozen=True)
class Rebuilt:
    """A search index rebuilt: its name and whether it had to be unlinked (pages left for a VACUUM)."""

    index: str
    unlinked: bool


def is_damage(error: BaseException) -> bool:
    """Whether SQLite says what it read is damaged ("database disk image is malformed", an FTS5 table
    whose "vtable constructor failed"), rather than refusing a write for another reason."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    return isinstance(error, sqlite3.DatabaseError) and code == sqlite3.SQLITE_CORRUPT


def damaged_indexes(db: sqlite_utils.Database) -> list[str]:
    """The search indexes FTS5's 'integrity-check' finds damaged (it reads each whole index)."""
    damaged = []
    for name in SEARCH_INDEXES:
        try:
            db.conn.execute(f"INSERT INTO {name} ({name}) VALUES ('integrity-check')")
        except sqlite3.DatabaseError as exc:
            if not is_damage(exc):
                raise
            damaged.append(name)
    return damaged


def rebuild_index(db: sqlite_utils.Database, name: str) -> Rebuilt:
    """Replace the search index `name` with a new one filled from the primary tables, in one
    transaction (sqlite3.Error, nothing changed, when that fails)."""
    create, fill = SEARCH_INDEXES[name]
    droppable = _droppable(db, name)
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        if droppable:
            db.conn.execute(f"DROP TABLE {name}")
        else:
            _unlink(db, name)
        db.conn.execute(create)
        fill(db)
    except BaseException:
        db.conn.execute("ROLLBACK")
        raise
    db.conn.execute("COMMIT")
    return Rebuilt(name, unlinked=not droppable)


def _droppable(db: sqlite_utils.Database, name: str) -> bool:
    """Whether DROP TABLE works (tried, then rolled back): a table too damaged for it (its pages
    unreadable, or FTS5 cannot even open it) is unlinked from the schema instead, in a transaction of its
    own (after a failed DROP, SQLite refuses the schema change in the same one)."""
    db.conn.execute("BEGIN IMMEDIATE")
    try:
        db.conn.execute(f"DROP TABLE {name}")
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        return False
    finally:
        db.conn.execute("ROLLBACK")
    return True


def _unlink(db: sqlite_utils.Database, name: str) -> None:
    """Remove the table and its shadow tables from the schema; their pages stay unused until a VACUUM."""
    tables = [name, *(f"{name}_{shadow}" for shadow in _SHADOWS)]
    db.conn.execute("PRAGMA writable_schema=ON")
    try:
        db.conn.execute(f"DELETE FROM sqlite_master WHERE name IN ({','.join('?' for _ in tables)})", tables)
    finally:
        db.conn.execute("PRAGMA writable_schema=RESET")
