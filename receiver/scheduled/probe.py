"""What a rule's query returns, as a user writing the rule should hear it: no series, counters, or series
sampled more slowly than the detection step or whose sampling changed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from detectors.rolling import forward_fill
from receiver.evidence.source import SeriesData
from receiver.scheduled.native_sampling import NativeGrid, native_grid
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
    """How a query's series sit on the detection grid: how many look like counters, how many hold each
    sample for more than one step (`slow`, typically for `repeats` steps: scraped less often than that, and
    detected at that interval), how many changed their sampling within it (`changed`, judged throughout at
    the coarser interval, typically `coarser` steps)."""

    counters: int = 0
    slow: int = 0
    repeats: float = 1.0
    changed: int = 0
    coarser: float = 1.0
    infinite: int = 0  # series with a ±Inf value (x/0): scored as missing data


def sampling_of(values: np.ndarray, native: NativeGrid | None = None) -> Sampling:
    """`Sampling` of a (k, n) block on the detection grid (NaN = no value), whose `NativeGrid` is `native`
    (read from `values` if not given)."""
    native = native if native is not None else native_grid(np.arange(values.shape[1]), values)
    held = native.repeats[(native.repeats > 1) & ~native.changed]
    changed = native.repeats[native.changed]
    return Sampling(
        counters=int(counter_rows(values).sum()),
        slow=int(held.size),
        repeats=float(np.median(held)) if held.size else 1.0,
        changed=int(changed.size),
        coarser=float(np.median(changed)) if changed.size else 1.0,
        infinite=int(np.isinf(values).any(axis=1).sum()),
    )


def sampling_notes(sampling: Sampling, series: int, step: float, span: str = "the lookback") -> list[str]:
    """Notes on the series that hold each sample for several steps (they are detected at their own
    interval, so their window counts samples, not steps), on those whose sampling changed within `span`,
    and on those with infinite values (a division by zero), which are scored as missing data."""
    notes = []
    if sampling.slow:
        every = sampling.repeats * step
        notes.append(
            f"{_share(sampling.slow, series, 'holds', 'hold')} each sample for about {sampling.repeats:g}"
            f" steps (sampled about every {every:g}s on a {step:g}s step): detected at their own interval,"
            " their window_size and min_samples count samples, not steps"
        )
    if sampling.changed:
        notes.append(
            f"{_share(sampling.changed, series, 'changed', 'changed')} sampling interval within {span}:"
            f" judged at the coarser one (about every {sampling.coarser * step:g}s) over all of it, so that"
            " the change itself opens nothing"
        )
    if sampling.infinite:
        notes.append(
            f"{_share(sampling.infinite, series, 'had', 'had')} infinite values (a division by zero: x/0 is"
            " +Inf): they are scored as missing data, so they open no incident unless the rule sets"
            " alert_on_gaps; guard the denominator in the query (`/ (x > 0)`) to leave them out"
        )
    return notes


def _share(some: int, series: int, one: str, many: str) -> str:
    """`some` of `series` series and the verb that agrees: "every series holds", "3 of 5 series hold"."""
    return f"every series {one}" if some == series else f"{some} of {series} series {many}"


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
    return [
        f"{_share(gappy, series, 'misses', 'miss')} data over {span} (the longest gap"
        f" {longest / 60:.0f} min): missing data opens no incident unless the rule sets alert_on_gaps"
    ]
