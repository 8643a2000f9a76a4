"""Streaming detection: one point at a time per series, state kept, no look-ahead.

The detector keeps the last `3 x window_size` points and scores the newest one with the same batch code
(`score_points`) run over that buffer, so streaming and batch agree on what a point's past implies
(`newest_scores`: zscore, robust_zscore and iqr over the buffer's last window and one hop of it, all the
newest point's score depends on; changepoint and ensemble step-test only the change points close enough
to reach it).
Isolation Forest keeps a longer history and is refitted as it grows (`detectors.forest_stream`).
`novelty` is natively streaming (`detectors.novelty`) and keeps its whole history instead of a buffer;
it also gets the timestamps (for its day-over-day comparison), as does `level_step_tail` (its seasonal
residual). `replay` scores a recorded series as a run of `update` calls would; for the buffer methods it
scores every full buffer in one columnar pass (the buffers as the rows of a block) instead of one at a time
(changepoint and ensemble measure every buffer's wander at once from running medians of the series,
`detectors.changepoint.sliding_wander`), the points before the first full buffer a hop at a time
(`head_scores`), which buffers are scored from running counts (`scorable_buffers`), and Isolation Forest
scores the points between two refits in one call. Values beyond `HUGE` are scaled down by a power of two
as batch scales a series (`overflow_scales`): each buffer by its own, the forest's history at each fit by
its own, and the series that novelty and the level-step scorers follow by the one of its first value
(their state cannot be rescaled later).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from detectors.batch import BlockStats, score_points
from detectors.changepoint import Wander, profile_block, scan_change_points, sliding_wander, wander_lag
from detectors.ensemble import combine_members
from detectors.errors import DetectorError
from detectors.forest_stream import StreamingForest, scorable_buffers
from detectors.level_step import LevelStepScorer
from detectors.level_step_tail import LevelStepTailScorer
from detectors.novelty import TailNoveltyScorer
from detectors.point_scores import PointScores
from detectors.rules import DetectionRule
from detectors.validation import InvalidInputError, as_float_array, overflow_scales
from detectors.zscore import block_hop

REPLAY_BLOCK = 2048  # buffers scored per columnar pass in `replay` (a few MB per block)
# Methods whose score of a buffer's last point uses only its last window and hop (`_local_start`): the
# trailing moments and the order statistics of the block the point falls in; the ensemble's other members,
# in its order.
_LOCAL = ("zscore", "robust_zscore", "iqr")
_BUFFERED = frozenset({"zscore", "robust_zscore", "iqr", "changepoint", "ensemble", "isolation_forest"})
_SCANNED = ("changepoint", "ensemble")  # the methods that scan their buffers for change points


class StreamingDetector:
    """Feed `update(timestamp, value)` in time order; each call returns the newest point's score in [0, 1]."""

    def __init__(self, rule: DetectionRule) -> None:
        if rule.method == "multivariate":
            raise DetectorError("multivariate needs several aligned series: use detect_batch instead")
        self.rule = rule
        size = 3 * rule.window_size
        self._times: deque[float] = deque(maxlen=size)
        self._values: deque[float] = deque(maxlen=size)
        self._seen = 0
        self._forest = StreamingForest(rule) if rule.method == "isolation_forest" else None
        self._novelty = TailNoveltyScorer(rule) if rule.method == "novelty" else None
        self._level_step = LevelStepScorer(rule) if rule.method == "level_step" else None
        self._level_step_tail = LevelStepTailScorer(rule) if rule.method == "level_step_tail" else None
        self._unit: float | None = None  # the stateful scorers' values are divided by it (`_in_units`)

    def update(self, timestamp: float, value: float) -> float:
        """Score of this point given only the points before it (0.0 while warming up or for a gap)."""
        v, t = _finite_or_nan(value), _finite_or_nan(timestamp)
        if self.rule.method not in _BUFFERED:
            v = self._in_units(v)
        if self._novelty is not None:
            return self._novelty.update(v, t) if math.isfinite(v) else 0.0
        if self._level_step_tail is not None:
            score = self._level_step_tail.update(v, t)[0]
            return score if math.isfinite(score) else 0.0
        if self._level_step is not None:
            score = self._level_step.update(v)[0]
            return score if math.isfinite(score) else 0.0
        self._times.append(t)
        self._values.append(v)
        self._seen += 1
        if self._forest is not None:
            self._forest.observe(v)
        return float(self._gated_scores(np.array(self._values)[None, :])[0])

    def _in_units(self, value: float) -> float:
        """`value` divided by the overflow scale of the series' first finite value (1 within `HUGE`)."""
        if self._unit is None:
            if not math.isfinite(value):
                return value
            self._unit = float(overflow_scales(np.array([[value]]))[0])
        return value / self._unit

    def replay(self, timestamps: np.ndarray, values: np.ndarray, block: int = REPLAY_BLOCK) -> np.ndarray:
        """The scores `update` would give each point of a recorded series, in order, leaving the detector
        as those calls would. zscore, robust_zscore, iqr, changepoint and ensemble score each full buffer
        as one row of a columnar block (`block` rows at a time) and the points before it a hop at a time
        (`head_scores`), Isolation Forest the points between two refits in one call; the others call
        `update` per point."""
        v = as_float_array(values).ravel()
        v[~np.isfinite(v)] = np.nan
        timestamps = as_float_array(timestamps).ravel()
        if timestamps.size != v.size:
            raise InvalidInputError(
                f"replay needs one timestamp per value: got {timestamps.size} and {v.size}"
            )
        if v.size == 0:
            return np.zeros(0)
        size = self._values.maxlen or 1
        if self._seen == 0 and self._forest is not None:
            # buffers padded with NaN at the front: the first points' buffers, as update sees them
            padded = np.concatenate([np.full(size - 1, np.nan), v])
            scores = np.concatenate([[], *self._replay_forest(v, sliding_window_view(padded, size), block)])
        elif self._seen == 0 and self.rule.method in _BUFFERED and v.size >= size:
            head = size - 1  # the buffer is not full yet: buffers of every length up to it
            scorable = scorable_buffers(v, size, self.rule.min_samples)
            if overflow_scales(v[None, :head])[0] == 1.0:
                out = head_scores(v[:head], self.rule, scorable[:head])
            else:  # buffers scaled one by one (`newest_scores`): one update at a time
                pairs = zip(timestamps[:head].tolist(), v[:head].tolist(), strict=True)
                out = np.array([self.update(t, x) for t, x in pairs])
            rows = sliding_window_view(v, size)  # row j: the buffer when point j + size - 1 arrives
            wander = self._buffer_wander(v, size)
            within = bool(overflow_scales(v[None, :])[0] == 1.0)  # and so is every buffer
            tail = [
                self._gated_scores(
                    rows[a : a + block],
                    None if wander is None else wander.rows(a, a + block),
                    scorable[head + a : head + a + block],
                    within,
                )
                for a in range(0, len(rows), block)
            ]
            scores = np.concatenate([out, *tail])
        else:
            return np.array([self.update(float(t), float(x)) for t, x in zip(timestamps, v, strict=True)])
        self._times.extend(float(t) for t in timestamps[-size:])
        self._values.extend(v[-size:].tolist())
        self._seen = v.size
        return scores

    def _replay_forest(self, values: np.ndarray, rows: np.ndarray, block: int) -> list[np.ndarray]:
        """Observe `values` (row j of `rows` is the buffer of values[j]) and score them: each run of points
        between two refits with the forest fitted before its first point, `block` buffers per call. Which
        buffers are scored is read from the series at once (`scorable_buffers`)."""
        forest = self._forest
        assert forest is not None
        scorable = scorable_buffers(values, rows.shape[1], self.rule.min_samples)
        recent = rows[:, -(self.rule.window_size + 2) :]  # all of a buffer the forest reads (`score`)
        scores: list[np.ndarray] = []
        j = 0
        while j < values.size:
            forest.observe(float(values[j]))  # may refit on the history before it
            end = min(values.size, j + forest.points_until_fit)
            forest.extend(values[j + 1 : end].tolist())
            for a in range(j, end, block):
                b = min(a + block, end)
                scores.append(self._gated_scores(recent[a:b], scorable=scorable[a:b]))
            j = end
        return scores

    def _buffer_wander(self, values: np.ndarray, size: int) -> Wander | None:
        """For changepoint and ensemble: the wander of every buffer of `values` (`sliding_wander`)."""
        if self.rule.method not in _SCANNED or overflow_scales(values[None, :])[0] != 1.0:
            return None  # such buffers are scaled one by one (`newest_scores`), their wander measured there
        block = profile_block(self.rule)
        return sliding_wander(values, size, wander_lag(block), block)

    def _gated_scores(
        self,
        buffers: np.ndarray,
        wander: Wander | None = None,
        scorable: np.ndarray | None = None,
        within_huge: bool = False,
    ) -> np.ndarray:
        """Score of the last point of each buffer (row), as `update` gives it: 0 for a gap, fewer than
        `min_samples` values or a flat buffer (`scorable`, if known beforehand: `scorable_buffers`). The
        forest scores with its current fit. `wander`: the buffers' wander for changepoint and ensemble, if
        measured beforehand; `within_huge`: the buffers are known to be within `HUGE`."""
        forest, rule = self._forest, self.rule
        if forest is not None:
            return _gated(buffers, rule, lambda block, _: forest.score(block), scorable)
        if wander is None:
            return _gated(
                buffers, rule, lambda block, _: newest_scores(block, rule, None, within_huge), scorable
            )
        return _gated(
            buffers, rule, lambda block, ok: newest_scores(block, rule, wander.select(ok)), scorable
        )


def _finite_or_nan(x: object) -> float:
    """`x` as a float; NaN for anything not a finite number (a gap, not an error)."""
    try:
        f = float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return f if math.isfinite(f) else math.nan


def newest_scores(
    buffers: np.ndarray, rule: DetectionRule, wander: Wander | None = None, within_huge: bool = False
) -> np.ndarray:
    """The batch score of each buffer's (row's) newest point, from only what that score depends on.

    zscore, robust_zscore and iqr: the running sums of the buffer's last window and one hop
    (`_local_start`), the order statistics of the newest point's hop block, and the threshold and member
    scores of the newest column only (`BlockStats(since=)`: the same floats as that column of the whole
    block's). changepoint:
    the change points in the last `window_size` columns (a change point scores the `window_size` points
    after it; Pelt still segments the whole buffer, which places them). ensemble: those members' parts.
    Buffers beyond `HUGE` are scaled first, as batch scales a series (`overflow_scales`); `wander`, if
    given, is of buffers within it, as are all with `within_huge`.
    """
    if wander is None and not within_huge:  # else nothing to scale
        scales = overflow_scales(buffers)
        if (scales != 1.0).any():
            buffers = buffers / scales[:, None]
    n = buffers.shape[1]
    start = _local_start(n, rule)
    local = BlockStats(buffers[:, start:], since=n - 1 - start)  # the newest column's statistics only
    if rule.method in _LOCAL:
        return score_points(local.values, rule, stats=local)[0].score[:, -1]
    if rule.method not in _SCANNED:
        return score_points(buffers, rule)[0].score[:, -1]
    scan = scan_change_points(buffers, rule, since=n - rule.window_size, wander=wander)
    newest = slice(n - 1, n)
    if rule.method == "changepoint":
        return scan.scores(np.full((buffers.shape[0], 1), rule.threshold), columns=newest).score[:, 0]
    key, threshold = local.threshold(rule)  # of the newest column, as the members' scores below
    zscore, robust, iqr = (local.points(m, rule, key, threshold) for m in _LOCAL)
    change = scan.scores(threshold, columns=newest)
    return combine_members(zscore, robust, iqr, change, change_rows=scan.rows).score[:, 0]


def head_scores(values: np.ndarray, rule: DetectionRule, scorable: np.ndarray) -> np.ndarray:
    """`newest_scores` of every prefix of `values` (within `HUGE`; `scorable`: which `_gated` scores), as
    a fresh detector's `update` gives its first points while its buffer fills. zscore, robust_zscore,
    iqr and ensemble: the prefixes with the same `_local_start` end in one stretch of the series, and their
    newest columns' statistics are columns of the stretch's (`BlockStats(since=)`), one pass per hop;
    changepoint and ensemble still scan each prefix for change points."""
    starts = np.array([_local_start(length, rule) for length in range(1, values.size + 1)])
    firsts = np.flatnonzero(np.diff(starts, prepend=-1)).tolist()
    scores = np.zeros(values.size)
    for first, end in zip(firsts, [*firsts[1:], values.size], strict=True):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            last = _newest_of_prefixes(values[:end], int(starts[first]), first, rule, scorable[first:end])
        scores[first:end] = np.where(scorable[first:end] & np.isfinite(last), last, 0.0)
    return scores


def _newest_of_prefixes(
    values: np.ndarray, start: int, first: int, rule: DetectionRule, scorable: np.ndarray
) -> np.ndarray:
    """`newest_scores` of the prefixes of `values` from `first + 1` points on, all with their `_local_start`
    at `start` (garbage where not `scorable`)."""
    local = BlockStats(values[None, start:], since=first - start)  # prefix j's newest column: j - first
    if rule.method in _LOCAL:
        return score_points(local.values, rule, stats=local)[0].score[0]
    scans = [
        (j, scan_change_points(values[None, : j + 1], rule, since=j + 1 - rule.window_size))
        for j in (np.flatnonzero(scorable) + first).tolist()
    ]
    if rule.method == "changepoint":
        flat = np.full((1, 1), rule.threshold)
        out = np.zeros(values.size - first)
        for j, scan in scans:
            out[j - first] = scan.scores(flat, columns=slice(j, j + 1)).score[0, 0]
        return out
    # ensemble: one row per prefix, as `newest_scores` combines the members of each buffer's newest point
    key, threshold = local.threshold(rule)
    zscore, robust, iqr = (_columns_as_rows(local.points(m, rule, key, threshold)) for m in _LOCAL)
    count = values.size - first
    change = PointScores(
        np.zeros((count, 1)), np.zeros((count, 1)), np.full((count, 1), np.nan), zscore.threshold
    )
    changed = []
    for j, scan in scans:
        if scan.found:
            c = j - first
            found = scan.scores(threshold[:, c : c + 1], columns=slice(j, j + 1))
            change.z[c], change.score[c], change.baseline[c] = found.z[0], found.score[0], found.baseline[0]
            changed.append(c)
    rows = np.array(changed, dtype=np.intp)
    return combine_members(zscore, robust, iqr, change, change_rows=rows).score[:, 0]


def _columns_as_rows(points: PointScores) -> PointScores:
    """A one-row `PointScores` as one row per column."""
    return PointScores(points.z.T, points.score.T, points.baseline.T, points.threshold.T)


def _local_start(length: int, rule: DetectionRule) -> int:
    """Where the columns a `_LOCAL` method's last score depends on begin in a buffer of `length`: the
    last window plus one order-statistic hop, from a whole number of hops (so the order statistics keep
    the phase they have over the whole buffer)."""
    hop = block_hop(rule.window_size)
    return max(0, (length - rule.window_size - hop) // hop * hop)


def _gated(
    buffers: np.ndarray,
    rule: DetectionRule,
    last_scores: Callable[[np.ndarray, np.ndarray], np.ndarray],
    scorable: np.ndarray | None = None,
) -> np.ndarray:
    """`last_scores(scorable buffers, their mask)` for the buffers that can be scored (a value last,
    `min_samples` values, not flat; `scorable`, if known beforehand); 0 for the others and where it gives
    NaN."""
    block, ok = buffers, scorable
    if ok is None:
        block = np.ascontiguousarray(buffers)
        finite = np.isfinite(block)
        ok = finite[:, -1] & (finite.sum(axis=1) >= rule.min_samples)
        ok &= np.where(finite, block, -np.inf).max(axis=1) != np.where(finite, block, np.inf).min(axis=1)
    scores = np.zeros(block.shape[0])
    if ok.any():
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # 1e300s: inf, scored 0 below
            last = last_scores(block[ok], ok)
        scores[ok] = np.where(np.isfinite(last), last, 0.0)
    return scores
