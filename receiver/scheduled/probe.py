"""What a rule's query returns, as a user writing the rule should hear it: no series, or counters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

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
