"""How many grid points one sample fills, and what the change tests make of it."""

from __future__ import annotations

import numpy as np
import pytest

from detectors import fresh_change
from detectors.grid_repeats import coarsest_sampling, newest_phase, sample_repeats

N = 480


def _held(samples: np.ndarray, every: int, offset: int = 0) -> np.ndarray:
    """`samples` as a range query shows them on its grid: each one until the next arrives."""
    row = np.r_[np.full(offset, np.nan), np.repeat(samples, every)]
    return row[:N]


def test_the_sample_interval_is_read_off_where_the_value_changes() -> None:
    rng = np.random.default_rng(3)
    rows = np.array(
        [
            _held(rng.normal(50, 2, N), 1),
            _held(rng.normal(50, 2, N), 2),
            _held(rng.normal(50, 2, N), 4, offset=3),
            _held(rng.normal(50, 2, N), 8),
        ]
    )
    assert sample_repeats(rows).tolist() == [1.0, 2.0, 4.0, 8.0]


def test_the_phase_is_the_column_at_which_each_sample_first_shows() -> None:
    rng = np.random.default_rng(6)
    rows = np.array([_held(rng.normal(50, 2, N), 4, offset=o) for o in range(4)])
    repeats, phase, _ = coarsest_sampling(rows)
    assert repeats.tolist() == [4.0] * 4 and phase.tolist() == [0, 1, 2, 3]
    shown = rows[2, phase[2] :: 4]  # every fourth point from there: each sample once
    assert np.unique(shown[np.isfinite(shown)]).size == np.isfinite(shown).sum()


def test_the_phase_is_where_the_newest_samples_first_show() -> None:
    """Backfilled on the minute, then scraped at second 37: the newest samples first show a step later."""
    rng = np.random.default_rng(9)
    row = np.r_[_held(rng.normal(50, 2, N), 4)[:400], _held(rng.normal(50, 2, N), 4, offset=3)[: N - 400]]
    assert newest_phase(row[None, :], np.array([4.0]), first_column=8).tolist() == [(8 + 403) % 4]


@pytest.mark.parametrize("faster_later", [True, False])
def test_a_series_whose_interval_changed_is_read_at_the_coarser_one(faster_later: bool) -> None:
    """60 s for the first 3/4 of the grid and 15 s after (or the other way): no one factor fits the row."""
    rng = np.random.default_rng(7)
    slow, fast = _held(rng.normal(50, 2, N), 4), rng.normal(50, 2, N)
    row = np.r_[slow[:360], fast[360:]] if faster_later else np.r_[fast[:120], slow[120:]]
    assert sample_repeats(row[None, :]).tolist() == [1.0]
    repeats, phase, changed = coarsest_sampling(np.vstack([row, fast]), first_column=1001)
    assert repeats.tolist() == [4.0, 1.0] and changed.tolist() == [True, False]
    shown = row[(1001 + np.arange(N)) % 4 == phase[0]]  # every fourth point from the phase
    slow_part = shown[: 360 // 4] if faster_later else shown[120 // 4 :]
    assert np.unique(slow_part).size == slow_part.size  # each sample of the slow part once
    assert phase[0] == (1001 + 0) % 4  # where the slow part's samples first show: its columns 0, 4, 8...


def test_a_gauge_that_holds_its_value_at_every_step_is_not_mistaken_for_a_slow_one() -> None:
    rng = np.random.default_rng(4)
    pool = np.round(rng.normal(10, 0.5, (200, N)))  # 10, 10, 11, 10, 9, 10...: changes at any point
    sticky = (np.cumsum(rng.random((200, N)) < 0.05, axis=1) % 3).astype(float)  # holds a level a while
    assert (sample_repeats(pool) == 1).all()
    assert (sample_repeats(sticky) > 1).mean() <= 0.02
    # over a day of 15-s points, read span by span (a change of interval), no more often
    day = (np.cumsum(rng.random((400, 5760)) < 0.05, axis=1) % 3).astype(float)
    assert coarsest_sampling(day)[2].mean() <= 0.02


def test_a_series_that_barely_changes_keeps_its_points() -> None:
    flat_then_step = np.r_[np.full(400, 3.0), np.full(80, 9.0)]
    assert sample_repeats(flat_then_step[None, :]).tolist() == [1.0]


@pytest.mark.parametrize("every", [1, 4])
def test_a_fresh_change_weighs_samples_however_many_points_show_them(every: int) -> None:
    rng = np.random.default_rng(5)
    samples = rng.normal(100, 1, 120)  # two hours of one-minute samples, on a one-minute or 15-s grid
    samples[-1] = 104.0  # the newest sample a record: one chance in 60 (either side), not news at 1 %
    ts = np.arange(120 * every) * 60.0 / every
    assert fresh_change(ts, _held(samples, every)[: ts.size]) is None
    samples[-3:] = 104.0  # three records in a row are
    change = fresh_change(ts, _held(samples, every)[: ts.size])
    assert change is not None and change.anomalous and change.onset == ts[-3 * every]
