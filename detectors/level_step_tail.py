"""Level-step tail, the default detector: level-step evidence calibrated against the series' own past.

Five dimensionless features per point, each in units of the series' day-long typical size
(`detectors.level_step`: s_e = typical |x - level|, s_step = typical |step|):
- deviation |e| / s_e, e = x - median of the previous window_size values;
- held step: the part of e the previous point's step brought, as far as it still holds at this point,
  / s_step (a one-point burst that reverts is left to the deviation; a level step counts a point late).
  In a smooth series, where the previous value predicts better than the window's median (s_step < s_e /
  sqrt(2), the same "explains half the variance" test as the seasonal one below), the step counts at its
  own point instead, as far as it leads away from the recent level (the median of the previous
  window_size / 3 values): a wandering series' jump back across its hour-old median is still a jump,
  and the return from a spike of a point or two is not (nor the first point after a missed scrape).
  Where the last three points were calm (each within 2 typical sizes of the level), it counts at least
  as far as x lies from the nearest of them: a drop while the series climbs lands near the lagging
  median and leads nowhere away from it, yet it is a step (the return from an excursion is not calm);
- burst: the mean of |step| / s_step over the last window_size points;
- record: how far x lies beyond the range of every earlier value, / s_e (0 inside it);
- shift: |mean of the last window_size / 3 values - level| / s_e.
Seasonal residual: with the number of points per day known (from timestamps) and daily periodicity evident,
the deviation and the shift are measured against what the same hour yesterday showed: the residual e - r,
r = the mean deviation over the hour around the same time one day earlier (deviation |e - r| / s_r, shift
|mean residual over the last window_size / 3 points| / s_r, s_r = 1.2533 x the mean |e - r| over the
scale horizon). Daily periodicity is evident when s_r < s_e / sqrt(2) (yesterday explains at least
half of the deviation's variance), judged once half a day of residuals is known; otherwise e is used as is.
Each feature is ranked against the same feature at every earlier point of the series (a histogram of
log-spaced bins, 10 % wide from 2 up: p = (earlier points in the same or a higher bin + 1) / (earlier points +
1), 1 below 2; past every earlier bin, p falls by 1.1 per further bin, a Pareto tail beyond the largest value
seen, so a far record outranks a near one). A heavy-tailed or periodic series that often shows a large
deviation learns that it is ordinary, while on a quiet series the same deviation is new. Within an
excursion (the run of consecutive present points at which a feature stays at or above 2; a missed scrape
does not end it) a point counts for that feature only where it reaches a higher bin than the excursion
so far: a level that stays shifted, or a window that still holds a past burst, is news once, not at every
point (a larger move within it is news again). The recent mean (of the last window_size / 3 values) is
ranked too, among every earlier one (`detectors.value_tail`), and is news once per run in the same way:
within a run of points at which it is rare, only where fewer earlier means lie beyond it than at any earlier
point of the run (a mean that sets a record at every point while a window fills is news once). With
s = -log10 of the smallest p, the score is min(1, s / (threshold x sqrt(log10(n + 2)))) (n earlier points;
novelty's normalisation), plus 0.01 x the level-step score so that ties still rank. While every value so far
is a non-negative integer (a count), the score is that of Anscombe's stabilised counts 2 sqrt(x + 3/8), whose
Poisson noise is about 1 at every level; from the first other value on, that of the values themselves.
Streaming, no look-ahead, no quiet period after an alarm (repeats score on their own merit); batch equals
streaming; O(n x bins) in batch.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from math import isfinite

import numpy as np

from detectors.calibration import directional
from detectors.level_step import (
    MEAN_ABS_TO_SD,
    SCALE_WINDOWS,
    LevelStepParts,
    LevelStepScorer,
    _TrailingMean,
    arrived,
    level_step_parts,
    score_from_level_step,
)
from detectors.point_scores import PointScores
from detectors.rolling import (
    WindowOrderStats,
    forward_fill,
    hopped_order_stats,
    trailing_mean,
    window_median,
    window_sum,
)
from detectors.rules import DetectionRule
from detectors.sampling_interval import INTERVALS_NEEDED, MAX_LAG, DailyLag
from detectors.value_tail import TAIL_COUNT, ValueTail, value_tail_counts
from detectors.zscore import block_hop, scale_floor

TAIL_BASE = 2.0  # a feature below 2 typical sizes is ordinary (p = 1)
BIN_RATIO = 1.1  # resolution of the ranking: 10 % wider beats a past point
BINS = 96  # 2 x 1.1^95 ~ 17,000 typical sizes and above share the top bin
TIE_BREAK = 0.01  # chosen on NAB and bench.ops among 0.001 / 0.01 / 0.05 / 0.1 / 0.2
FEATURES = 5
LOG10_BIN_RATIO = math.log10(BIN_RATIO)
LOG_BIN_RATIO = math.log(BIN_RATIO)
HOURS_PER_DAY = 24  # the seasonal reference: the hour around the same time yesterday
CALM_LAGS = 3  # a calm step is measured from each of the last 3 values: a spike of a point or two returns
COUNT_OFFSET = 3 / 8  # Anscombe's: 2 sqrt(x + 3/8) of Poisson counts has a variance of about 1
EVIDENT = 1 / math.sqrt(2)  # s_r below s_e / sqrt(2): yesterday explains half the deviation's variance


def reference_half_width(day_points: int) -> int:
    """Half of the seasonal reference's width: half an hour of points (the hour around the same time)."""
    return day_points // (2 * HOURS_PER_DAY)


def seasonal_reference(deviation: np.ndarray, day_points: int) -> np.ndarray:
    """Mean finite deviation over the hour around the same time one day earlier (NaN where unknown).

    Known from point max(INTERVALS_NEEDED, day + half) on: the streaming scorer learns the day's length
    from the first INTERVALS_NEEDED timestamps (`detectors.sampling_interval.DailyLag`).
    """
    k, n = deviation.shape
    out = np.full((k, n), np.nan)
    half = reference_half_width(day_points)
    start = max(INTERVALS_NEEDED, day_points + half)
    if day_points <= 0 or n <= start:
        return out
    finite = np.isfinite(deviation)
    total = np.cumsum(np.where(finite, deviation, 0.0), axis=1)
    count = np.cumsum(finite, axis=1)
    end = np.arange(start, n) - day_points + half  # last point of the reference window
    before = end - 2 * half - 1  # the point before its first (-1: none)
    ref_total = total[:, end] - np.where(before >= 0, total[:, np.maximum(before, 0)], 0.0)
    ref_count = count[:, end] - np.where(before >= 0, count[:, np.maximum(before, 0)], 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[:, start:] = np.where(ref_count > 0, ref_total / ref_count, np.nan)
    return out


def residual_min_periods(day_points: int, horizon: int) -> int:
    """Residuals s_r needs: half a day's points (or of the horizon, if shorter), so gaps do not block it."""
    return max(1, min(day_points, horizon) // 2)


def seasonal_scale(residual: np.ndarray, rule: DetectionRule, day_points: int) -> np.ndarray:
    """s_r: 1.2533 x the mean |residual| over the scale horizon, once half a day of residuals is known."""
    horizon = SCALE_WINDOWS * rule.window_size
    return (
        trailing_mean(np.abs(residual), horizon, residual_min_periods(day_points, horizon)) * MEAN_ABS_TO_SD
    )


def _bins_of(tail: np.ndarray) -> np.ndarray:
    """Bins of feature values >= TAIL_BASE."""
    return np.minimum(np.floor(np.log(tail / TAIL_BASE) / LOG_BIN_RATIO), BINS - 1).astype(np.int64)


def _point_bins(tail: list[float]) -> list[int]:
    """`_bins_of` of one point's tail features: numpy's log as in batch, the rest in Python (bit for bit)."""
    logs = np.log([f / TAIL_BASE for f in tail]).tolist()
    return [math.floor(min(x / LOG_BIN_RATIO, BINS - 1)) for x in logs]


def earlier_at_least(bins: np.ndarray) -> np.ndarray:
    """Per point of a (k, n) block with bin >= 0: how many earlier points of its row have a bin >= its own."""
    out = np.zeros(bins.shape)
    rows, cols = np.nonzero(bins >= 0)
    out[rows, cols] = _earlier_at_least(rows, bins[rows, cols])
    return out


def _earlier_at_least(rows: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """`earlier_at_least` over the tail points only, given row-major (row, bin) of each.

    Level by level from the lowest bin: among the points still in play (bin >= level, row-major order),
    a point of this level has as many such earlier points as it has predecessors in its row; then its
    level leaves play. O(sum over levels of the points at or above it).
    """
    count = np.zeros(rows.size)
    where = np.arange(rows.size)
    for level in range(int(bins.max(initial=-1)) + 1):
        ask = np.flatnonzero(bins == level)
        if ask.size:
            count[where[ask]] = ask - np.searchsorted(rows, rows[ask])
            keep = bins != level
            rows, bins, where = rows[keep], bins[keep], where[keep]
    return count


def tail_surprise(feature: np.ndarray, earlier: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rows, cols, -log10 p) of the points whose feature reaches TAIL_BASE (p = 1 everywhere else).

    Beyond every earlier bin of its row, p falls further by BIN_RATIO per bin past the highest earlier
    one (a Pareto tail of index 1 beyond the largest value seen), so far records outrank near ones.
    """
    with np.errstate(invalid="ignore"):
        rows, cols = np.nonzero(feature >= TAIL_BASE)
    bins = _bins_of(feature[rows, cols])
    count = _earlier_at_least(rows, bins)
    position = earlier[rows, cols]
    s = -np.log10((count + 1.0) / (position + 1.0))
    new = count == 0
    s[new] += (bins[new] - _earlier_highest(rows, bins)[new]) * math.log10(BIN_RATIO)
    s[~beyond_excursion(rows, position, bins)] = 0.0
    return rows, cols, s


# (feature, earlier points) of a (k, n) block -> (rows, cols, -log10 p) of its points in the tail
TailRank = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def beyond_excursion(rows: np.ndarray, position: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Per tail point (row-major; `position`: finite points before it): whether its bin is above every
    earlier bin of its excursion, the run of consecutive finite points of its row in the tail (a gap does
    not end a run). The first point of an excursion is news; a level that stays shifted is not news again.
    """
    start = np.ones(rows.size, dtype=bool)
    start[1:] = (rows[1:] != rows[:-1]) | (position[1:] != position[:-1] + 1)
    return bins > _earlier_highest(np.cumsum(start) - 1, bins)  # each run as a row of its own


def _earlier_highest(rows: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """Per tail point (row-major), the highest bin among the earlier tail points of its row (-1 if none)."""
    keyed = rows * (2 * BINS) + bins
    running = np.maximum.accumulate(keyed)
    previous = np.concatenate([[-1], running[:-1]]) - rows * (2 * BINS)
    return np.where(previous >= 0, previous, -1)


def _trailing_sum(x: np.ndarray, size: int) -> np.ndarray:
    """Sum of the last `size` values up to and including each point (NaN before `size` points)."""
    out = window_sum(np.cumsum(x, axis=1), size)
    out[:, : size - 1] = np.nan
    return out


def _earlier_extreme(filled: np.ndarray, accumulate: np.ufunc) -> np.ndarray:
    """Running max or min (np.fmax / np.fmin) of the values before each point (NaN at the first)."""
    out = np.empty(filled.shape)
    out[:, 0] = np.nan
    accumulate.accumulate(filled[:, :-1], axis=1, out=out[:, 1:])
    return out


def _record(values: np.ndarray, filled: np.ndarray, deviation_scale: np.ndarray) -> np.ndarray:
    """How far each value lies beyond the range of all earlier values, / s_e (0 inside or unknown)."""
    with np.errstate(invalid="ignore"):
        beyond = np.fmax(
            values - _earlier_extreme(filled, np.fmax), _earlier_extreme(filled, np.fmin) - values
        )
        beyond /= deviation_scale
    beyond[~(beyond > 0)] = 0.0
    return beyond


def _against_yesterday(
    parts: LevelStepParts, rule: DetectionRule, day_points: int, deviation: np.ndarray, shift: np.ndarray
) -> None:
    """Where daily periodicity is evident, measure the deviation and the shift against the seasonal
    reference instead (in place)."""
    m = recent_window(rule)
    residual = parts.deviation - seasonal_reference(parts.deviation, day_points)
    with np.errstate(invalid="ignore", divide="ignore"):
        residual_scale = np.maximum(seasonal_scale(residual, rule, day_points), scale_floor(parts.level))
        seasonal = residual_scale < EVIDENT * parts.deviation_scale
        deviation[seasonal] = (np.abs(residual) / residual_scale)[seasonal]
        recent_residual = _trailing_sum(np.nan_to_num(residual), m) / m
        shift[seasonal] = (np.abs(recent_residual) / residual_scale)[seasonal]


def held_step(along: np.ndarray, e: np.ndarray, d: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """The arrived step of the previous point, as far as it still holds: min(arrived_(t-1) / s_step,
    max(0, sign(e_(t-1)) (d_(t-1) + d_t)) / s_step), 0 where unknown. A step that reverts at once (a burst
    of a count series) scores nothing here; the deviation still sees the spike. One point late, no look-ahead.
    """
    out = np.zeros(along.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        kept = np.add(d[:, :-1], d[:, 1:], out=out[:, 1:])
        kept *= np.sign(e[:, :-1])
        np.maximum(kept, 0.0, out=kept)
        kept /= ss[:, :-1]
        np.minimum(along[:, :-1], kept, out=kept)
    return np.nan_to_num(out, copy=False)


def recent_window(rule: DetectionRule) -> int:
    """How many points the recent mean and the recent level span: window_size / 3 (at least 2)."""
    return max(2, rule.window_size // 3)


def smooth(step_scale: np.ndarray, deviation_scale: np.ndarray) -> np.ndarray:
    """Where the previous value predicts the series better than the window's median: s_step < s_e / sqrt(2),
    i.e. the last value explains at least half of the deviation's variance (False where either is unknown)."""
    with np.errstate(invalid="ignore"):
        return step_scale < EVIDENT * deviation_scale


def sudden_step(values: np.ndarray, d: np.ndarray, ss: np.ndarray, rule: DetectionRule) -> np.ndarray:
    """The step at its own point as far as it leads away from the recent level (the median of the
    previous window_size / 3 values, refreshed as the level is), / s_step; 0 where unknown.

    Against the recent level, not the window's: in a series that wanders, a jump back across an
    hour-old median is still a jump, while the return from a spike of a point or two is not. The first
    point after a missed scrape has no one-step change (0): the series moved for longer than a step.
    """
    m = recent_window(rule)
    recent = hopped_order_stats(values, m, block_hop(m), min(rule.min_samples, m)).median
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.nan_to_num(arrived(values - recent, d) / ss)
    out[:, 1:][~np.isfinite(values[:, :-1])] = 0.0
    return out


def calm_step(values: np.ndarray, deviation: np.ndarray, ss: np.ndarray) -> np.ndarray:
    """Where each of the last CALM_LAGS points lay within TAIL_BASE typical sizes of the level (deviation
    below it): how far x lies from the nearest of them, / s_step; 0 elsewhere, where unknown, and at the
    first point after a missed scrape.

    `sudden_step` counts a step only as far as it leads away from the recent level, so a drop while the
    series climbs, which lands near the hour's median, counted nothing. From a calm stretch it is a step
    all the same; the return from an excursion is not (its last points were not calm), nor the return
    from a spike of a point or two (x is back near a value of the last three).
    """
    filled = forward_fill(values)
    far = np.full(values.shape, np.inf)
    calm = np.ones(values.shape, dtype=bool)
    with np.errstate(invalid="ignore"):
        for lag in range(1, CALM_LAGS + 1):
            np.minimum(far[:, lag:], np.abs(values[:, lag:] - filled[:, :-lag]), out=far[:, lag:])
            calm[:, lag:] &= deviation[:, :-lag] < TAIL_BASE
        calm[:, :CALM_LAGS] = False
        out = np.where(calm, far / ss, 0.0)
    out = np.nan_to_num(out, nan=0.0, posinf=0.0)
    out[:, 1:][~np.isfinite(values[:, :-1])] = 0.0
    out[~np.isfinite(values)] = 0.0
    return out


def tail_features(
    values: np.ndarray, rule: DetectionRule, stats: WindowOrderStats | None = None, day_points: int = 0
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray, np.ndarray]:
    """The five features of a (k, n) block (NaN at gaps), the level-step z, the level and the recent mean
    (of the last window_size / 3 values; NaN at gaps).

    `day_points` (points per day, 0 when unknown) enables the seasonal residual.
    """
    parts = level_step_parts(values, rule, stats)
    e, d, se, ss = parts.deviation, parts.step, parts.deviation_scale, parts.step_scale
    finite = np.isfinite(values)
    first = np.argmax(finite, axis=1)[:, None]
    before_first = np.arange(values.shape[1])[None, :] < first
    filled = forward_fill(values)  # leading gaps take the first finite value: reset them below
    filled[before_first] = np.nan
    m = recent_window(rule)
    with np.errstate(invalid="ignore", divide="ignore"):
        deviation = np.abs(e) / se
        along = held_step(np.nan_to_num(arrived(e, d)) / ss, e, d, ss)
        steady = smooth(ss, se)
        rows = np.flatnonzero(steady.any(axis=1))
        if rows.size:  # where the previous value predicts better, a step counts at once
            sudden = sudden_step(values[rows], d[rows], ss[rows], rule)
            np.maximum(sudden, calm_step(values[rows], deviation[rows], ss[rows]), out=sudden)
            along[rows] = np.where(steady[rows], sudden, along[rows])
        burst = _trailing_sum(np.nan_to_num(np.abs(d) / ss), rule.window_size) / rule.window_size
        mean = _trailing_sum(np.where(before_first, 0.0, filled), m) / m
        mean[np.arange(values.shape[1])[None, :] < first + m - 1] = np.nan
        shift = np.abs(mean - parts.level) / se
        if day_points > 0 and values.shape[1] > day_points + reference_half_width(day_points):
            _against_yesterday(parts, rule, day_points, deviation, shift)
    record = _record(values, filled, se)
    features = [deviation, along, burst, record, shift]
    for f in features:
        f[~finite] = np.nan
    mean[~finite] = np.nan
    return features, parts.z(), parts.level, mean


def mean_tail_news(mean: np.ndarray, earlier: np.ndarray) -> np.ndarray:
    """The recent mean's `value_tail_surprise`, news once per excursion as the features are: within a run of
    consecutive present points at which the mean is rare (a missed scrape does not end it), a point counts
    only where fewer earlier values lie beyond it than at every earlier point of the run (a mean that keeps
    setting records while a level change fills the window is news once)."""
    c, n = value_tail_counts(mean)
    rows, cols = np.nonzero(c < TAIL_COUNT)
    out = np.zeros(mean.shape)
    rare = c[rows, cols]
    news = beyond_excursion(rows, earlier[rows, cols], TAIL_COUNT - rare)
    rows, cols, rare = rows[news], cols[news], rare[news]
    out[rows, cols] = -np.log10(np.minimum(1.0, 2.0 * (rare + 1.0) / (n[rows, cols] + 1.0)))
    return out


def tail_score(surprise: np.ndarray, earlier: np.ndarray, threshold: float) -> np.ndarray:
    """min(1, s / (threshold x sqrt(log10(n + 2))))."""
    return np.minimum(surprise / (threshold * np.sqrt(np.log10(earlier + 2.0))), 1.0)


def counts_so_far(values: np.ndarray) -> np.ndarray:
    """Per point of a (k, n) block: every finite value up to it is a non-negative integer (a count)."""
    with np.errstate(invalid="ignore"):
        other = np.isfinite(values) & ~((values >= 0) & (values == np.round(values)))
    return np.cumsum(other, axis=1) == 0


def stabilised(values: np.ndarray) -> np.ndarray:
    """Anscombe's transform 2 sqrt(x + 3/8): Poisson counts get a variance of about 1 at every level."""
    with np.errstate(invalid="ignore"):
        return 2.0 * np.sqrt(values + COUNT_OFFSET)


def level_step_tail_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    stats: WindowOrderStats | None = None,
    day_points: int = 0,
    rank: TailRank = tail_surprise,
) -> PointScores:
    """Batch form over a (k, n) block; equal to `LevelStepTailScorer` run over each row (`day_points`: points
    per day of the block's grid, 0 when unknown). `rank` ranks a feature among its earlier values (another
    one is for experiments: `bench.tail_fit`).

    While a row has shown only counts, its score is that of the stabilised counts (z and baseline stay in
    the row's units); both are computed over that prefix only, so the choice never looks ahead.
    """
    points = _tail_points(values, rule, threshold, stats, day_points, rank)
    first = values[np.arange(values.shape[0]), np.argmax(np.isfinite(values), axis=1)]
    with np.errstate(invalid="ignore"):
        rows = np.flatnonzero((first >= 0) & (first == np.round(first)))  # the rows that start as counts
    if rows.size:
        counting = counts_so_far(values[rows])
        prefix = int(counting.sum(axis=1).max())
        counting = counting[:, :prefix]
        threshold = np.broadcast_to(threshold, values.shape)[rows, :prefix]
        counted = _tail_points(stabilised(values[rows, :prefix]), rule, threshold, None, day_points, rank)
        points.score[rows, :prefix] = np.where(counting, counted.score, points.score[rows, :prefix])
    return points


def _tail_points(
    values: np.ndarray,
    rule: DetectionRule,
    threshold: np.ndarray,
    stats: WindowOrderStats | None,
    day_points: int,
    rank: TailRank,
) -> PointScores:
    """The tail score of a (k, n) block in its own units."""
    features, z, level, mean = tail_features(values, rule, stats, day_points)
    finite = np.isfinite(values)
    earlier = np.cumsum(finite, axis=1) - finite
    surprise = mean_tail_news(mean, earlier)
    for f in features:
        rows, cols, s = rank(f, earlier)
        surprise[rows, cols] = np.maximum(surprise[rows, cols], s)
    z = np.where(np.isnan(z), np.nan, directional(z, rule.direction))
    score = score_from_level_step(z, rule.threshold)
    np.nan_to_num(score, copy=False)
    score *= TIE_BREAK
    rows, cols = np.nonzero(surprise)
    score[rows, cols] += (1 - TIE_BREAK) * tail_score(
        surprise[rows, cols], earlier[rows, cols], rule.threshold
    )
    if rule.direction != "both":
        score = np.where(np.nan_to_num(z) == 0, np.minimum(score, 0.49), score)
    score[~finite] = np.nan
    return PointScores(z=z, score=score, baseline=level, threshold=threshold)


class _TrailingSum:
    """Sum of the last `size` pushed values (NaN before `size`), by the same running total as np.cumsum."""

    def __init__(self, size: int) -> None:
        # the running totals `size` pushes back: NaN until the first push is that far back, then 0 before it
        self._totals: deque[float] = deque([math.nan] * (size - 1) + [0.0], maxlen=size + 1)
        self._total = 0.0

    def push(self, x: float) -> float:
        self._total += x
        self._totals.append(self._total)
        return self._total - self._totals[0]


class LevelStepTailScorer:
    """Streaming level-step tail score: O(window x SCALE_WINDOWS + FEATURES x BINS) memory and time (twice
    that while the series has shown only counts: a second scorer follows the stabilised counts)."""

    def __init__(self, rule: DetectionRule) -> None:
        self.rule = rule
        self._daily = DailyLag()
        self._plain = _TailScorer(rule)
        self._counts: _TailScorer | None = _TailScorer(rule)

    def update(self, value: float, timestamp: float | None = None) -> tuple[float, float]:
        """(score, signed z) of `value` given only the past, then learn it (a NaN gap scores NaN).

        Timestamps (seconds) teach the scorer the points per day, which enables the seasonal residual.
        """
        day = self._daily.update(timestamp) if timestamp is not None else 0
        if self._counts is not None and isfinite(value) and not (value >= 0 and value == round(value)):
            self._counts = None
        if self._counts is None:
            return self._plain.update(value, day)
        z = self._plain.learn(value, day)
        stabilised_value = 2.0 * math.sqrt(value + COUNT_OFFSET) if isfinite(value) else value
        return self._counts.update(stabilised_value, day)[0], z


class _TailScorer:
    """The streaming tail score of a series in its own units (`day`: points per day, 0 while unknown)."""

    def __init__(self, rule: DetectionRule) -> None:
        self.rule = rule
        self._level_step = LevelStepScorer(rule)
        self._seasonal = _SeasonalResidual(rule)
        self._mean_tail = ValueTail()
        self._window = rule.window_size
        self._mean_len = recent_window(rule)
        self._recent_level = _RecentLevel(rule)
        self._burst = _TrailingSum(rule.window_size)
        self._held = _HeldStep()
        self._calm = _CalmStep()
        self._mean = _TrailingSum(self._mean_len)
        self._known = 0  # points since the first finite value: the recent mean needs window_size / 3
        self._high = self._low = self._filled = math.nan
        self._counts = [[0] * BINS for _ in range(FEATURES)]
        self._highest = [-1] * FEATURES
        self._excursion = [-1] * FEATURES  # per feature, the highest bin of its excursion (-1: none)
        self._in_excursion = False
        self._earlier = 0
        self._mean_lowest = TAIL_COUNT  # the fewest earlier means beyond one of the run (TAIL_COUNT: none)
        self._direction, self._threshold = rule.direction, rule.threshold

    def update(self, value: float, day: int) -> tuple[float, float]:
        """(score, signed z) of `value` given only the past, then learn it (a NaN gap scores NaN)."""
        earlier = self._earlier
        surprise, z = self._observe(value, day, scored=True)
        if surprise:  # else the term is surprise itself (0.0 or -0.0)
            surprise = min(surprise / (self._threshold * math.sqrt(math.log10(earlier + 2.0))), 1.0)
        score = (1 - TIE_BREAK) * surprise
        if isfinite(z):
            score += TIE_BREAK * abs(z) / (abs(z) + self._threshold)
        if self._direction != "both" and not (isfinite(z) and z != 0):
            score = min(score, 0.49)
        return (score if isfinite(value) else math.nan), z

    def learn(self, value: float, day: int) -> float:
        """The signed z (of the rule's direction) of `value` given only the past, then learn it: `update`
        without the score, for the scorer whose score is not used."""
        return self._observe(value, day, scored=False)[1]

    def _observe(self, value: float, day: int, scored: bool) -> tuple[float, float]:
        """(surprise, signed z of the rule's direction) of `value`, then learn it (surprise 0 unscored)."""
        features, z, mean = self._features(value, day)
        surprise = self._mean_news(value, mean, scored)
        deviation, held, burst, record, shift = features
        base = TAIL_BASE  # rare: most points bin nowhere
        if deviation >= base or held >= base or burst >= base or record >= base or shift >= base:
            surprise = self._rank(features, surprise, scored)
        elif self._in_excursion and isfinite(value):
            self._excursion = [-1] * FEATURES
            self._in_excursion = False
        self._earlier += isfinite(value)
        if (self._direction == "up" and z < 0) or (self._direction == "down" and z > 0):
            z = 0.0
        return surprise, z

    def _mean_news(self, value: float, mean: float, scored: bool) -> float:
        """`mean_tail_news` of this point's recent mean (0 unscored), then learn the mean."""
        tail = self._mean_tail
        beyond = tail.count_beyond(mean)
        surprise = 0.0
        if beyond >= TAIL_COUNT:
            if isfinite(value):  # a missed scrape does not end the run
                self._mean_lowest = TAIL_COUNT
        elif beyond < self._mean_lowest:
            self._mean_lowest = beyond
            surprise = tail.surprise_of(beyond) if scored else 0.0
        tail.learn(mean)
        return surprise

    def _rank(self, features: list[float], surprise: float, scored: bool) -> float:
        """Count each feature that reaches the tail in its histogram; with `scored`, the largest of
        `surprise` and their surprises among the earlier points (else `surprise` as it is)."""
        excursion = self._excursion
        tail = []
        for f in range(FEATURES):
            if features[f] >= TAIL_BASE:
                tail.append(f)
            else:  # NaN too: a feature unknown at a value ends its excursion
                excursion[f] = -1
        bins = _point_bins([features[f] for f in tail])
        for f, b in zip(tail, bins, strict=True):
            counts = self._counts[f]
            if scored and b > excursion[f]:
                at_least = sum(counts[b:])
                s = -math.log10((at_least + 1.0) / (self._earlier + 1.0))
                if at_least == 0:
                    s += (b - self._highest[f]) * LOG10_BIN_RATIO
                surprise = max(surprise, s)
            counts[b] += 1
            self._highest[f] = max(self._highest[f], b)
            excursion[f] = max(excursion[f], b)
        self._in_excursion = True
        return surprise

    def _features(self, value: float, day: int) -> tuple[list[float], float, float]:
        """The five features, the level-step z and the recent mean (NaN features and mean at a gap)."""
        level, e, d, se, ss, z = self._level_step.observe(value)
        residual, residual_scale, recent_residual = self._seasonal.observe(e, self._level_step.floor, day)
        finite = isfinite(value)
        if finite:
            self._filled = value
        known = finite or self._known > 0  # a finite value so far
        step_size = abs(d) / ss
        burst = self._burst.push(step_size if isfinite(step_size) else 0.0) / self._window
        mean = self._mean.push(self._filled if known else 0.0) / self._mean_len
        self._known += known
        if self._known < self._mean_len:
            mean = math.nan
        # the held step, or where smooth the sudden one
        stepped = self._held.observe(_arrived(e, d) / ss, e, d, ss)
        recent, after_gap = self._recent_level.observe(value)
        if ss < EVIDENT * se:  # `smooth`: the step counts at once, against the recent level (`sudden_step`)
            stepped = 0.0 if after_gap else max(_arrived(value - recent, d) / ss, self._calm.step(value, ss))
        self._calm.learn(value, self._filled, abs(e) / se if se > 0 else math.nan)
        if not finite:
            return [math.nan] * FEATURES, z, math.nan
        high, low = self._high, self._low
        if isfinite(high):
            beyond = max(value - high, low - value) / se
            if value > high:
                self._high = value
            if value < low:
                self._low = value
        else:
            beyond = math.nan
            self._high = self._low = value
        features = [abs(e) / se, stepped, burst, beyond if beyond > 0 else 0.0, abs(mean - level) / se]
        if residual_scale < EVIDENT * se:
            features[0] = abs(residual) / residual_scale
            features[4] = abs(recent_residual) / residual_scale
        return features, z, mean


def _arrived(deviation: float, step: float) -> float:
    """`arrived` of one point: the step along the deviation, clipped to [0, |deviation|] (0 where unknown)."""
    if deviation and isfinite(deviation):
        toward = step if deviation > 0 else -step
        if toward > 0.0:
            return toward if toward <= abs(deviation) else abs(deviation)
    return 0.0


class _HeldStep:
    """Streaming `held_step`: remembers the previous point's arrived step, step, sign of e and s_step."""

    def __init__(self) -> None:
        self._along = self._step = self._sign = self._scale = math.nan

    def observe(self, along: float, e: float, d: float, ss: float) -> float:
        """The held part of the previous point's arrived step (/ s_step), then remember this point's."""
        held = 0.0  # below TAIL_BASE (held <= the arrived step) every value ranks alike: p = 1
        if self._along >= TAIL_BASE:
            moved = self._sign * (self._step + d)
            kept = max(moved, 0.0) / self._scale if isfinite(moved) else math.nan
            held = min(self._along, kept) if isfinite(self._along) and isfinite(kept) else 0.0
        self._along, self._step, self._scale = along, d, ss
        self._sign = (math.copysign(1.0, e) if e else 0.0) if isfinite(e) else math.nan
        return held


class _CalmStep:
    """Streaming `calm_step` (CALM_LAGS = 3): the last three values (forward-filled) and deviations."""

    def __init__(self) -> None:
        self._values = (math.nan, math.nan, math.nan)
        self._deviations = (math.nan, math.nan, math.nan)
        self._after_gap = False

    def step(self, value: float, ss: float) -> float:
        """The calm step of `value` (/ `ss`): asked only where the series is smooth."""
        d1, d2, d3 = self._deviations
        if d1 < TAIL_BASE and d2 < TAIL_BASE and d3 < TAIL_BASE and not self._after_gap and isfinite(value):
            x1, x2, x3 = self._values  # each finite: its deviation was
            far = min(abs(value - x1), abs(value - x2), abs(value - x3))
            if ss > 0 and isfinite(far / ss):
                return far / ss
        return 0.0

    def learn(self, value: float, filled: float, deviation: float) -> None:
        """Remember the point's filled value and deviation (NaN at a gap)."""
        finite = isfinite(value)
        self._after_gap = not finite
        self._values = (self._values[1], self._values[2], filled)
        self._deviations = (self._deviations[1], self._deviations[2], deviation if finite else math.nan)


class _RecentLevel:
    """Streaming recent level of `sudden_step`: the median of the previous window_size / 3 values, refreshed
    every `block_hop` of them (as `hopped_order_stats` has it)."""

    def __init__(self, rule: DetectionRule) -> None:
        size = recent_window(rule)
        self._values: deque[float] = deque([math.nan] * size, maxlen=size)
        self._hop = block_hop(size)
        self._min_periods = min(rule.min_samples, size)
        self._seen = 0
        self._level = math.nan

    def observe(self, value: float) -> tuple[float, bool]:
        """(the recent level before `value`, whether a missed scrape came just before it); then learn it."""
        if self._seen % self._hop == 0:
            self._level = window_median(self._values, self._min_periods)
        after_gap = self._seen > 0 and not isfinite(self._values[-1])
        self._seen += 1
        self._values.append(value)
        return self._level, after_gap


class _SeasonalResidual:
    """Streaming `seasonal_reference` and `seasonal_scale`: the residual e - r, s_r and the mean residual over
    the last window_size / 3 points (gaps count 0). O(1) a point, O(MAX_LAG) memory."""

    def __init__(self, rule: DetectionRule) -> None:
        self._horizon = SCALE_WINDOWS * rule.window_size
        self._size: _TrailingMean | None = None  # of |e - r|, made once the day's length is known
        self._mean_len = recent_window(rule)
        self._recent = _TrailingSum(self._mean_len)
        # running total and count of the finite deviations after each point: a ring of the last `_capacity`
        self._capacity = MAX_LAG + reference_half_width(MAX_LAG) + 1
        self._totals = [0.0] * self._capacity
        self._counts = [0] * self._capacity
        self._total, self._count, self._seen = 0.0, 0, 0
        self._day = self._half = 0
        self._start = INTERVALS_NEEDED

    def observe(self, deviation: float, floor: float, day: int) -> tuple[float, float, float]:
        """(residual, s_r, mean recent residual) of this point (`day`: points per day, 0 while unknown;
        `floor`: `point_scale_floor` of the level) given only the past, then learn it."""
        if day != self._day:
            self._learn_day(day)
        residual, scale, seen = math.nan, math.nan, self._seen
        if day > 0 and seen >= self._start:  # the reference: the hour around this time a day ago
            end = (seen - day + self._half) % self._capacity
            count, total = self._counts[end], self._totals[end]
            if seen - day - self._half - 1 >= 0:
                before = (seen - day - self._half - 1) % self._capacity
                count -= self._counts[before]
                total -= self._totals[before]
            if count > 0:
                residual = deviation - total / count
        if self._size is not None:
            size = self._size.push(abs(residual))
            if isfinite(size):
                scale = max(size * MEAN_ABS_TO_SD, floor)
        recent = self._recent.push(residual if isfinite(residual) else 0.0) / self._mean_len
        if isfinite(deviation):
            self._total += deviation
            self._count += 1
        at = self._seen % self._capacity
        self._totals[at], self._counts[at] = self._total, self._count
        self._seen += 1
        return residual, scale, recent

    def _learn_day(self, day: int) -> None:
        """The reference's offsets for `day` points a day; s_r's mean starts with the first known day."""
        self._day, self._half = day, reference_half_width(day)
        self._start = max(INTERVALS_NEEDED, day + self._half)
        if day > 0 and self._size is None:
            self._size = _TrailingMean(self._horizon, residual_min_periods(day, self._horizon))
