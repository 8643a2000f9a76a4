"""What a rule's query returns, as a user writing the rule should hear it: no series, counters, or series
sampled more slowly than the detection step."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.grid_repeats import sample_repeats
from detectors.rolling import forward_fill
from receiver.evidence.source import SeriesData
from receiver.scheduled.settings import RuleSettings, unreachable_min_samples


def counter_rows(values: np.ndarray, least: int = 20) -> np.ndarray:
    """Per row of a (k, n) block (NaN = no value), whether it looks like a counter: at least `least`
    rises, and at most one fall (a counter's reset) or 2 % of its moves. A gauge's noise falls about as
    often as it rises. A gap is bridged: the step across it counts once."""
    steps = np.diff(forward_fill(values), axis=1)
    with np.errstate(invalid="ignore"):
        rises, falls = (steps > 0).sum(axis=1), (steps < 0).sum(axis=1)
    return (rises >= least) & (falls <= np.maximum(1.0, 0.02 * (rises + falls)))


@dataclass(frozen=True)
class Sampling:
    """How a query's series sit on the detection grid: how many look like counters, and how many hold each
    sample for more than one step (`slow`, typically for `repeats` steps: scraped less often than that)."""

    counters: int = 0
    slow: int = 0
    repeats: float = 1.0


def sampling_of(values: np.ndarray) -> Sampling:
    """`Sampling` of a (k, n) block on the detection grid (NaN = no value)."""
    repeats = sample_repeats(values)
    held = repeats[repeats > 1]
    return Sampling(
        counters=int(counter_rows(values).sum()),
        slow=int(held.size),
        repeats=float(np.median(held)) if held.size else 1.0,
    )


def sampling_notes(sampling: Sampling, series: int, step: float) -> list[str]:
    """A note on the series that hold each sample for several steps: most of their steps are repeats, so
    the detector's step and burst features run low, and their real steps look large (on a quiet day about
    twice the false incidents of the same series detected at their own interval)."""
    if not sampling.slow:
        return []
    share = "every series" if sampling.slow == series else f"{sampling.slow} of {series} series"
    every = sampling.repeats * step
    return [
        f"{share} hold each sample for about {sampling.repeats:g} steps (sampled about every {every:g}s on"
        f" a {step:g}s step): detected at their own interval, with detection.step_seconds: {every:g}, they"
        " raise about half the false incidents"
    ]


def rises_only(values: np.ndarray, least: int = 20) -> bool:
    """`counter_rows` of one series."""
    return bool(counter_rows(np.asarray(values, dtype=float)[None, :], least)[0])


def count_counters(series: Sequence[SeriesData]) -> int:
    """How many of `series` look like counters."""
    return sum(rises_only(s.values) for s in series)


def rule_notes(query: str, series: int, counters: int, span: str) -> list[str]:
    """Notes on what `query` returned over `span` ("the range", "the last hour"): nothing, or counters."""
    if not series:
        return [f"{query!r} returned no series over {span} (a typo in a name or label, or no data yet?)"]
    if not counters:
        return []
    share = "every series" if counters == series else f"{counters} of {series} series"
    return [
        f"{share} only rose over {span}, as counters do: the anomalies of a running total are its"
        f" resets and its slope; detect on its rate instead, e.g. rate({query}[5m])"
    ]


def query_notes(query: str, series: Sequence[SeriesData], span: str) -> list[str]:
    """`rule_notes` of the series a query returned."""
    return rule_notes(query, len(series), count_counters(series), span)


def shape_notes(rule: RuleSettings, points: int) -> list[str]:
    """Notes on a rule the lookback's `points` cannot hold: a min_samples above them (it never fires), a
    window longer than them (the window is the whole lookback)."""
    never = unreachable_min_samples(rule, points)
    if never is not None:
        return [f"this rule never fires: {never}"]
    if rule.window_size > points:
        return [
            f"window_size={rule.window_size} is longer than the {points} points the lookback holds: the"
            " window is the whole lookback"
        ]
    return []


def gap_notes(gappy: int, longest: float, series: int, span: str) -> list[str]:
    """A note on the `gappy` of `series` series that miss data over `span` (the longest hole `longest` s)."""
    if not gappy:
        return []
    share = "every series" if gappy == series else f"{gappy} of {series} series"
    return [
        f"{share} miss data over {span} (the longest gap {longest / 60:.0f} min): missing data opens no"
        " incident unless the rule sets alert_on_gaps"
    ]
