"""A series scraped every 60 s and queried on a 15-s step holds each sample for four steps: it is detected at
its own interval (`receiver.scheduled.native_sampling`), and the rule's status and a backtest say so, and
that its window counts samples; so for a series whose sampling changed within the lookback."""

from __future__ import annotations

import numpy as np

from receiver.scheduled.probe import Sampling, sampling_notes, sampling_of


def _held(values: np.ndarray, every: int) -> np.ndarray:
    """`values` as a grid shows a series sampled every `every` points: each sample repeated."""
    return np.repeat(values[::every], every)[: values.size]


def test_series_held_for_four_steps_are_counted_and_the_note_names_their_interval():
    rng = np.random.default_rng(0)
    noise = rng.normal(100.0, 5.0, size=(5, 1440))
    block = np.vstack([_held(noise[0], 4), _held(noise[1], 4), _held(noise[2], 4), noise[3], noise[4]])
    sampling = sampling_of(block)
    assert (sampling.slow, sampling.repeats, sampling.counters) == (3, 4.0, 0)
    [note] = sampling_notes(sampling, 5, 15.0)
    assert note.startswith("3 of 5 series hold each sample for about 4 steps (sampled about every 60s")
    assert "detected at their own interval, their window_size and min_samples count samples" in note


def test_series_whose_sampling_changed_are_said_to_be_judged_at_the_coarser_interval():
    noise = np.random.default_rng(3).normal(100.0, 5.0, size=(2, 1440))
    slow_then_fast = np.r_[_held(noise[0], 4)[:1200], noise[0, 1200:]]  # 60 s, then 15 s
    sampling = sampling_of(np.vstack([slow_then_fast, noise[1]]))
    assert (sampling.changed, sampling.coarser, sampling.slow) == (1, 4.0, 0)
    [note] = sampling_notes(sampling, 2, 15.0, "the range")
    assert note.startswith("1 of 2 series changed sampling interval within the range: judged at the coarser")
    assert "(about every 60s)" in note


def test_series_sampled_at_the_step_need_no_note():
    noise = np.random.default_rng(1).normal(100.0, 5.0, size=(3, 1440))
    assert sampling_of(noise) == Sampling()
    assert sampling_notes(sampling_of(noise), 3, 15.0) == []


def test_infinite_values_are_said_to_be_scored_as_missing_data():
    """A ratio whose denominator fell to 0 is +Inf: the rule's status said "missing data" of it."""
    ratio = np.random.default_rng(2).normal(0.01, 0.001, size=(2, 1440))
    ratio[0, -5:] = np.inf
    sampling = sampling_of(ratio)
    assert sampling.infinite == 1
    [note] = sampling_notes(sampling, 2, 60.0)
    assert note.startswith("1 of 2 series had infinite values (a division by zero")
