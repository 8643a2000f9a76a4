"""Full-text recall leaves out words most remembered incidents share: they pick out fewer incidents than
they leave, bm25 gives them no weight, and matching every incident on them is what the search's time went
on."""

from __future__ import annotations

import pytest
import sqlite_utils

from receiver.storage import memory
from receiver.storage.migrations import migrate

QUERY = "HighErrorRate prod payments checkout"


def _db(alike: int, checkout: set[int]) -> sqlite_utils.Database:
    """`alike` incidents of one alert in prod's payments; those numbered in `checkout` name checkout too."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    for n in range(alike):
        where = "payments checkout" if n in checkout else "payments"
        memory.index_text(db, f"inc-{n}", f"HighErrorRate prod {where} n{n}", "errors rose")
    return db


def _newest(db: sqlite_utils.Database) -> int:
    return int(db.conn.execute("SELECT max(rowid) FROM incident_text").fetchone()[0])


def test_words_in_more_than_half_of_the_incidents_are_left_out() -> None:
    db = _db(30, {4, 17, 25})

    words = memory.fts_words(QUERY)

    assert words == ["higherrorrate", "prod", "payments", "checkout"]
    assert memory.telling_words(db, words, _newest(db)) == ["checkout"]


def test_the_incidents_the_telling_words_find_are_those_bm25_ranked_first_on_every_word() -> None:
    db = _db(30, {4, 17, 25})
    every_word = db.conn.execute(
        "SELECT incident_id FROM incident_text WHERE incident_text MATCH ?"
        " ORDER BY bm25(incident_text) LIMIT 3",
        (memory.fts_query(memory.fts_words(QUERY)),),
    ).fetchall()

    found = memory._text_scores(db, QUERY, exclude="none")

    assert set(found) == {"inc-4", "inc-17", "inc-25"} == {row[0] for row in every_word}
    assert all(score > 0 for score in found.values())


def test_when_every_word_is_that_common_the_text_finds_nothing() -> None:
    db = _db(6, set())

    assert memory.telling_words(db, memory.fts_words(QUERY), _newest(db)) == ["checkout"]
    assert memory._text_scores(db, "HighErrorRate prod payments", exclude="inc-5") == {}


def test_a_word_in_half_of_the_incidents_still_tells_one_in_more_does_not() -> None:
    assert memory.telling_words(_db(6, {0, 1, 2}), ["checkout"], 6) == ["checkout"]
    assert memory.telling_words(_db(6, {0, 1, 2, 3}), ["checkout"], 6) == []


def test_how_common_a_word_is_is_read_from_the_newest_incidents(monkeypatch: pytest.MonkeyPatch) -> None:
    # checkout is in 3 of 30 incidents, but in 3 of the newest 4
    db = _db(30, {26, 27, 29})
    words = memory.fts_words(QUERY)

    assert memory.telling_words(db, words, _newest(db)) == ["checkout"]
    monkeypatch.setattr(memory, "COMMON_SAMPLE", 4)
    assert memory.telling_words(db, words, _newest(db)) == []
