"""Seeded trading incidents as a messy deployment exposes them (pure: returns data, no I/O).

Each incident is one namespace of a small trading deployment (order gateway, PnL engine, market data, FIX
gateway, order store, reporting, a risk batch job) with 1-2 h of history, one injected cause, the symptom a
user's alert fires on, and the ground truth. The mess, drawn per incident: a component's series come from
2-3 exporters (its own job, cAdvisor under `job="kubelet"`, market data keyed by book/desk/symbol) that
share only a few labels; counters where real exporters have counters; missing scrapes (single and runs);
1-3 unrelated series in the namespace that move near the cause; cause strength, lead time and noise
varied. The constants below are the whole specification.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from scipy.special import ndtr

from analyst.diagnosis import Category

# --- Every constant of the generator ---------------------------------------------------------------------
KINDS = (
    "volatility",
    "funding",
    "volume_spike",
    "execution_delay",
    "db_pool",
    "cpu",
    "memory_leak",
    "deploy",
)
EPOCH = 1_767_571_200.0  # 2026-01-05T00:00Z: incident 0's slot starts here
SLOT_SECONDS = 4 * 3600.0  # each incident in its own 4 h slot: no query window reaches another's samples
SCRAPE_INTERVALS = (15.0, 30.0)  # seconds, one drawn per incident
# history before the cause's onset (uniform): the default context window (2 h before startsAt) lies inside
# it, as in a Prometheus that has run for a while (a series that begins inside the window reads as a level
# shift at its first sample)
HISTORY_MINUTES = (125.0, 150.0)
LEAD_MINUTES = (1.0, 8.0)  # cause onset -> the alert's startsAt (uniform)
SYMPTOM_LAG = (0.15, 0.6)  # the symptom starts this share of the lead after the cause (uniform)
RAMP_MINUTES = (0.5, 3.0)  # how long a change takes to reach its full size (uniform)
LEAK_RAMP_MINUTES = (10.0, 30.0)  # a memory leak climbs from this long before onset (when GC strains)
AFTER_ALERT_SECONDS = 300.0  # samples written after startsAt (the diagnosis reads up to startsAt + 60 s)
NOISE_SHARE = (0.01, 0.06)  # noise sd as a share of a series' level (uniform, one per incident)
NOISE_AR = 0.5  # AR(1) coefficient of the noise: consecutive scrapes of a real system are not independent
CAUSE_STRENGTH = (4.0, 15.0)  # the cause's shift in noise sds (uniform)
SYMPTOM_STRENGTH = (6.0, 15.0)  # the symptom's shift in noise sds (uniform)
EFFECT_STRENGTH = (2.0, 6.0)  # secondary effects (order flow after volume, GC after a leak), noise sds
MOVER_COUNT = (1, 3)  # unrelated movers per incident (inclusive)
MOVER_OFFSET_MINUTES = (-3.0, 3.0)  # a mover's onset relative to the cause's (uniform)
MOVER_MINUTES = (3.0, 12.0)  # how long a mover stays up before it falls back (uniform)
MISSING_SHARE = (0.01, 0.05)  # share of a target's scrapes missing at random (uniform per target)
MISSING_RUNS = (0, 2)  # runs of consecutive missed scrapes per target (inclusive)
MISSING_RUN_LENGTH = (2, 4)  # scrapes per run (inclusive)
LATENCY_SIGMA = 0.5  # log-sd of request latency; p99 = median * exp(P99_Z * sigma)
P99_Z = 2.326
FILL_P99 = 0.02 * math.exp(P99_Z * LATENCY_SIGMA)  # the order gateway's fill latency p99, quiet (s)
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, math.inf)  # histogram `le` bounds
CPU_LIMIT_CORES = 2.0  # the order gateway's limit: CPU saturates just under it
POOL_SIZE = 50.0  # connections; the pool climbs from POOL_IDLE to it
POOL_IDLE = 12.0
POOL_JITTER = 0.25  # sd of the connections in use, as a share of POOL_IDLE (a few connections either way)
REQUESTS_PER_SECOND = 400.0  # order gateway
ERROR_SHARE = 0.002  # order gateway's failed share in calm
BOOKS = (("fx-spot", "eurusd", "EURUSD"), ("crypto", "btc-perp", "BTC-PERP"), ("rates", "ust-10y", "UST10Y"))
PERP_BOOK = 1  # BOOKS' perpetual (funding)

# Exporter-name variants, one drawn per incident (the demo's trading names, `demo_*`, are one of each).
VOLATILITY = ("demo_volatility", "md_realized_volatility", "marketdata_realised_volatility_annualised")
FUNDING = ("demo_funding_rate", "perp_funding_rate", "marketdata_funding_rate_8h")
VOLUME = ("demo_volume_usd_total", "marketdata_traded_notional_usd_total", "venue_traded_volume_usd_total")
PNL = ("demo_pnl_drawdown_ratio", "book_pnl_drawdown_ratio", "book_pnl_usd")
ROUNDTRIP = ("fix_session_roundtrip_latency_seconds", "venue_order_rtt_seconds", "exchange_ack_delay_seconds")
POOLS = (  # (in use, size, waiting, the job that exports them)
    ("pgbouncer_pools_client_active_connections", "pgbouncer_config_max_client_conn",
     "pgbouncer_pools_client_waiting_connections", "pgbouncer-exporter"),
    ("hikaricp_connections_active", "hikaricp_connections_max", "hikaricp_connections_pending",
     "order-store"),
    ("go_sql_in_use_connections", "go_sql_max_open_connections", "go_sql_wait_count_total", "order-store"),
    ("demo_db_pool_in_use", "demo_db_pool_max", None, "order-store"),
)  # fmt: skip
LATENCY_STYLES = ("summary", "histogram", "gauge")  # p99 as a summary quantile, a histogram, a plain gauge
ERROR_STYLES = ("counters", "status_code")  # rejected/submitted counters, or one request counter by code
RUNTIMES = ("jvm", "go")
ROLLOUTS = ("new_pods", "restart_in_place")  # a Kubernetes rollout, or a process restarted where it ran
MOVERS = ("cpu_burst", "batch_network", "gc_blip")  # another service's CPU, a batch's bytes, a GC blip

# Ground truth per kind: the component that exposes the cause and the categories accepted for it.
CAUSE_COMPONENT = {
    "volatility": "market-data",
    "funding": "market-data",
    "volume_spike": "market-data",
    "execution_delay": "fix-gateway",
    "db_pool": "order-store",
    "cpu": "order-gateway",
    "memory_leak": "order-gateway",
    "deploy": "order-gateway",
}
CATEGORIES: dict[str, tuple[Category, ...]] = {
    "volatility": (Category.MARKET_VOLATILITY,),
    "funding": (Category.MARKET_FUNDING,),
    # the analyst files traded volume under market liquidity (categories.py: VOLUME); a surge of order
    # flow is a traffic surge: both name the cause
    "volume_spike": (Category.MARKET_LIQUIDITY, Category.TRAFFIC_SURGE),
    "execution_delay": (Category.NETWORK, Category.DEPENDENCY_SERVICE),
    "db_pool": (Category.DEPENDENCY_DATABASE,),
    "cpu": (Category.RESOURCE_CPU,),
    "memory_leak": (Category.RESOURCE_MEMORY,),
    "deploy": (Category.CHANGE_DEPLOYMENT,),
}

Role = Literal["cause", "effect", "symptom", "mover", "background"]


@dataclass(frozen=True)
class Series:
    """One series as Prometheus stores it; NaN values are scrapes that did not happen."""

    name: str
    labels: tuple[tuple[str, str], ...]
    component: str
    counter: bool
    role: Role
    times: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    resets: tuple[int, ...] = ()  # indices where a counter restarted from 0

    @property
    def key(self) -> str:
        return series_key(self.name, self.labels)


@dataclass(frozen=True)
class Truth:
    component: str
    metrics: tuple[str, ...]  # the injected series' names (naming any of them first counts)
    categories: tuple[Category, ...]


@dataclass(frozen=True)
class AlertSpec:
    name: str
    expr: str  # the rule's PromQL, comparison included
    labels: Mapping[str, str]  # alertname, severity and the rule's `by` labels


@dataclass(frozen=True)
class Incident:
    index: int
    kind: str
    namespace: str
    step: float
    onset: float  # the cause's onset
    starts_at: float  # the alert's startsAt
    active_since: float  # when its condition began (its rule's `for:` before startsAt)
    series: tuple[Series, ...]
    truth: Truth
    alert: AlertSpec
    movers: tuple[str, ...]  # the unrelated movers' series keys
    variant: Mapping[str, str]  # the names and styles drawn


def series_key(name: str, labels: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    pairs = sorted(dict(labels).items())
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


def ramp(t: np.ndarray, onset: float, minutes: float) -> np.ndarray:
    """Smoothstep from 0 at `onset` to 1 `minutes` later."""
    x = np.clip((t - onset) / max(minutes * 60.0, 1e-9), 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class Target:
    """One scrape target: its labels, its component, its scrape times and which scrapes happened."""

    labels: Mapping[str, str]
    component: str
    times: np.ndarray
    present: np.ndarray


@dataclass
class Workload:
    """A component's own exporter target and (for a pod) its cAdvisor target."""

    name: str
    app: Target
    kubelet: Target


@dataclass
class Draw:
    """One incident's draws and the series built so far."""

    rng: np.random.Generator
    namespace: str
    start: float
    end: float
    step: float
    noise: float
    series: list[Series] = field(default_factory=list)

    def target(self, component: str, labels: Mapping[str, str]) -> Target:
        times = np.arange(self.start, self.end, self.step) + float(self.rng.uniform(0, self.step))
        present = self.rng.random(times.size) >= self.rng.uniform(*MISSING_SHARE)
        for _ in range(int(self.rng.integers(MISSING_RUNS[0], MISSING_RUNS[1] + 1))):
            length = int(self.rng.integers(MISSING_RUN_LENGTH[0], MISSING_RUN_LENGTH[1] + 1))
            at = int(self.rng.integers(0, times.size - length))
            present[at : at + length] = False
        return Target({"namespace": self.namespace, **labels}, component, np.round(times, 3), present)

    def workload(self, component: str, pod_labels: bool = True, job: str | None = None) -> Workload:
        """Its own job's target (with `pod`, `service` unless `pod_labels` is false) and cAdvisor's."""
        pod = pod_name(self.rng, component)
        own = {"job": job or component, "instance": ip(self.rng, 8080)}
        if pod_labels:
            own |= {"pod": pod, "service": component}
        kube = {
            "job": "kubelet",
            "service": "kube-prometheus-stack-kubelet",
            "endpoint": "https-metrics",
            "instance": f"10.0.0.{int(self.rng.integers(10, 14))}:10250",
            "pod": pod,
            "container": component,
        }
        return Workload(component, self.target(component, own), self.target(component, kube))

    def noisy(self, size: int) -> np.ndarray:
        """AR(1) noise of unit sd."""
        white = self.rng.normal(size=size) * math.sqrt(1 - NOISE_AR**2)
        out = np.empty(size)
        out[0] = white[0] / math.sqrt(1 - NOISE_AR**2)
        for i in range(1, size):
            out[i] = NOISE_AR * out[i - 1] + white[i]
        return out

    def add(
        self,
        target: Target,
        name: str,
        level: np.ndarray | float,
        role: Role = "background",
        counter: bool = False,
        extra: Mapping[str, str] | None = None,
        exact: bool = False,
    ) -> Series:
        """A gauge of `level`, or a counter whose per-second rate is `level`, times (1 + noise)."""
        t = target.times
        base = np.broadcast_to(np.asarray(level, dtype=float), t.shape)
        values = base if exact else base * (1 + self.noise * self.noisy(t.size))
        if counter:
            values = float(self.rng.uniform(1e3, 1e5)) * base[0] + np.cumsum(
                np.maximum(values, 0) * self.step
            )
        labels = tuple(sorted({**target.labels, **(extra or {})}.items()))
        made = Series(
            name, labels, target.component, counter, role, t, np.where(target.present, values, np.nan)
        )
        self.series.append(made)
        return made

    def up(self, t: np.ndarray, z: float, at: float, minutes: float) -> np.ndarray:
        """1 rising by `z` noise sds from `at` over `minutes`."""
        return 1 + z * self.noise * ramp(t, at, minutes)


def pod_name(rng: np.random.Generator, component: str) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    replicaset = "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=10))
    return (
        f"{component}-{replicaset}-{''.join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=5))}"
    )


def ip(rng: np.random.Generator, port: int) -> str:
    return f"10.42.{int(rng.integers(0, 8))}.{int(rng.integers(2, 250))}:{port}"


@dataclass(frozen=True)
class Plan:
    """When and how strongly things move in one incident."""

    kind: str
    onset: float
    starts_at: float
    symptom_onset: float
    ramp: float  # minutes
    cause_z: float
    symptom_z: float
    effect_z: float
    variant: Mapping[str, str]

    def role(self, *kinds: str, role: Role = "cause") -> Role:
        return role if self.kind in kinds else "background"


def generate(seed: int, incidents: int, fires_after: float = 0.0) -> list[Incident]:
    """`incidents` incidents, the kinds in turn (KINDS' order), each drawn from `seed` and its index; each
    alert fires `fires_after` seconds after its condition began (a rule's `for:`), the draws unchanged."""
    return [incident(seed, i, KINDS[i % len(KINDS)], fires_after) for i in range(incidents)]


def incident(seed: int, index: int, kind: str, fires_after: float = 0.0) -> Incident:
    rng = np.random.default_rng([seed, index])
    step = float(rng.choice(SCRAPE_INTERVALS))
    start = EPOCH + index * SLOT_SECONDS
    onset = start + float(rng.uniform(*HISTORY_MINUTES)) * 60.0
    lead = float(rng.uniform(*LEAD_MINUTES)) * 60.0
    variant = {
        "volatility": _pick(rng, VOLATILITY),
        "funding": _pick(rng, FUNDING),
        "volume": _pick(rng, VOLUME),
        "pnl": _pick(rng, PNL),
        "roundtrip": _pick(rng, ROUNDTRIP),
        "pool": POOLS[int(rng.integers(len(POOLS)))][0],
        "latency": _pick(rng, LATENCY_STYLES),
        "errors": _pick(rng, ERROR_STYLES),
        "runtime": _pick(rng, RUNTIMES),
        "book": BOOKS[PERP_BOOK if kind == "funding" else int(rng.integers(len(BOOKS)))][1],
        "rollout": _pick(rng, ROLLOUTS),
    }
    plan = Plan(
        kind=kind,
        onset=onset,
        starts_at=onset + lead + fires_after,
        symptom_onset=onset + lead * float(rng.uniform(*SYMPTOM_LAG)),
        ramp=float(rng.uniform(*RAMP_MINUTES)),
        cause_z=float(rng.uniform(*CAUSE_STRENGTH)),
        symptom_z=float(rng.uniform(*SYMPTOM_STRENGTH)),
        effect_z=float(rng.uniform(*EFFECT_STRENGTH)),
        variant=variant,
    )
    namespace = f"trading-{index:03d}"
    d = Draw(
        rng, namespace, start, plan.starts_at + AFTER_ALERT_SECONDS, step, float(rng.uniform(*NOISE_SHARE))
    )
    _market_data(d, plan)
    _pnl_engine(d, plan)
    _fix_gateway(d, plan)
    _order_store(d, plan)
    _order_gateway(d, plan)
    movers = _bystanders(d, plan)
    series = tuple(d.series)
    return Incident(
        index=index,
        kind=kind,
        namespace=namespace,
        step=step,
        onset=onset,
        starts_at=plan.starts_at,
        active_since=onset + lead,
        series=series,
        truth=Truth(
            CAUSE_COMPONENT[kind],
            tuple(dict.fromkeys(s.name for s in series if s.role == "cause")),
            CATEGORIES[kind],
        ),
        alert=_alert(plan, namespace),
        movers=movers,
        variant=variant,
    )


def _pick(rng: np.random.Generator, options: Sequence[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _market_data(d: Draw, plan: Plan) -> None:
    """Volatility per symbol, the perpetual's funding rate, traded volume (a counter), ticks: under the
    market-data job with book/desk/symbol and no pod label."""
    md = d.workload("market-data", pod_labels=False)
    t = md.app.times
    for i, (desk, book, symbol) in enumerate(BOOKS):
        keys = {"book": book, "desk": desk, "symbol": symbol}
        hit = plan.kind == "volatility" and book == plan.variant["book"]
        level = (0.15 + 0.05 * i) * (d.up(t, plan.cause_z, plan.onset, plan.ramp) if hit else 1.0)
        d.add(
            md.app,
            plan.variant["volatility"],
            level,
            plan.role("volatility") if hit else "background",
            extra=keys,
        )
        if i == PERP_BOOK:
            sign = float(d.rng.choice((-1.0, 1.0)))
            swing = 1 + sign * plan.cause_z * d.noise * ramp(t, plan.onset, plan.ramp)
            funding = 1e-4 * (swing if plan.kind == "funding" else np.ones(t.size))
            d.add(md.app, plan.variant["funding"], funding, plan.role("funding"), extra=keys)
    volume = 2.5e6 * (d.up(t, plan.cause_z, plan.onset, plan.ramp) if plan.kind == "volume_spike" else 1.0)
    d.add(md.app, plan.variant["volume"], volume, plan.role("volume_spike"), counter=True)
    d.add(md.app, "marketdata_ticks_received_total", 800.0, counter=True)
    _container(d, md, 0.4, 6e8)


def _pnl_engine(d: Draw, plan: Plan) -> None:
    """Each book's PnL (drawdown ratio or USD) with book/desk; the hit book's is the PnL alert's series."""
    pnl = d.workload("pnl-engine")
    t = pnl.app.times
    for desk, book, _symbol in BOOKS:
        hit = plan.kind in ("volatility", "funding") and book == plan.variant["book"]
        move = plan.symptom_z * d.noise * ramp(t, plan.symptom_onset, plan.ramp) if hit else 0.0
        level = 1.2e6 * (1 - move) if plan.variant["pnl"].endswith("_usd") else 0.02 * (1 + move)
        role: Role = "symptom" if hit else "background"
        d.add(pnl.app, plan.variant["pnl"], level, role, extra={"book": book, "desk": desk})
    _runtime(d, pnl, plan, heap=np.full(t.size, 1.2e9), gc=np.full(t.size, 0.01), role="background")
    _container(d, pnl, 0.6, 1.4e9)


def _slowdown(plan: Plan, noise: float) -> float:
    """How much slower (a share of its quiet level) the gateway's latency gets at the symptom's height."""
    return 4 * plan.symptom_z * noise


def _fix_gateway(d: Draw, plan: Plan) -> None:
    """The venue session's round trip (a gauge) and its message counter."""
    fix = d.workload("fix-gateway")
    t = fix.app.times
    session = {"session": "LMAX-1"}
    rtt: np.ndarray | float = 0.004
    if plan.kind == "execution_delay":  # fills wait for the venue: it adds what the fill p99 gains, first
        rtt = 0.004 + FILL_P99 * _slowdown(plan, d.noise) * ramp(t, plan.onset, plan.ramp)
    d.add(fix.app, plan.variant["roundtrip"], rtt, plan.role("execution_delay"), extra=session)
    d.add(fix.app, "fix_messages_sent_total", 300.0, counter=True, extra=session)
    _container(d, fix, 0.3, 4e8)


def _order_store(d: Draw, plan: Plan) -> None:
    """The order store's connection pool, from the pool's own exporter job: in use climbs to the size."""
    in_use, size, waiting, job = next(p for p in POOLS if p[0] == plan.variant["pool"])
    store = d.workload("order-store", job=job)
    t = store.app.times
    db = {"database": "orders"}
    climb = ramp(t, plan.onset, max(plan.ramp, 1.0)) if plan.kind == "db_pool" else 0.0
    level = POOL_IDLE + (POOL_SIZE - POOL_IDLE) * climb
    used = d.add(store.app, in_use, level, plan.role("db_pool"), extra=db, exact=True)
    jitter = POOL_JITTER * POOL_IDLE * d.noisy(t.size)  # connections come and go by whole numbers
    d.series[-1] = replace(used, values=np.round(np.clip(used.values + jitter, 0.0, POOL_SIZE)))
    d.add(store.app, size, POOL_SIZE, extra=db, exact=True)
    if waiting is not None:
        wait = 0.5 + (20.0 * ramp(t, plan.onset + 60.0, plan.ramp) if plan.kind == "db_pool" else 0.0)
        d.add(store.app, waiting, wait, plan.role("db_pool"), waiting.endswith("_total"), db)
    _container(d, store, 0.2, 3e8)


def _order_gateway(d: Draw, plan: Plan) -> None:
    """The order gateway: requests and errors, ack and fill latency, its runtime, process and build info,
    cAdvisor's CPU, throttling and memory; a deploy rolls it out."""
    before = len(d.series)
    gw = d.workload("order-gateway")
    t = gw.app.times
    kind = plan.kind
    symptom = ramp(t, plan.symptom_onset, plan.ramp)
    surge = d.up(t, plan.effect_z, plan.onset, plan.ramp) if kind == "volume_spike" else np.ones(t.size)
    share = ERROR_SHARE * (1 + 3 * plan.symptom_z * symptom) if kind in ("db_pool", "deploy") else ERROR_SHARE
    _requests(d, gw.app, REQUESTS_PER_SECOND * surge, np.broadcast_to(share, t.shape), plan)
    slow = 1 + _slowdown(plan, d.noise) * symptom
    ack = 0.012 * (slow if kind in ("volume_spike", "cpu", "memory_leak") else 1.0)
    _latency(d, gw.app, ack, plan, plan.role("volume_spike", "cpu", "memory_leak", role="symptom"))
    fill = FILL_P99 * (slow if kind == "execution_delay" else 1.0)
    fill_role = plan.role("execution_delay", role="symptom")
    d.add(gw.app, "order_fill_latency_seconds", fill, fill_role, extra={"quantile": "0.99"})
    leak: np.ndarray | float = 1.0
    if kind == "memory_leak":  # a linear climb from LEAK_RAMP_MINUTES before onset, full by startsAt
        climb_from = plan.onset - float(d.rng.uniform(*LEAK_RAMP_MINUTES)) * 60.0
        climb = np.clip((t - climb_from) / (plan.starts_at - climb_from), 0.0, 1.0)
        leak = 1 + plan.cause_z * d.noise * climb
    gc = 0.01 * (d.up(t, plan.effect_z * 4, plan.symptom_onset, plan.ramp) if kind == "memory_leak" else 1.0)
    busy = 0.5 + (CPU_LIMIT_CORES - 0.5) * ramp(t, plan.onset, plan.ramp) if kind == "cpu" else 0.5
    _runtime(d, gw, plan, heap=8e8 * leak * np.ones(t.size), gc=gc, role=plan.role("memory_leak"), cpu=busy)
    _container(d, gw, busy, 1.1e9 + 8e8 * (leak - 1), plan.role("cpu"), plan.role("memory_leak"))
    throttled = 0.2 + (8.0 * ramp(t, plan.onset + 30.0, plan.ramp) if kind == "cpu" else 0.0)
    d.add(gw.kubelet, "container_cpu_cfs_throttled_periods_total", throttled, plan.role("cpu"), counter=True)
    d.add(gw.kubelet, "container_cpu_cfs_periods_total", 10.0, counter=True, exact=True)
    _process(d, gw, plan)
    if kind == "deploy":
        d.series[before:] = _rolled_out(d, d.series[before:], plan)


def _requests(d: Draw, target: Target, rate: np.ndarray, share: np.ndarray, plan: Plan) -> None:
    role = plan.role("db_pool", "deploy", role="symptom")
    if plan.kind == "volume_spike":
        role = "effect"  # more traded volume, more orders
    if plan.variant["errors"] == "counters":
        d.add(target, "orders_submitted_total", rate, role, counter=True)
        d.add(target, "orders_rejected_total", rate * share, role, counter=True)
    else:
        d.add(
            target,
            "http_server_requests_total",
            rate * (1 - share),
            role,
            counter=True,
            extra={"code": "200"},
        )
        d.add(target, "http_server_requests_total", rate * share, role, counter=True, extra={"code": "500"})


def _latency(d: Draw, target: Target, median: np.ndarray | float, plan: Plan, role: Role) -> None:
    """Ack latency as a summary's p99 (+ `_count`), a histogram (buckets, `_sum`, `_count`) or the
    demo's plain gauge."""
    style = plan.variant["latency"]
    median = np.broadcast_to(np.asarray(median, dtype=float), target.times.shape)
    p99 = median * math.exp(P99_Z * LATENCY_SIGMA)
    if style == "gauge":
        d.add(target, "demo_order_latency_seconds", p99, role)
        return
    if style == "summary":
        d.add(target, "order_ack_latency_seconds", p99, role, extra={"quantile": "0.99"})
        d.add(target, "order_ack_latency_seconds_count", REQUESTS_PER_SECOND, counter=True)
        return
    count = d.add(target, "order_ack_latency_seconds_count", REQUESTS_PER_SECOND, role, counter=True)
    filled = np.interp(target.times, target.times[target.present], count.values[target.present])
    per_scrape = np.diff(filled, prepend=filled[0])
    noisy = median * (1 + d.noise * d.noisy(median.size))
    for le in BUCKETS:
        share = 1.0 if math.isinf(le) else ndtr((math.log(le) - np.log(noisy)) / LATENCY_SIGMA)
        values = filled[0] * (1.0 if math.isinf(le) else 0.9) + np.cumsum(per_scrape * share)
        labels = tuple(sorted({**target.labels, "le": "+Inf" if math.isinf(le) else repr(le)}.items()))
        cumulative = np.where(target.present, values, np.nan)
        d.series.append(
            Series(
                "order_ack_latency_seconds_bucket",
                labels,
                target.component,
                True,
                role,
                target.times,
                cumulative,
            )
        )
    total = filled[0] * 0.02 + np.cumsum(per_scrape * noisy * math.exp(LATENCY_SIGMA**2 / 2))
    labels = tuple(sorted(target.labels.items()))
    values = np.where(target.present, total, np.nan)
    d.series.append(
        Series("order_ack_latency_seconds_sum", labels, target.component, True, role, target.times, values)
    )


def _runtime(
    d: Draw,
    w: Workload,
    plan: Plan,
    heap: np.ndarray,
    gc: np.ndarray | float,
    role: Role,
    cpu: np.ndarray | float = 0.5,
) -> None:
    """Heap, GC time (a counter of seconds), resident memory and process CPU, as the JVM's Micrometer or
    Go's client exports them."""
    gc_role: Role = "effect" if role == "cause" else "background"
    if plan.variant["runtime"] == "jvm":
        d.add(w.app, "jvm_memory_used_bytes", heap, role, extra={"area": "heap", "id": "G1 Old Gen"})
        gc_extra = {"action": "end of minor GC"}
        d.add(w.app, "jvm_gc_pause_seconds_sum", gc, gc_role, counter=True, extra=gc_extra)
        d.add(w.app, "jvm_gc_pause_seconds_count", 2.0, counter=True, extra=gc_extra)
    else:
        d.add(w.app, "go_memstats_heap_inuse_bytes", heap, role)
        d.add(w.app, "go_gc_duration_seconds_sum", gc, gc_role, counter=True)
        d.add(w.app, "go_gc_duration_seconds_count", 2.0, counter=True)
    d.add(w.app, "process_resident_memory_bytes", heap * 1.3, role)
    cpu_role = plan.role("cpu") if w.name == "order-gateway" else "background"
    d.add(w.app, "process_cpu_seconds_total", cpu, cpu_role, counter=True)


def _container(
    d: Draw,
    w: Workload,
    cpu: np.ndarray | float,
    memory: np.ndarray | float,
    cpu_role: Role = "background",
    memory_role: Role = "background",
) -> None:
    """cAdvisor's CPU (a counter of seconds), working set and network bytes of one container."""
    cpu = np.minimum(np.asarray(cpu, dtype=float), CPU_LIMIT_CORES * 0.98)
    d.add(w.kubelet, "container_cpu_usage_seconds_total", cpu, cpu_role, counter=True)
    d.add(w.kubelet, "container_memory_working_set_bytes", memory, memory_role)
    d.add(w.kubelet, "container_network_transmit_bytes_total", 2e5, counter=True)


def _process(d: Draw, w: Workload, plan: Plan) -> None:
    """process_start_time_seconds and `order_gateway_build_info{version}`; a deploy changes both at onset."""
    started = d.start - float(d.rng.uniform(1, 30)) * 86400.0
    role = plan.role("deploy")
    restart = np.where(w.app.times >= plan.onset, plan.onset, started) if plan.kind == "deploy" else started
    d.add(w.app, "process_start_time_seconds", restart, role, exact=True)
    old = d.add(w.app, "order_gateway_build_info", 1.0, role, extra={"version": "2.41.3"}, exact=True)
    if plan.kind == "deploy":
        after = w.app.times >= plan.onset
        d.series[-1] = replace(old, values=np.where(after, np.nan, old.values))
        new = d.add(w.app, "order_gateway_build_info", 1.0, role, extra={"version": "2.42.0"}, exact=True)
        d.series[-1] = replace(new, values=np.where(after, new.values, np.nan))


def _rolled_out(d: Draw, series: Sequence[Series], plan: Plan) -> list[Series]:
    """The gateway's series through its rollout at onset: a new pod (new `pod`, `instance`) takes over
    every series, or the process restarts in place and its counters start again from 0."""
    out: list[Series] = []
    new_pod, new_ip = pod_name(d.rng, "order-gateway"), ip(d.rng, 8080)
    for s in series:
        first = int(np.argmax(s.times >= plan.onset))
        restarted = s.values.copy()
        if s.counter:
            restarted[first:] -= _last_before(s.values, first)
        if plan.variant["rollout"] == "restart_in_place":
            out.append(replace(s, values=restarted, resets=(first,)) if s.counter else s)
            continue
        labels = dict(s.labels) | {"pod": new_pod}
        if labels.get("job") != "kubelet":
            labels["instance"] = new_ip
        old = replace(s, values=np.where(s.times >= plan.onset, np.nan, s.values))
        new = replace(
            s, labels=tuple(sorted(labels.items())), values=np.where(s.times >= plan.onset, restarted, np.nan)
        )
        out += [x for x in (old, new) if np.isfinite(x.values).any()]
    return out


def _last_before(values: np.ndarray, index: int) -> float:
    """The last scraped value before `index` (what a counter had reached when its process stopped)."""
    finite = np.flatnonzero(np.isfinite(values[:index]))
    return float(values[finite[-1]]) if finite.size else 0.0


def _bystanders(d: Draw, plan: Plan) -> tuple[str, ...]:
    """Reporting (requests, runtime, container) and a risk batch job (container); 1-3 of them move near
    the cause by a comparable amount and fall back: the unrelated movers' keys."""
    count = int(d.rng.integers(MOVER_COUNT[0], MOVER_COUNT[1] + 1))
    chosen = set(d.rng.choice(MOVERS, size=count, replace=False).tolist())
    reporting, batch = d.workload("reporting"), d.workload("risk-batch")
    t = reporting.app.times

    def moved(kind: str, level: float) -> tuple[np.ndarray, Role]:
        if kind not in chosen:
            return np.full(t.size, level), "background"
        at = plan.onset + float(d.rng.uniform(*MOVER_OFFSET_MINUTES)) * 60.0
        minutes = float(d.rng.uniform(*MOVER_MINUTES))
        z = float(d.rng.uniform(*CAUSE_STRENGTH))
        shape = ramp(t, at, plan.ramp) - ramp(t, at + minutes * 60.0, plan.ramp)
        return level * (1 + z * d.noise * shape), "mover"

    d.add(reporting.app, "http_server_requests_total", 20.0, counter=True, extra={"code": "200"})
    gc, gc_role = moved("gc_blip", 0.01)
    runtime = plan.variant["runtime"]
    gc_name = "jvm_gc_pause_seconds_sum" if runtime == "jvm" else "go_gc_duration_seconds_sum"
    keys = [d.add(reporting.app, gc_name, gc, gc_role, counter=True).key]
    cpu, cpu_role = moved("cpu_burst", 0.3)
    keys.append(
        d.add(reporting.kubelet, "container_cpu_usage_seconds_total", cpu, cpu_role, counter=True).key
    )
    d.add(reporting.kubelet, "container_memory_working_set_bytes", 9e8)
    net, net_role = moved("batch_network", 5e6)
    keys.append(
        d.add(batch.kubelet, "container_network_transmit_bytes_total", net, net_role, counter=True).key
    )
    d.add(batch.kubelet, "container_cpu_usage_seconds_total", 1.0, counter=True)
    return tuple(k for k in keys if next(s for s in d.series if s.key == k).role == "mover")


def _alert(plan: Plan, namespace: str) -> AlertSpec:
    """The rule a user would write for the incident's symptom, and the labels its `by` gives the alert."""
    if plan.kind in ("volatility", "funding"):
        desk, book = next((dk, bk) for dk, bk, _ in BOOKS if bk == plan.variant["book"])
        name = plan.variant["pnl"]
        if name.endswith("_usd"):
            expr = f"sum by (namespace, book, desk) ({name}) < 1150000"
        else:
            expr = f"max by (namespace, book, desk) ({name}) > 0.03"
        labels = {
            "alertname": "BookPnLDrawdown",
            "severity": "critical",
            "namespace": namespace,
            "book": book,
            "desk": desk,
        }
        return AlertSpec("BookPnLDrawdown", expr, labels)
    gateway = 'service="order-gateway"'
    if plan.kind in ("db_pool", "deploy"):
        if plan.variant["errors"] == "counters":
            failed, total = f"orders_rejected_total{{{gateway}}}", f"orders_submitted_total{{{gateway}}}"
        else:
            failed = f'http_server_requests_total{{{gateway},code=~"5.."}}'
            total = f"http_server_requests_total{{{gateway}}}"
        expr = (
            f"sum by (namespace, service) (rate({failed}[5m]))"
            f" / sum by (namespace, service) (rate({total}[5m])) > 0.01"
        )
        name = "OrderErrorRatioHigh"
    elif plan.kind == "execution_delay":
        expr = f'max by (namespace, service) (order_fill_latency_seconds{{{gateway},quantile="0.99"}}) > 0.08'
        name = "OrderFillLatencyHigh"
    elif plan.variant["latency"] == "histogram":
        expr = (
            "histogram_quantile(0.99, sum by (namespace, service, le) "
            f"(rate(order_ack_latency_seconds_bucket{{{gateway}}}[5m]))) > 0.05"
        )
        name = "OrderAckLatencyHigh"
    elif plan.variant["latency"] == "summary":
        expr = f'max by (namespace, service) (order_ack_latency_seconds{{{gateway},quantile="0.99"}}) > 0.05'
        name = "OrderAckLatencyHigh"
    else:
        expr = f"max by (namespace, service) (demo_order_latency_seconds{{{gateway}}}) > 0.05"
        name = "OrderAckLatencyHigh"
    labels = {"alertname": name, "severity": "critical", "namespace": namespace, "service": "order-gateway"}
    return AlertSpec(name, expr, labels)
