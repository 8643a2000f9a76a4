"""Seeded operations-like series with known anomaly labels, for `bench.ops`.

One-minute series of a week (10,080 points) shaped like what Prometheus scrapes from web services:
request rates with a daily cycle, latencies with heavy-tailed noise, error counts (small Poisson counts),
saturation gauges that wander (AR(1)), some quantised like rates of counters, some with missed scrapes
(NaN gaps) and stale repeats. Anomalies are drawn on both halves (the first is a streaming detector's
warm-up, as in the KPI protocol), in the patterns operators report:
- spikes and dips of 1-5 points, 6-25 sd;
- repeats: a second spike 15-800 points after the first;
- drops of 30-40x the usual step, 65-133 points after an earlier anomaly;
- slow ramps of +1 to +6 sd whose steps are only 2-4x the usual step, held for 5-40 points;
- level shifts of 3-10 sd lasting 10-200 points (labelled for their whole length);
- one-off spikes on a strong daily cycle, at its busiest.
Labels are the anomaly's points (median about 10); sd is the series' noise sd.

A second family (`make_kpi_series`) is shaped like the web-service KPI benchmarks the issue describes,
where a one-step difference beats a windowed z-score: two weeks of smooth daily (and weekly) cycles with
little noise (0.3-10 % of the level, or small counts), and short anomalies (segment length log-normal,
median 10 points): spikes and dips of 5-40 usual steps, multiplicative level shifts over the segment,
drops towards zero, and level changes that persist after their labelled first points (a new normal).

A third (`make_smooth_kpi_series`) gives the same cycle and anomalies an autocorrelated wander (AR(1),
phi 0.5-0.995) instead of independent noise, and labels each anomaly until the series is back (the first
point after it). On the first two families the windowed z-score beats the one-step difference, and the
difference's top score lands on an anomaly in under half the series (on the return from a spike); on the
held-out KPIs the difference leads, 0.845 to 0.752, with its top on an anomaly in 96 % of series. The
smooth family is the one that reproduces both: a series whose last value predicts it better than its
last hour does, and big steps (returns too) inside the labels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

POINTS = 10_080
DAY = 1_440
KINDS = ("rate", "latency", "errors", "gauge", "counter_rate")


@dataclass(frozen=True)
class LabelledSeries:
    """One series: values (NaN = missed scrape), its labels and its points per day (0: unknown)."""

    name: str
    values: np.ndarray
    labels: np.ndarray
    day_points: int = DAY


def ar1(rng: np.random.Generator, phi: float, sd: float, n: int) -> np.ndarray:
    """An AR(1) series x_t = phi x_(t-1) + e_t, e ~ N(0, sd), x_0 = e_0 (`scipy.signal.lfilter`)."""
    return np.asarray(lfilter([1.0], [1.0, -phi], rng.standard_normal(n) * sd))


def _base(kind: str, rng: np.random.Generator, n: int) -> tuple[np.ndarray, float, float]:
    """Anomaly-free series, its noise sd and its usual absolute step (median |step|)."""
    t = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi)
    daily = np.sin(2 * np.pi * t / DAY + phase) + 0.3 * np.sin(4 * np.pi * t / DAY + 2 * phase)
    if kind == "rate":
        level = rng.uniform(200, 5000)
        shape = level * (1 + rng.uniform(0.2, 0.6) * daily)
        noise = rng.uniform(0.01, 0.04) * np.sqrt(shape / level) * level * rng.standard_normal(n)
        x = shape + noise
    elif kind == "latency":
        level = rng.uniform(0.05, 0.8)
        x = (
            level
            * (1 + rng.uniform(0.0, 0.3) * daily)
            * np.exp(rng.uniform(0.03, 0.1) * rng.standard_t(4, n))
        )
    elif kind == "errors":
        mean = rng.uniform(2, 40) * (1 + 0.5 * daily)
        x = rng.poisson(np.maximum(mean, 0.1)).astype(float)
    elif kind == "gauge":
        x = ar1(rng, rng.uniform(0.7, 0.98), rng.uniform(0.5, 3.0), n)
        x += rng.uniform(30, 80) + rng.uniform(0, 10) * daily
    else:  # a rate of a counter scraped every 15 s: multiples of 1/60 per second
        mean = rng.uniform(0.5, 20) * (1 + 0.4 * daily)
        x = rng.poisson(np.maximum(mean * 60, 0.1)) / 60.0
    steps = np.abs(np.diff(x))
    return x, _noise_sd(x), float(max(np.median(steps), 0.5 * steps.mean(), 1e-9))


def _noise_sd(x: np.ndarray) -> float:
    """Robust sd of the detrended series (the residual of a 61-point moving median proxy)."""
    kernel = np.ones(61) / 61
    smooth = np.convolve(x, kernel, mode="same")
    r = (x - smooth)[61:-61]
    return float(1.4826 * np.median(np.abs(r - np.median(r))) or r.std() or 1.0)


def _inject(x: np.ndarray, y: np.ndarray, rng: np.random.Generator, sd: float, step: float, at: int) -> int:
    """One anomaly (pattern drawn at random) starting at `at`; returns where it ends."""
    n = x.size
    sign = rng.choice([-1.0, 1.0])
    pattern = rng.choice(["spike", "repeat", "drop_after", "ramp", "shift", "peak_spike"])
    if pattern in ("spike", "peak_spike"):
        if pattern == "peak_spike":
            sign = 1.0
        length = int(rng.integers(1, 6))
        x[at : at + length] += sign * rng.uniform(6, 25) * sd
        y[at : at + length] = True
        return at + length
    if pattern == "repeat":
        gap = int(rng.integers(15, 801))
        for start in (at, min(at + gap, n - 5)):
            length = int(rng.integers(1, 4))
            x[start : start + length] += sign * rng.uniform(8, 20) * sd
            y[start : start + length] = True
        return min(at + gap, n - 5) + 3
    if pattern == "drop_after":
        length = int(rng.integers(1, 4))
        x[at : at + length] += rng.uniform(8, 20) * sd
        y[at : at + length] = True
        later = min(at + int(rng.integers(65, 134)), n - 20)
        drop_len = int(rng.integers(3, 16))
        x[later : later + drop_len] -= rng.uniform(30, 40) * step
        y[later : later + drop_len] = True
        return later + drop_len
    if pattern == "ramp":
        height = rng.uniform(1, 6) * sd
        per_step = rng.uniform(2, 4) * step
        length = max(2, int(np.ceil(height / per_step)))
        hold = int(rng.integers(5, 41))
        end = min(at + length + hold, n)
        rise = np.minimum(np.arange(1, end - at + 1) * per_step, height)
        x[at:end] += sign * rise
        y[at:end] = True
        return end
    length = int(rng.integers(10, 201))
    x[at : at + length] += sign * rng.uniform(3, 10) * sd
    y[at : at + length] = True
    return at + length


def _scrape_artefacts(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Missed scrapes (NaN runs of 1-20 points) and stale repeats (the previous value again)."""
    x = x.copy()
    for _ in range(int(rng.integers(0, 4))):
        start = int(rng.integers(1, x.size - 25))
        x[start : start + int(rng.integers(1, 21))] = np.nan
    stale = np.flatnonzero(rng.random(x.size) < rng.uniform(0, 0.01))
    stale = stale[stale > 0]
    x[stale] = x[stale - 1]
    return x


def make_series(index: int, seed: int = 0, n: int = POINTS) -> LabelledSeries:
    """Series `index` of the seeded corpus: a base of one kind and 4-8 anomalies spread over both halves."""
    rng = np.random.default_rng([seed, index])
    kind = KINDS[index % len(KINDS)]
    x, sd, step = _base(kind, rng, n)
    y = np.zeros(n, dtype=bool)
    events = int(rng.integers(4, 9))
    at = int(rng.integers(300, 900))
    for _ in range(events):
        if at >= n - 300:
            break
        end = _inject(x, y, rng, sd, step, at)
        at = end + int(rng.integers(200, max(201, (n - end) // 2)))
    if kind in ("errors", "counter_rate", "rate"):
        x = np.maximum(x, 0.0)
    return LabelledSeries(f"{kind}_{index}", _scrape_artefacts(x, rng), y)


def make_corpus(count: int, seed: int = 0, n: int = POINTS) -> list[LabelledSeries]:
    return [make_series(i, seed, n) for i in range(count)]


KPI_KINDS = ("spike", "dip", "shift", "drop", "new_normal")


def _kpi_shape(rng: np.random.Generator, n: int) -> np.ndarray:
    """A smooth daily cycle (with a second harmonic) and a weekly one, around 1."""
    t = np.arange(n)
    phase = rng.uniform(0, 2 * np.pi)
    daily = np.sin(2 * np.pi * t / DAY + phase)
    daily += rng.uniform(0, 0.5) * np.sin(4 * np.pi * t / DAY + 2 * phase)
    weekly = 1 + rng.uniform(0, 0.2) * np.sin(2 * np.pi * t / (7 * DAY))
    return np.asarray((1 + rng.uniform(0.2, 0.8) * daily / 1.5) * weekly)


def _kpi_anomalies(x: np.ndarray, rng: np.random.Generator, label_return: bool = False) -> np.ndarray:
    """Short anomalies every 300-3,000 points, in place; their labels. With `label_return`, the first point
    after an anomaly that ends (all but a new normal) is labelled too: the series is anomalous until back."""
    n = x.size
    step = float(np.median(np.abs(np.diff(x)))) / 0.954 + 1e-9  # the usual step, as an sd of noise
    y = np.zeros(n, dtype=bool)
    at = int(rng.integers(200, 2000))
    while at < n - 200:
        length = int(np.clip(np.round(rng.lognormal(np.log(10), 1.0)), 1, 150))
        kind = KPI_KINDS[int(rng.integers(len(KPI_KINDS)))]
        span = slice(at, at + length)
        if kind in ("spike", "dip"):
            x[span] += (1.0 if kind == "spike" else -1.0) * rng.uniform(5, 40) * step
        elif kind == "shift":
            x[span] *= 1 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.5)
        elif kind == "drop":
            x[span] *= rng.uniform(0, 0.3)
        else:
            x[at:] *= 1 + rng.choice([-1.0, 1.0]) * rng.uniform(0.1, 0.4)
        y[span] = True
        if label_return and kind != "new_normal":
            y[at + length] = True
        at += length + int(rng.integers(300, 3000))
    return y


def make_kpi_series(index: int, seed: int = 0, n: int = 14 * DAY) -> LabelledSeries:
    """Series `index` of the KPI-like family: a smooth cycle with short anomalies every 300-3,000 points."""
    rng = np.random.default_rng([seed, index, 1])
    shape = _kpi_shape(rng, n)
    if rng.random() < 0.3:  # small counts
        x = rng.poisson(np.maximum(shape * rng.uniform(5, 50), 0.1)).astype(float)
    else:
        x = 10 ** rng.uniform(1, 4) * shape * (1 + 10 ** rng.uniform(-2.5, -1) * rng.standard_normal(n))
    y = _kpi_anomalies(x, rng)
    return LabelledSeries(f"kpi_{index}", _scrape_artefacts(np.maximum(x, 0.0), rng), y)


def make_smooth_kpi_series(index: int, seed: int = 0, n: int = 14 * DAY) -> LabelledSeries:
    """Series `index` of the smooth KPI-like family: the KPI-like cycle times 1 + an AR(1) wander (phi
    0.5-0.995, innovations 0.1-3 % of the level) + a little white noise, with the KPI-like anomalies,
    labelled until the series is back (the first point after an anomaly that ends)."""
    rng = np.random.default_rng([seed, index, 2])
    shape = _kpi_shape(rng, n)
    wander = ar1(rng, rng.uniform(0.5, 0.995), 10 ** rng.uniform(-3, -1.5), n)
    white = 10 ** rng.uniform(-3.5, -2) * rng.standard_normal(n)
    x = 10 ** rng.uniform(1, 4) * shape * (1 + wander + white)
    y = _kpi_anomalies(x, rng, label_return=True)
    return LabelledSeries(f"smooth_kpi_{index}", _scrape_artefacts(np.maximum(x, 0.0), rng), y)


def make_kpi_corpus(count: int, seed: int = 0) -> list[LabelledSeries]:
    return [make_kpi_series(i, seed) for i in range(count)]


def make_smooth_kpi_corpus(count: int, seed: int = 0) -> list[LabelledSeries]:
    return [make_smooth_kpi_series(i, seed) for i in range(count)]
