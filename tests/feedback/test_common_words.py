"""Full-text recall leaves out words most remembered incidents share: they pick out fewer incidents than
they leave, bm25 gives them no weight, and matching every incident on them is what the search's time went
on. Nor does it search more words than together match about as many incidents as the signature side
reads (`CANDIDATES`), the rarest first: what a recall reads does not grow with the history."""

from __future__ import annotations

import pytest
import sqlite_utils

from receiver.storage import memory
from receiver.storage.migrations import migrate
from tests.support.sqlite_steps import vm_steps

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


def _storm(count: int) -> sqlite_utils.Database:
    """`count` incidents, two in five of one recurring alert (its words in 40 % of the history)."""
    db = sqlite_utils.Database(memory=True)
    migrate(db)
    for n in range(count):
        text = "DeadManSwitch watchdog heartbeat" if n % 5 < 2 else f"HighErrorRate prod payments n{n}"
        memory.index_text(db, f"inc-{n}", text, "no anomalous series")
    return db


def test_words_expected_in_more_incidents_together_than_the_candidates_are_not_searched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = _db(30, {4, 17, 25})  # checkout in 3 of 30, n4 in one
    words = ["payments", "checkout", "n4"]
    monkeypatch.setattr(memory, "CANDIDATES", 4)
    assert memory.telling_words(db, words, _newest(db)) == ["checkout", "n4"]  # 1 + 3 incidents
    monkeypatch.setattr(memory, "CANDIDATES", 3)
    assert memory.telling_words(db, words, _newest(db)) == ["n4"]  # the rarest first
    monkeypatch.setattr(memory, "CANDIDATES", 0)
    assert memory.telling_words(db, words, _newest(db)) == []


def test_a_words_share_counts_for_the_whole_window_searched(monkeypatch: pytest.MonkeyPatch) -> None:
    # checkout in 3 of the newest 10: in about 30 % of the 40 searched, 12 incidents
    db = _db(40, {31, 35, 38})
    monkeypatch.setattr(memory, "COMMON_SAMPLE", 10)
    monkeypatch.setattr(memory, "CANDIDATES", 12)
    assert memory.telling_words(db, ["checkout"], _newest(db)) == ["checkout"]
    monkeypatch.setattr(memory, "CANDIDATES", 11)
    assert memory.telling_words(db, ["checkout"], _newest(db)) == []
    monkeypatch.setattr(memory, "TEXT_WINDOW", 30)  # 9 of the 30 searched
    assert memory.telling_words(db, ["checkout"], _newest(db)) == ["checkout"]


def test_a_recurring_alerts_recall_reads_no_more_as_its_history_grows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(memory, "CANDIDATES", 100)
    monkeypatch.setattr(memory, "COMMON_SAMPLE", 100)
    text = "DeadManSwitch watchdog heartbeat"

    def steps(db: sqlite_utils.Database) -> int:
        return vm_steps(db, lambda: memory._text_scores(db, text, exclude="new"))

    small, large = _storm(200), _storm(2000)  # its words in 80 incidents: searched; in 800: not

    found = memory._text_scores(small, text, exclude="new")
    assert len(found) == memory.TEXT_CANDIDATES
    assert all(int(incident.removeprefix("inc-")) % 5 < 2 for incident in found)
    assert memory._text_scores(large, text, exclude="new") == {}
    assert steps(large) <= steps(small)  # every match scored: ten times the steps


def test_rows_written_after_the_newest_was_read_do_not_count() -> None:
    """A diagnosis read the newest row id while the history was empty and the writer then indexed
    incidents (another statement, another snapshot): before, the sample counted them against an empty
    window and the recall failed with a division by zero (found in a storm's test run)."""
    db = _db(6, {0, 1, 2, 3})

    assert memory.telling_words(db, ["checkout"], 0) == ["checkout"]  # nothing sampled yet: all words
    assert memory.telling_words(db, ["checkout"], 2) == []  # the first two incidents: in both of them
