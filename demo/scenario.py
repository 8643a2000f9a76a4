"""Synthetic trading-system metrics that replay incidents with known causes (pure and deterministic).

One cycle: calm → volatility spike → PnL drawdown → recovery → DB pool climbs to max → order errors and
latency → recovery, then it repeats. `sample(t)` gives every metric's value `t` seconds after the start.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

SERIES_LABELS: dict[str, str] = {"desk": "fx-spot", "book": "eurusd"}
DB_POOL_MAX = 50.0
NOISE_SEED = 7

MetricKind = Literal["gauge", "counter"]


@dataclass(frozen=True)
class MetricSpec:
    """How the exporter exposes one metric of `sample()` (counters carry their `_total` name here)."""

    kind: MetricKind
    help: str


METRICS: dict[str, MetricSpec] = {
    "demo_pnl_usd": MetricSpec("gauge", "Book PnL in USD."),
    "demo_pnl_drawdown_ratio": MetricSpec("gauge", "PnL drawdown from its running peak (0-1)."),
    "demo_volume_usd_total": MetricSpec("counter", "Traded notional in USD."),
    "demo_funding_rate": MetricSpec("gauge", "Perpetual funding rate per 8h interval."),
    "demo_volatility": MetricSpec("gauge", "Annualised realised volatility of the book's instrument."),
    "demo_order_latency_seconds": MetricSpec("gauge", "p99 order acknowledgement latency in seconds."),
    "demo_order_error_ratio": MetricSpec("gauge", "Share of orders rejected or failed (0-1)."),
    "demo_db_pool_in_use": MetricSpec("gauge", "Order-store DB connections in use."),
    "demo_db_pool_max": MetricSpec("gauge", "Order-store DB connection pool size."),
    "demo_cpu_usage_ratio": MetricSpec("gauge", "CPU usage of the order gateway (0-1)."),
    "demo_memory_usage_bytes": MetricSpec("gauge", "Resident memory of the order gateway."),
    "demo_requests_total": MetricSpec("counter", "Requests served by the order gateway."),
}


@dataclass(frozen=True)
class Schedule:
    """Phase lengths in seconds, in playing order. `scaled(f)` compresses or stretches the whole cycle."""

    calm: float = 10.0
    volatility_lead: float = 30.0
    pnl_drawdown: float = 60.0
    market_recovery: float = 40.0
    db_pool_climb: float = 25.0
    db_pool_saturated: float = 8.0
    order_errors: float = 60.0
    db_recovery: float = 40.0

    @property
    def period(self) -> float:
        return sum(dataclasses.astuple(self))

    def scaled(self, factor: float) -> Schedule:
        return Schedule(*(value * factor for value in dataclasses.astuple(self)))

    def starts(self) -> dict[str, float]:
        """Cycle-relative start time of each phase."""
        starts: dict[str, float] = {}
        elapsed = 0.0
        for phase in dataclasses.fields(self):
            starts[phase.name] = elapsed
            elapsed += getattr(self, phase.name)
        return starts


DEFAULT_SCHEDULE = Schedule()


@dataclass(frozen=True)
class Phase:
    """The phase playing at some time: which scenario (0 = none), its name, what is happening."""

    scenario: int
    name: str
    description: str


_PHASES: dict[str, Phase] = {
    "calm": Phase(0, "calm", "all metrics at baseline"),
    "volatility_lead": Phase(
        1, "volatility_lead", "scenario 1: volatility spikes on fx-spot/eurusd; PnL drawdown follows"
    ),
    "pnl_drawdown": Phase(1, "pnl_drawdown", "scenario 1: PnL draws down (cause: the volatility spike)"),
    "market_recovery": Phase(1, "market_recovery", "scenario 1: volatility and PnL recover"),
    "db_pool_climb": Phase(
        2, "db_pool_climb", "scenario 2: order-store DB pool in use climbs to max; order errors follow"
    ),
    "db_pool_saturated": Phase(2, "db_pool_saturated", "scenario 2: DB pool exhausted"),
    "order_errors": Phase(
        2, "order_errors", "scenario 2: order errors and latency rise (cause: DB pool exhaustion)"
    ),
    "db_recovery": Phase(2, "db_recovery", "scenario 2: DB pool drains, errors and latency recover"),
}


def phase_at(t: float, schedule: Schedule = DEFAULT_SCHEDULE) -> Phase:
    """The phase playing `t` seconds after the start."""
    u = max(t, 0.0) % schedule.period
    current = "calm"
    for name, start in schedule.starts().items():
        if u >= start:
            current = name
    return _PHASES[current]


def sample(t: float, schedule: Schedule = DEFAULT_SCHEDULE, seed: int = NOISE_SEED) -> dict[str, float]:
    """Every metric's value `t` seconds after the start; before the start (t < 0) everything is calm."""
    if t < 0:
        cycles, u, s = 0, 0.0, _CALM
    else:
        whole, u = divmod(t, schedule.period)
        cycles, s = int(whole), _stresses(u, schedule)
    drawdown = max(0.0, 0.02 + 0.43 * s.drawdown + 0.004 * _noise(seed, "dd", t))
    pool = min(DB_POOL_MAX, round(12 + 38 * s.pool + 1.5 * _noise(seed, "pool", t) * (1 - s.pool)))
    return {
        "demo_pnl_usd": 1_200_000.0 * (1 - drawdown),
        "demo_pnl_drawdown_ratio": drawdown,
        "demo_volume_usd_total": _counter(t, cycles, u, schedule, seed, "demo_volume_usd_total"),
        "demo_funding_rate": 0.0001 + 0.00003 * s.drawdown + 0.00001 * _noise(seed, "funding", t),
        "demo_volatility": 0.12 + 0.53 * s.market + 0.004 * _noise(seed, "vol", t),
        "demo_order_latency_seconds": 0.015 + 0.9 * s.latency + 0.002 * _noise(seed, "lat", t),
        "demo_order_error_ratio": max(0.0, 0.002 + 0.18 * s.errors + 0.0005 * _noise(seed, "err", t)),
        "demo_db_pool_in_use": float(max(pool, 0)),
        "demo_db_pool_max": DB_POOL_MAX,
        "demo_cpu_usage_ratio": 0.35 + 0.04 * s.errors + 0.02 * _noise(seed, "cpu", t),
        "demo_memory_usage_bytes": 2.2e9 + 0.05e9 * s.errors + 2e7 * _noise(seed, "mem", t),
        "demo_requests_total": _counter(t, cycles, u, schedule, seed, "demo_requests_total"),
    }


@dataclass(frozen=True)
class _Stresses:
    """How far each incident has developed at a cycle time, each in 0..1."""

    market: float
    volume: float
    drawdown: float
    pool: float
    errors: float
    latency: float


_CALM = _Stresses(0.0, 0.0, 0.0, 0.0, 0.0, 0.0)


def _stresses(u: float, s: Schedule) -> _Stresses:
    at = s.starts()
    market_on, market_off = at["volatility_lead"], at["market_recovery"]
    market_fade = _ramp(u, market_off, market_off + 0.5 * s.market_recovery)
    db_fade = _ramp(u, at["db_recovery"], at["db_recovery"] + 0.5 * s.db_recovery)
    err_on = at["order_errors"]
    return _Stresses(
        market=_ramp(u, market_on, market_on + 0.3 * s.volatility_lead) - market_fade,
        volume=_ramp(u, at["pnl_drawdown"] + 0.2 * s.pnl_drawdown, at["pnl_drawdown"] + 0.5 * s.pnl_drawdown)
        - market_fade,
        drawdown=_ramp(u, at["pnl_drawdown"], at["pnl_drawdown"] + 0.5 * s.pnl_drawdown) - market_fade,
        pool=_ramp(u, at["db_pool_climb"], at["db_pool_saturated"]) - db_fade,
        errors=_ramp(u, err_on, err_on + 0.4 * s.order_errors) - db_fade,
        latency=_ramp(u, err_on, err_on + 0.3 * s.order_errors) - db_fade,
    )


def _ramp(u: float, start: float, end: float) -> float:
    """Smoothstep from 0 at `start` to 1 at `end`."""
    if u <= start:
        return 0.0
    if u >= end:
        return 1.0
    x = (u - start) / (end - start)
    return x * x * (3 - 2 * x)


def _noise(seed: int, key: str, t: float) -> float:
    """Deterministic noise in [-1, 1], linearly interpolated between whole seconds."""
    tick = math.floor(t)
    a, b = _noise_at(seed, key, tick), _noise_at(seed, key, tick + 1)
    return a + (b - a) * (t - tick)


def _noise_at(seed: int, key: str, tick: int) -> float:
    digest = hashlib.blake2b(f"{seed}:{key}:{tick}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**63 - 1.0


_COUNTER_BASE = {"demo_volume_usd_total": 1e11, "demo_requests_total": 1e8}
_CALM_RATE = {"demo_volume_usd_total": 2.5e6, "demo_requests_total": 400.0}


def _rate(name: str, u: float, schedule: Schedule, seed: int) -> float:
    """Per-second increase of a counter at cycle time `u`: both rise a little as the book de-risks."""
    s = _stresses(u, schedule)
    if name == "demo_volume_usd_total":
        return _CALM_RATE[name] * (1 + 0.3 * s.volume) * (1 + 0.1 * _noise(seed, name, u))
    return _CALM_RATE[name] * (1 + 0.15 * s.drawdown) * (1 + 0.05 * _noise(seed, name, u))


@lru_cache(maxsize=16)
def _cycle_prefix_sums(name: str, schedule: Schedule, seed: int) -> tuple[float, tuple[float, ...]]:
    """Step width and the counter's cumulative value at each step of one cycle (midpoint rule)."""
    steps = max(1, round(schedule.period))
    width = schedule.period / steps
    sums = [0.0]
    for k in range(steps):
        sums.append(sums[-1] + width * _rate(name, (k + 0.5) * width, schedule, seed))
    return width, tuple(sums)


def _counter(t: float, cycles: int, u: float, schedule: Schedule, seed: int, name: str) -> float:
    """Counters start from a large base so that calm history before t = 0 stays positive."""
    if t < 0:
        return _COUNTER_BASE[name] + _CALM_RATE[name] * t
    width, sums = _cycle_prefix_sums(name, schedule, seed)
    k = min(int(u // width), len(sums) - 2)
    within = sums[k] + (sums[k + 1] - sums[k]) * (u - k * width) / width
    return _COUNTER_BASE[name] + cycles * sums[-1] + within
