"""What a rule's query returns, as a user writing the rule should hear it: no series, or counters."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from receiver.evidence.source import SeriesData


def rises_only(values: np.ndarray, least: int = 20) -> bool:
    """Whether a series looks like a counter: at least `least` rises, and at most one fall (a counter's
    reset) or 2 % of its moves. A gauge's noise falls about as often as it rises."""
    steps = np.diff(values[np.isfinite(values)])
    rises, falls = int((steps > 0).sum()), int((steps < 0).sum())
    return rises >= least and falls <= max(1.0, 0.02 * (rises + falls))


def query_notes(query: str, series: Sequence[SeriesData], span: str) -> list[str]:
    """Notes on what `query` returned over `span` ("the range", "the last hour"): nothing, or counters."""
    if not series:
        return [f"{query!r} returned no series over {span} (a typo in a name or label, or no data yet?)"]
    counters = sum(rises_only(np.asarray(s.values, dtype=float)) for s in series)
    if not counters:
        return []
    share = "every series" if counters == len(series) else f"{counters} of {len(series)} series"
    return [
        f"{share} only rose over {span}, as counters do: the anomalies of a running total are its"
        f" resets and its slope; detect on its rate instead, e.g. rate({query}[5m])"
    ]
