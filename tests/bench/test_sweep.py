"""`python -m bench.sweep` runs as documented: a row per backlog with the three picks, and refuses a list
it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import sweep


@pytest.fixture(autouse=True)
def logging_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """`main` points the process's logging at this test's captured stderr, which pytest closes after it:
    every later test's log lines would be dropped."""
    monkeypatch.setattr(sweep, "configure_logging", lambda *args: None)


def test_a_small_backlog_prints_its_row(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--waiting", "300", "--groups", "1,500", "--limit", "20", "--repeat", "1", "--finished", "50"]
    assert sweep.main(args) == 0
    lines = capsys.readouterr().out.splitlines()  # (the migration's log lines too: logging is left alone)
    rows = [line.split() for line in lines if line.split()[:1] == ["300"]]
    assert [row[:2] for row in rows] == [["300", "1"], ["300", "500"]]
    assert all(float(ms) >= 0 for row in rows for ms in row[2:5])


def test_the_backlog_gives_the_pick_it_gave_before(tmp_path: Path) -> None:
    """The window the sweeper ran before and today's pick choose the same incidents on the bench's data."""
    db = sweep.backlog(tmp_path / "b.sqlite", 2_000, 40, 100)
    try:
        for limit in (1, 39, 500):
            before = {str(i) for i, _ in db.conn.execute(sweep.WINDOW_SQL, (limit,))}
            assert set(sweep.db_incidents.work_ids(db, limit)) == before
    finally:
        db.conn.close()


def test_a_list_that_is_not_numbers_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        sweep.main(["--groups", "1,many"])
    assert exit_.value.code == 2
    assert "not a comma-separated list of whole numbers: '1,many'" in capsys.readouterr().err
