"""Ten incidents on a trading firm's bare-metal estate, as real exporters write them (the fifth set of
`bench.exporters`, `--set hosts`, written without reading the analyst: held-out data).

No Kubernetes: Prometheus scrapes static/file_sd targets in data centre `ny4`, and the relabelling adds
only `host`, `dc`, `env`, `role` (and `desk` on the gateways) beside `job` and `instance` (host:port). Ten
hosts, 2026-12-04 11:00-16:00Z on the grid, targets and noise of `bench.exporters_data.Recording` (the US
equity open at 14:30Z drives order flow, market data and CPU): two FIX order gateways (`ny4-fixgw-01`
equities, `ny4-fixgw-02` crypto; a Java app behind the JMX javaagent, its own client_java metrics, chrony
and chrony_exporter), two market-data feed handlers on multicast (`ny4-md-01` ITCH, `ny4-md-02` Pillar; a
C++ app with prometheus-cpp, a tick writer beside it), the risk engine (JVM, `ny4-risk-01`), a PostgreSQL
primary with pgbouncer (`ny4-db-01`) and a reporting replica (`ny4-db-02`) with smartctl_exporter, Redis
(`ny4-cache-01`), nginx in front of the position UI (`ny4-web-01`), a batch host (`ny4-batch-01`), and the
top-of-rack switch `ny4-sw-01` through snmp_exporter's if_mib (`instance` is the device); blackbox probes the
venues' FIX endpoints. Every host runs node_exporter (:9100; timex, netstat, systemd with restart counts,
diskstats, filesystem, vmstat) and process-exporter (:9256, `namedprocess_namegroup_*{groupname}`).

Components are what the harness already knows without pods: a target is keyed by its `instance`
(`PODS` maps it to its service, or to its host for the host-level exporters: process-exporter,
chrony_exporter, smartctl_exporter), node_exporter's target `node-<host>` belongs to the host, the
switch's to the switch, a probe's to the endpoint it probes. The unrelated movers: the market open; the
hourly `logship` cron on ny4-batch-01 (`20 * * * *`, CPU, disk and network for 8 minutes); a restart of
Redis or nginx within a quarter hour of each alert (counters from zero); the quote cache's memory growing
all afternoon; now and then a target down for a minute, and in one scenario the batch host rebooted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from bench.exporters_data import DAY0, END, START, STEP, Delta, Injected, PodSpec, Recording
from bench.exporters_infra import reset_counters
from bench.exporters_scenarios import Alert, Scenario, Truth, climb, hms, ramp

GW1, GW2 = "ny4-fixgw-01", "ny4-fixgw-02"
MD1, MD2 = "ny4-md-01", "ny4-md-02"
RISK = "ny4-risk-01"
DB1, DB2 = "ny4-db-01", "ny4-db-02"
CACHE, WEB, BATCH = "ny4-cache-01", "ny4-web-01", "ny4-batch-01"
SWITCH = "ny4-sw-01"
MONITOR = "ny4-mon-01"  # runs snmp_exporter and blackbox_exporter (not itself in the incidents)
HOSTS: dict[str, tuple[str, str, str, int, float]] = {  # host: (ip, role, desk, cores, memory bytes)
    GW1: ("10.20.1.11", "fix-gateway", "equities", 8, 64e9),
    GW2: ("10.20.1.12", "fix-gateway", "crypto", 8, 64e9),
    MD1: ("10.20.2.21", "feed-handler", "", 8, 64e9),
    MD2: ("10.20.2.22", "feed-handler", "", 8, 64e9),
    RISK: ("10.20.3.31", "risk-engine", "", 8, 128e9),
    DB1: ("10.20.4.41", "postgres-primary", "", 4, 256e9),
    DB2: ("10.20.4.42", "postgres-replica", "", 4, 256e9),
    CACHE: ("10.20.5.51", "redis", "", 4, 32e9),
    WEB: ("10.20.5.61", "web-ui", "", 4, 16e9),
    BATCH: ("10.20.6.71", "batch", "", 4, 64e9),
}
NODES = {host: spec[0] for host, spec in HOSTS.items()} | {SWITCH: "10.20.0.2"}
# (host, port, job, component, exporter): every scrape target but node_exporter's and the probes
SERVICES: tuple[tuple[str, int, str, str, str], ...] = (
    *((h, 9256, "process", h, "process-exporter") for h in HOSTS),
    *((h, 9404, "fix-gateway", "fix-gateway", "jmx_prometheus_javaagent") for h in (GW1, GW2)),
    *((h, 9123, "chrony", h, "chrony_exporter") for h in (GW1, GW2)),
    *((h, 9310, "feed-handler", "feed-handler", "prometheus-cpp") for h in (MD1, MD2)),
    (RISK, 9404, "risk-engine", "risk-engine", "jmx_prometheus_javaagent"),
    *((h, 9187, "postgres", "postgres", "postgres_exporter") for h in (DB1, DB2)),
    *((h, 9633, "smartctl", h, "smartctl_exporter") for h in (DB1, DB2)),
    (DB1, 9127, "pgbouncer", "pgbouncer", "pgbouncer_exporter"),
    (CACHE, 9121, "redis", "redis", "redis_exporter"),
    (WEB, 9113, "nginx", "nginx", "nginx-prometheus-exporter"),
)
SNMP_KEY = "snmp-" + SWITCH
# target key (its instance): (component, exporter, host, ip, port)
PODS: dict[str, PodSpec] = {
    f"{h}:{port}": (component, exporter, h, HOSTS[h][0], port) for h, port, _, component, exporter in SERVICES
} | {SNMP_KEY: (SWITCH, "snmp_exporter", MONITOR, "10.20.0.5", 9116)}
JOB_OF = {f"{h}:{port}": job for h, port, job, _, _ in SERVICES}
SESSIONS = {GW1: ("NYSE", "NASDAQ"), GW2: ("BINANCE", "COINBASE")}
VENUES = {  # blackbox tcp_connect probes of the venues' FIX endpoints
    "nyse-fix": ("NYSE", "fix.nyse.example.net:10101"),
    "nasdaq-fix": ("NASDAQ", "fix.nasdaq.example.net:9880"),
    "binance-fix": ("BINANCE", "fix-oe.binance.example.com:9000"),
    "coinbase-fix": ("COINBASE", "fix-ord.coinbase.example.com:6121"),
}
FEEDS = {MD1: "itch", MD2: "pillar"}
PORTS = {
    h: f"Ethernet1/{k + 1}" for k, h in enumerate([GW1, GW2, MD1, MD2, RISK, DB1, DB2, CACHE, WEB, BATCH])
}
FALSETICKER = 1.4  # seconds ntp3 is ahead (its GPS lost lock)
SLEW = 500e-6  # chrony's maxslewrate on the gateways (500 ppm)
VENUE_TOLERANCE = 1.0  # the crypto venues reject a SendingTime more than 1 s off
DATA_SIZE = 4.0e11  # ny4-risk-01's /data (ext4, 5 % reserved)
HEAP_MAX = 15e9  # the risk engine's G1 old generation, -Xmx16g
MAX_DB_CONNECTIONS = 40.0  # pgbouncer's max_db_connections for `orders`
EOD_CONNECTIONS = 30.0
LAT_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
FEED_BUCKETS = (5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 0.1)
RISK_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, 5.0)
# The hourly logship cron on ny4-batch-01 (`20 * * * *`): 8 minutes compressing and shipping logs.
LOGSHIP = [
    (float(m * 60 + 20 * 60), float(m * 60 + 28 * 60))
    for m in range(int(START // 3600) * 60, int(END // 60), 60)
]
PAGE = 4096.0
PRECISE = "%.12g"  # the samples' format: a Unix time or a packet counter keeps its units


def host_labels(host: str, job: str, port: int) -> dict[str, str]:
    """What the file_sd relabelling gives a host's scrape target."""
    _, role, desk, _, _ = HOSTS[host]
    labels = {
        "job": job,
        "instance": f"{host}:{port}",
        "host": host,
        "dc": "ny4",
        "env": "prod",
        "role": role,
    }
    return labels | ({"desk": desk} if desk else {})


class Estate(Injected):
    """The estate's recording and what the scenario injects: outages, restarts, a reboot."""

    def __init__(self, seed: int, inject: Mapping[str, Delta]) -> None:
        super().__init__(Recording(seed, PODS, NODES), inject)
        self.market = self.rec.market_curve()
        self.down: dict[str, np.ndarray] = {}
        self.lives: dict[str, list[tuple[int, int]]] = {}

    def noise(self, sd: float, ar: float = 0.6) -> np.ndarray:
        """AR(1) noise of standard deviation `sd`, filtered in one pass."""
        return np.asarray(lfilter([math.sqrt(1 - ar * ar)], [1.0, -ar], self.rec.rng.normal(0, sd, self.n)))

    def index(self, t: float) -> int:
        return int(np.clip(np.searchsorted(self.grid, t), 0, self.n))

    def after(self, key: str) -> np.ndarray:
        """0 before the moment injected under `key` (none: always 0), seconds since it after."""
        at = self.at(key)
        return np.zeros(self.n) if at is None else np.clip(self.grid - at, 0, None)

    def since(self, key: str) -> np.ndarray:
        at = self.at(key)
        return np.zeros(self.n, bool) if at is None else self.grid >= at

    def reboot(self, host: str) -> float | None:
        return self.at(f"reboot.{host}")

    def scrape(self, key: str, labels: Mapping[str, str], host: str | None, miss: float = 0.01) -> str:
        """The target (up 0 for the minute injected as `down.<key>`, for three minutes while its host
        reboots; a reboot or a restart of its process starts its counters again from zero)."""
        target = self.rec.target(key, labels, miss=miss)
        down = np.zeros(self.n, bool)
        if (when := self.at(f"down.{key}")) is not None:
            down |= (self.grid >= when) & (self.grid < when + 60.0)
        restarts = [self.at(f"restart.{key}")]
        if host is not None and (when := self.reboot(host)) is not None:
            down |= (self.grid >= when) & (self.grid < when + 180.0)
            restarts.append(when + 180.0)
        if down.any():
            target.keep[down] = False
            self.down[key] = down
        cuts = sorted(self.index(t) for t in restarts if t is not None)
        self.lives[key] = (
            [(0, cuts[0]), *((c, d) for c, d in zip(cuts, [*cuts[1:], self.n], strict=True))] if cuts else []
        )
        return key

    def started(self, key: str, host: str, default: float) -> np.ndarray:
        """A process' start time: `default`, then each restart or its host's reboot."""
        out = np.full(self.n, default)
        for t in (self.at(f"restart.{key}"), self.reboot(host)):
            if t is not None:
                out[self.grid >= t] = t + (180.0 if t == self.reboot(host) else 2.0)
        return out


# --- What happens -----------------------------------------------------------------------------------------


@dataclass
class Flow:
    """The estate over the grid (pure numbers; the exporters below write them)."""

    orders: dict[str, np.ndarray]  # NewOrderSingle/s per gateway host (its sessions split it)
    offset: np.ndarray  # ny4-fixgw-02's clock error against UTC, seconds ahead
    remaining: np.ndarray  # the correction chrony still slews towards its selected source
    falseticker: np.ndarray  # bool: chrony follows ntp3
    rejects: np.ndarray  # share of ny4-fixgw-02's orders the venues reject (SendingTime accuracy)
    packets: dict[str, np.ndarray]  # multicast packets/s per feed host
    rcvbuf_drop: dict[str, np.ndarray]  # share dropped at the socket (receive buffer full)
    swap_used: np.ndarray  # ny4-md-02's swap in use
    thrash: np.ndarray  # 0..1 ny4-md-02 swapping hot pages
    tickwriter: np.ndarray  # the tick writer's memory (resident + swapped)
    available: dict[str, np.ndarray]  # MemAvailable per host
    feed_latency: dict[str, np.ndarray]  # median tick-to-publish seconds per feed host
    checks: np.ndarray  # risk checks/s
    live: np.ndarray  # the risk engine's old-gen live set
    pressure: np.ndarray  # 0..1 G1 out of old gen: full GCs back to back
    risk_latency: np.ndarray  # median seconds of a risk check
    data_written: np.ndarray  # bytes/s to ny4-risk-01's /data
    data_avail: np.ndarray
    journal_fail: np.ndarray  # 0..1 the risk engine's journal appends failing (no space)
    eod: np.ndarray  # server connections the EOD batch holds
    need: dict[str, np.ndarray]  # server connections gateway/risk users want
    have: dict[str, np.ndarray]
    waiting: dict[str, np.ndarray]  # pgbouncer clients waiting per user
    sdb: np.ndarray  # 0..1 ny4-db-01's WAL SSD remapping sectors
    query_time: np.ndarray  # median seconds of a query through pgbouncer
    analyst: np.ndarray  # seconds the analyst's query on the replica has run (0: none)
    replay_lag: np.ndarray  # the replica's replay lag, seconds
    link: np.ndarray  # 0..1 CRC errors on the switch port to ny4-fixgw-01
    flaps: np.ndarray  # bool: that link down at this scrape
    ack_latency: dict[str, np.ndarray]  # median venue ack seconds per gateway host
    dropcopy_down: np.ndarray  # bool: the drop-copy forwarder on ny4-fixgw-02 crash-looping
    logship: np.ndarray  # 0/1 the logship cron running
    redis_memory: np.ndarray


def simulate(w: Estate) -> Flow:
    g, m, n, noise = w.grid, w.market, w.n, w.noise
    crypto = 0.85 + 0.15 * np.sin((g - START) / 2900.0)
    orders = {GW1: 8 + 40 * m + noise(1.5), GW2: 18 * crypto + 6 * m + noise(1.0)}
    orders = {h: np.clip(v, 0.5, None) for h, v in orders.items()}

    # ---- ny4-fixgw-02's chrony follows a falseticker: the clock slews 500 ppm ahead until 1.4 s off
    falseticker = w.since("clock.falseticker")
    applied = np.minimum(w.after("clock.falseticker") * SLEW, FALSETICKER)
    remaining = np.where(falseticker, FALSETICKER - applied, 0.0)
    offset = applied + noise(0.00003)
    rejects = np.clip((offset - (VENUE_TOLERANCE - 0.06)) / 0.12, 0, 1)

    # ---- multicast: a socket buffer at the kernel default overflows in the open's bursts
    packets = {MD1: 60000 * m + 4000 + noise(800), MD2: 45000 * m + 3000 + noise(600)}
    rcvbuf_drop = {}
    for host in (MD1, MD2):
        small = w.at(f"rcvbuf.{host}") is not None
        burst = np.clip(packets[host] / 1e5 - 0.45, 0, None)
        rcvbuf_drop[host] = np.clip(0.05 * burst + 0.004 * burst * noise(1), 0, 0.3) if small else np.zeros(n)

    # ---- ny4-md-02: the tick writer leaks; once memory is gone it swaps, then thrashes
    leaked = np.cumsum(np.clip(w.added("tickwriter.leak"), 0, None) * STEP)
    leaked += w.at("tickwriter.leaked_before") or 0.0
    tickwriter = 6e9 + leaked
    available = {}
    for host, (_, _, _, _, memory) in HOSTS.items():
        used: np.ndarray | float = {MD1: 24e9, RISK: 30e9, DB1: 80e9, DB2: 80e9}.get(host, 0.3 * memory)
        if host == MD2:
            used = 18e9 + tickwriter
        available[host] = memory - used - 0.04 * memory * m + noise(memory * 0.002)
    swap_used = np.clip(1.5e9 - available[MD2], 0, None) * 1.0
    available[MD2] = np.maximum(available[MD2], 9e8 + noise(3e7))
    thrash = np.clip(swap_used / 7e9, 0, 1)
    feed_latency = {
        MD1: 1.8e-5 * (1 + 0.08 * m) * (1 + 6 * rcvbuf_drop[MD1]) * np.exp(noise(0.03)),
        MD2: 1.6e-5 * (1 + 0.08 * m) * (1 + 14 * thrash**1.2 * (0.6 + 0.4 * m)) * np.exp(noise(0.03)),
    }

    # ---- the risk engine: a check per order; its old generation keeps the day's orders
    checks = orders[GW1] + orders[GW2]
    live = 5.2e9 + 7e3 * np.cumsum(checks * STEP) + w.added("risk.reload") + noise(2e7)
    pressure = np.clip((live - 0.72 * HEAP_MAX) / (0.16 * HEAP_MAX), 0, 1) ** 1.5
    data_written = 1.6e6 + 3e5 * m + noise(5e4)
    data_written += w.since("risk.debug") * (6e6 + 9e6 * m)
    data_avail = np.clip((w.at("risk.data_avail") or 1.7e11) - np.cumsum(data_written * STEP), 0, None)
    journal_fail = np.clip((2e8 - data_avail) / 2e8, 0, 1)
    risk_latency = 3.2e-4 * (1 + 0.1 * m) * np.exp(noise(0.03)) + 0.03 * pressure

    # ---- pgbouncer: the EOD batch's long transactions hold most of `orders`' server connections
    eod = np.clip(w.after("eod.start") / 60.0, 0, 1) * EOD_CONNECTIONS * w.since("eod.start")
    need = {"gateway": 5 + 4.2 * m + noise(0.6), "risk": 3 + 1.6 * m + noise(0.4)}
    room = MAX_DB_CONNECTIONS - eod
    total = need["gateway"] + need["risk"]
    scale = np.clip(room / np.maximum(total, 1), 0, 1)
    have = {user: np.clip(np.round(v * scale), 0, None) for user, v in need.items()}
    waiting = {user: np.clip(np.round((need[user] - have[user]) * 2.2), 0, None) for user in need}

    # ---- ny4-db-01's WAL SSD remaps sectors: every commit's fsync waits
    sdb = np.clip(w.added("db1.sdb"), 0, 1)
    query_time = 9e-4 * (1 + 0.1 * m) * np.exp(noise(0.04)) + 0.03 * sdb**1.3

    # ---- the reporting replica: an ad-hoc query blocks replay (max_standby_streaming_delay = -1)
    analyst = w.after("replica.query") * w.since("replica.query")
    blocked = w.after("replica.conflict")
    idle = w.rec.rng.random(n) < 0.6
    replay_lag = np.where(blocked > 0, blocked, np.where(idle, 0.0, np.abs(noise(0.15))))

    # ---- the switch port to ny4-fixgw-01: a failing SFP, CRC errors, the link flapping
    link = np.clip(w.added("switch.port"), 0, 1)
    flaps = np.zeros(n, bool)
    if (first := w.at("switch.flap")) is not None:  # the link drops for a few seconds, three times
        for t in (first, first + 310.0, first + 425.0):
            flaps[min(w.index(t), n - 1)] = True
    ack_latency = {
        GW1: 3.5e-4 * (1 + 0.1 * m) * np.exp(noise(0.04)) * (1 + 45 * link),
        GW2: 1.1e-3 * (1 + 0.05 * m) * np.exp(noise(0.04)),
    }

    logship = np.zeros(n)
    for begin, end in LOGSHIP:
        logship[(g >= begin) & (g < end)] = 1.0
    hours = (g - DAY0) / 3600.0
    redis_memory = 2.1e9 + 1.6e9 * np.clip(hours - 12.0, 0, None) / 4 + noise(1e7)
    return Flow(
        orders,
        offset,
        remaining,
        falseticker,
        rejects,
        packets,
        rcvbuf_drop,
        swap_used,
        thrash,
        tickwriter,
        available,
        feed_latency,
        checks,
        live,
        pressure,
        risk_latency,
        data_written,
        data_avail,
        journal_fail,
        eod,
        need,
        have,
        waiting,
        sdb,
        query_time,
        analyst,
        replay_lag,
        link,
        flaps,
        ack_latency,
        w.since("dropcopy.crash"),
        logship,
        redis_memory,
    )


# --- The exporters ------------------------------------------------------------------------------------------


def cpu_demand(w: Estate, f: Flow, host: str) -> np.ndarray:
    """Cores busy on `host` (the gateways and feed handlers spin two and three cores polling)."""
    m = w.market
    demand = {
        GW1: 2.0 + 0.012 * f.orders[GW1],
        GW2: 2.0 + 0.012 * f.orders[GW2],
        MD1: 3.0 + f.packets[MD1] / 1.2e5,
        MD2: 3.0 + f.packets[MD2] / 1.2e5 + 0.6 * f.thrash,
        RISK: 0.6 + 0.004 * f.checks + 3.2 * f.pressure,
        DB1: 0.4 + 0.006 * f.checks + 0.05 * f.eod,
        DB2: 0.25 + 0.05 * m + 0.95 * (f.analyst > 0),
        CACHE: 0.15 + 0.08 * m,
        WEB: 0.1 + 0.04 * m,
        BATCH: 0.05 + 2.6 * f.logship + 1.4 * (f.eod > 0),
    }[host]
    return np.clip(demand + w.noise(0.03), 0.02, HOSTS[host][3] * 0.97)


def iowait_of(f: Flow, host: str) -> np.ndarray | float:
    return {DB1: 0.01 + 0.22 * f.sdb, MD2: 0.005 + 0.12 * f.thrash, BATCH: 0.004 + 0.06 * f.logship}.get(
        host, 0.003
    )


def write_node_exporter(w: Estate, f: Flow) -> None:
    """node_exporter on every host: CPU by mode, load, memory and swap, vmstat, filesystems, disks, NICs,
    netstat, timex and the systemd units it is told to watch."""
    rec, n, m = w.rec, w.n, w.market
    for host, (_, _, _, cores, memory) in HOSTS.items():
        key = w.scrape(f"node-{host}", host_labels(host, "node", 9100), host, miss=0.005)
        busy = cpu_demand(w, f, host)
        iowait = iowait_of(f, host)
        for cpu in range(cores):
            share = busy / cores
            for mode, part in (
                ("user", 0.82 * share),
                ("system", 0.14 * share),
                ("iowait", iowait * np.ones(n)),
                ("softirq", 0.004 + 0.04 * share * (host in (MD1, MD2))),
                ("idle", 1 - 0.96 * share - iowait - 0.004),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(part + w.noise(0.004), 0, 1),
                    whole=False,
                )
        rec.gauge(key, "node_load1", {}, np.clip(busy * 1.02 + 8 * iowait + w.noise(0.15), 0, None))
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(n, memory))
        rec.gauge(key, "node_memory_MemAvailable_bytes", {}, f.available[host])
        swapped = f.swap_used if host == MD2 else np.full(n, 2.1e7)
        rec.gauge(key, "node_memory_SwapTotal_bytes", {}, np.full(n, 16e9))
        rec.gauge(key, "node_memory_SwapFree_bytes", {}, 16e9 - swapped)
        thrash = f.thrash if host == MD2 else np.zeros(n)
        out = np.diff(swapped, prepend=swapped[0]).clip(0) / STEP / PAGE
        rec.counter(key, "node_vmstat_pswpout", {}, out + 2600 * thrash * (0.6 + 0.4 * m))
        rec.counter(key, "node_vmstat_pswpin", {}, 0.01 + 2400 * thrash**1.2 * (0.6 + 0.4 * m))
        rec.counter(key, "node_vmstat_pgmajfault", {}, 0.3 + 2100 * thrash**1.2 * (0.6 + 0.4 * m))
        rec.gauge(key, "node_boot_time_seconds", {}, boot_time(w, host))
        write_filesystems(w, f, key, host)
        write_disks(w, f, key, host)
        write_network(w, f, key, host)
        write_timex(w, f, key, host)
        write_systemd(w, f, key, host)


def boot_time(w: Estate, host: str) -> np.ndarray:
    out = np.full(w.n, START - 86400 * (9 + len(host) % 5) - 3600 * (ord(host[-1]) % 7))
    if (when := w.reboot(host)) is not None:
        out[w.grid >= when] = when + 40.0
    return out


def write_filesystems(w: Estate, f: Flow, key: str, host: str) -> None:
    rec, n = w.rec, w.n
    mounts = [("/dev/nvme0n1p2", "ext4", "/", 2.0e11, 1.2e11 - 4e9 * (len(host) % 4))]
    if host == RISK:
        mounts.append(("/dev/nvme1n1", "ext4", "/data", DATA_SIZE, 0.0))
    if host in (DB1, DB2):
        mounts.append(("/dev/sdc1", "xfs", "/var/lib/postgresql", 3.84e12, 1.9e12 + 1e10 * (host == DB2)))
        mounts.append(("/dev/sdb1", "xfs", "/var/lib/postgresql/16/main/pg_wal", 4.8e11, 4.2e11))
    if host == BATCH:
        mounts.append(("/dev/sdb1", "xfs", "/backup", 1.2e13, 4.1e12))
    for device, fstype, mountpoint, size, avail in mounts:
        labels = {"device": device, "fstype": fstype, "mountpoint": mountpoint}
        if mountpoint == "/data":
            free = f.data_avail + 0.05 * size
            avail_v = f.data_avail
        else:
            growth = 5e5 * (w.grid - START) if mountpoint in ("/var/lib/postgresql", "/backup") else 0
            avail_v = avail - growth + w.noise(2e7)
            free = avail_v + (0.05 * size if fstype == "ext4" else 0)
        rec.gauge(key, "node_filesystem_avail_bytes", labels, avail_v)
        rec.gauge(key, "node_filesystem_free_bytes", labels, free)
        rec.gauge(key, "node_filesystem_size_bytes", labels, np.full(n, size))
        rec.gauge(key, "node_filesystem_readonly", labels, np.zeros(n))


def write_disks(w: Estate, f: Flow, key: str, host: str) -> None:
    """diskstats: each device's writes, reads and time busy (a struggling device: each write retried)."""
    rec, m = w.rec, w.market
    disks: dict[
        str, tuple[np.ndarray | float, np.ndarray | float, np.ndarray | float]
    ] = {  # written/s, read/s, 0..1 sick
        "nvme0n1": (2e6 + 3e6 * f.logship * (host == BATCH) + 1e6 * m * (host == MD2), 1e5, 0.0)
    }
    if host == MD2:
        disks["nvme0n1"] = (2e6 + 1.2e7 * m + f.thrash * 1.1e7, 1e5 + f.thrash * 9.8e6, 0.0)  # ticks and swap
    if host == RISK:
        disks["nvme1n1"] = (f.data_written * (f.data_avail > 0), 2e5, 0.0)
    if host in (DB1, DB2):
        wal = (3e6 + 2e4 * f.checks) * (1 - 0.4 * f.sdb) if host == DB1 else 2e6 + 1.5e4 * f.checks
        reads = 4e6 + 1.5e8 * (f.analyst > 0) if host == DB2 else 8e6 + 4e6 * m
        disks["sda"] = (4e5, 2e4, 0.0)
        disks["sdb"] = (wal, 1e4, f.sdb if host == DB1 else 0.0)
        disks["sdc"] = (6e6 + 4e4 * f.checks, reads, 0.0)
    if host == BATCH:
        disks["sdb"] = (1e5 + 1.8e8 * f.logship, 1e5, 0.0)
    for device, (written, read, sick) in disks.items():
        dev = {"device": device}
        written = np.asarray(written) * np.ones(w.n)
        read = np.asarray(read) * np.ones(w.n)
        sick = np.asarray(sick) * np.ones(w.n)
        writes = written / 1.6e4 + 15
        wait = 0.00012 * (1 + 90 * sick**1.2)
        rec.counter(key, "node_disk_written_bytes_total", dev, written)
        rec.counter(key, "node_disk_read_bytes_total", dev, read)
        rec.counter(key, "node_disk_writes_completed_total", dev, writes)
        rec.counter(key, "node_disk_reads_completed_total", dev, np.asarray(read) / 3.2e4 + 2)
        rec.counter(key, "node_disk_write_time_seconds_total", dev, writes * wait, whole=False)
        rec.counter(
            key,
            "node_disk_read_time_seconds_total",
            dev,
            (np.asarray(read) / 3.2e4 + 2) * 1e-4 * (1 + 40 * sick),
            whole=False,
        )
        util = np.clip(0.01 + written / 9e8 + np.asarray(read) / 1.2e9 + 0.93 * sick, 0, 1)
        rec.counter(key, "node_disk_io_time_seconds_total", dev, util, whole=False)
        rec.counter(key, "node_disk_io_time_weighted_seconds_total", dev, util * (1 + 30 * sick), whole=False)


def write_network(w: Estate, f: Flow, key: str, host: str) -> None:
    """NICs (eno1 to the switch; the feed handlers' multicast on ens1f0), netstat's UDP and TCP."""
    rec, n, m = w.rec, w.n, w.market
    base = {GW1: 9e3, GW2: 5e3, RISK: 6e3, DB1: 8e3, DB2: 3e3, CACHE: 2e4, WEB: 2e3, BATCH: 1e3}.get(
        host, 2e3
    )
    pkts = base * (0.4 + 0.6 * m) + (4e4 * f.logship if host == BATCH else 0)
    crc = f.link if host == GW1 else np.zeros(n)
    eno1 = {"device": "eno1"}
    rec.counter(key, "node_network_receive_packets_total", eno1, pkts)
    rec.counter(key, "node_network_receive_bytes_total", eno1, pkts * 420)
    rec.counter(key, "node_network_transmit_packets_total", eno1, pkts * 0.9)
    rec.counter(key, "node_network_transmit_bytes_total", eno1, pkts * 380)
    rec.counter(key, "node_network_receive_errs_total", eno1, pkts * 0.003 * crc)
    rec.counter(key, "node_network_receive_drop_total", eno1, 0.02 + 0 * pkts)
    flaps = f.flaps if host == GW1 else np.zeros(n, bool)
    rec.counter(key, "node_network_carrier_changes_total", eno1, flaps * 2.0 / STEP)
    rec.gauge(key, "node_network_up", eno1, np.where(flaps, 0.0, 1.0))
    udp = 40 + 10 * m
    drops = np.zeros(n)
    if host in (MD1, MD2):
        mc = {"device": "ens1f0"}
        rec.counter(key, "node_network_receive_packets_total", mc, f.packets[host])
        rec.counter(key, "node_network_receive_bytes_total", mc, f.packets[host] * 310)
        rec.counter(key, "node_network_receive_drop_total", mc, 0.01 + 0 * m)
        drops = f.packets[host] * f.rcvbuf_drop[host]
        udp = f.packets[host] - drops
    rec.counter(key, "node_netstat_Udp_InDatagrams", {}, udp)
    rec.counter(key, "node_netstat_Udp_InErrors", {}, drops + 0.001)
    rec.counter(key, "node_netstat_Udp_RcvbufErrors", {}, drops)
    rec.counter(key, "node_netstat_Udp_NoPorts", {}, 0.05 + 0 * m)
    rec.counter(key, "node_netstat_Tcp_OutSegs", {}, pkts * 0.85)
    rec.counter(key, "node_netstat_Tcp_RetransSegs", {}, 0.2 + pkts * 0.85 * 0.004 * crc)


def write_timex(w: Estate, f: Flow, key: str, host: str) -> None:
    """The kernel's clock discipline as chrony drives it: a slew shows as a frequency adjustment."""
    rec, n = w.rec, w.n
    slewing = (f.remaining > 1e-3) if host == GW2 else np.zeros(n, bool)
    dispersion = chrony_dispersion(w, f, host)
    rec.gauge(key, "node_timex_offset_seconds", {}, w.noise(4e-6))
    rec.gauge(key, "node_timex_sync_status", {}, np.ones(n))
    rec.gauge(key, "node_timex_maxerror_seconds", {}, dispersion * 1.6 + 0.0008 + np.abs(w.noise(5e-5)))
    rec.gauge(key, "node_timex_estimated_error_seconds", {}, dispersion * 0.3 + np.abs(w.noise(2e-6)))
    freq = 1 - 12.4e-6 * (1 + len(host) % 3) + w.noise(2e-8)
    rec.gauge(key, "node_timex_frequency_adjustment_ratio", {}, freq + SLEW * slewing)
    rec.gauge(key, "node_timex_status", {}, np.full(n, 8193.0))


def chrony_dispersion(w: Estate, f: Flow, host: str) -> np.ndarray:
    """Root dispersion: a stratum-1 GPS server's is small; the falseticker's grows since its GPS is lost."""
    base = 2.5e-4 + np.abs(w.noise(2e-5))
    return base + (0.045 + 1.2e-5 * w.after("clock.falseticker") if host == GW2 else 0.0) * f.falseticker


UNITS: dict[str, tuple[tuple[str, str], ...]] = {  # host: (unit, type) node_exporter's unit-include keeps
    GW1: (
        ("fix-gateway.service", "simple"),
        ("dropcopy-forwarder.service", "simple"),
        ("chronyd.service", "forking"),
    ),
    GW2: (
        ("fix-gateway.service", "simple"),
        ("dropcopy-forwarder.service", "simple"),
        ("chronyd.service", "forking"),
    ),
    MD1: (("feed-handler.service", "simple"), ("tickwriter.service", "simple")),
    MD2: (("feed-handler.service", "simple"), ("tickwriter.service", "simple")),
    RISK: (("risk-engine.service", "simple"),),
    DB1: (("postgresql@16-main.service", "forking"), ("pgbouncer.service", "notify")),
    DB2: (("postgresql@16-main.service", "forking"),),
    CACHE: (("redis-server.service", "notify"),),
    WEB: (("nginx.service", "forking"), ("position-ui.service", "notify")),
    BATCH: (("eod-recon.service", "oneshot"),),
}
STATES = ("activating", "active", "deactivating", "failed", "inactive")


def crash_loop(w: Estate) -> tuple[np.ndarray, np.ndarray]:
    """The drop-copy forwarder from its bad config on: up 3 s, exits 1, `Restart=always RestartSec=30`:
    a scrape finds it activating (auto-restart) most of the time; its restarts, one per 33 s."""
    since = w.after("dropcopy.crash")
    looping = w.since("dropcopy.crash")
    phase = since % 33.0
    state = np.where(looping, np.where(phase < 3.0, 1, 0), 1)  # 1 active, 0 activating
    restarts = looping / 33.0
    return state, restarts


def write_systemd(w: Estate, f: Flow, key: str, host: str) -> None:
    rec, n = w.rec, w.n
    for unit, kind in UNITS[host]:
        state = np.full(n, STATES.index("active"))
        restarts = np.zeros(n)
        if unit == "eod-recon.service":
            state = np.where(
                f.eod > 0, STATES.index("activating"), STATES.index("inactive")
            )  # a oneshot runs
        if unit == "dropcopy-forwarder.service" and host == GW2:
            active, restarts = crash_loop(w)
            state = np.where(active == 1, STATES.index("active"), STATES.index("activating"))
        for k, name in enumerate(STATES):
            rec.gauge(
                key,
                "node_systemd_unit_state",
                {"name": unit, "state": name, "type": kind},
                (state == k).astype(float),
            )
        if kind != "oneshot":
            rec.counter(key, "node_systemd_service_restart_total", {"name": unit}, restarts, whole=False)


# ---- process-exporter: the process groups each host's config names


def process_groups(w: Estate, f: Flow, host: str) -> dict[str, dict[str, np.ndarray | float]]:
    """Per groupname: cores, resident and swapped bytes, written bytes/s, major faults/s, procs, threads,
    open fds and their limit, start time."""
    m, n = w.market, w.n
    started = START - 86400 * 3 + 3600 * (len(host) % 5)
    gw: dict[str, dict[str, np.ndarray | float]] = {
        "fix-gateway": {
            "cpu": 2.0 + 0.012 * f.orders.get(host, 0 * m),
            "rss": 6.2e9,
            "threads": 96,
            "fds": 410,
            "limit": 65536,
        },
        "chronyd": {"cpu": 0.001, "rss": 4.1e6, "threads": 1, "fds": 9, "limit": 1024},
    }
    if host in (GW1, GW2):
        crashing = host == GW2 and w.at("dropcopy.crash") is not None
        state = crash_loop(w)[0] if crashing else np.ones(n)
        since = w.after("dropcopy.crash")
        restarted = np.where(since > 0, w.grid - since % 33.0, started) if crashing else np.full(n, started)
        gw["dropcopy-forwarder"] = {
            "cpu": 0.03 + 0.0005 * f.orders.get(host, 0 * m) * state,
            "rss": 2.1e8 * state,
            "threads": 12 * state,
            "fds": 38 * state,
            "limit": 4096,
            "procs": state,
            "start": restarted,
        }
        return gw
    if host in (MD1, MD2):
        resident = np.minimum(f.tickwriter, f.tickwriter - f.swap_used) if host == MD2 else np.full(n, 6e9)
        feed: dict[str, dict[str, np.ndarray | float]] = {
            "feed-handler": {
                "cpu": 3.0 + f.packets[host] / 1.3e5,
                "rss": 8.4e9,
                "threads": 14,
                "fds": 120,
                "limit": 65536,
                "faults": 0.1 + (1900 * f.thrash**1.2 * (0.6 + 0.4 * m) if host == MD2 else 0),
            },
            "tickwriter": {
                "cpu": 0.2 + 0.1 * m,
                "rss": resident,
                "swapped": f.swap_used if host == MD2 else 0.0,
                "virtual": f.tickwriter * 1.08 if host == MD2 else 6.5e9,
                "write": 2e6 + 1.2e7 * m,
                "threads": 4,
                "fds": 26,
                "limit": 65536,
            },
        }
        return feed
    if host == RISK:
        return {
            "risk-engine": {
                "cpu": 0.5 + 0.004 * f.checks + 3.2 * f.pressure,
                "rss": 1.72e10,
                "threads": 180,
                "fds": 640,
                "limit": 65536,
                "write": f.data_written * (f.data_avail > 0) - 1.1e5,
            }
        }
    if host in (DB1, DB2):
        groups: dict[str, dict[str, np.ndarray | float]] = {
            "postgres": {
                "cpu": cpu_demand(w, f, host) * 0.9,
                "rss": 6.4e10,
                "threads": 60 + 40 * m,
                "fds": 2200,
                "limit": 1048576,
                "procs": 60 + 40 * m,
                "write": 6e6 + 4e4 * f.checks,
            }
        }
        if host == DB1:
            groups["pgbouncer"] = {
                "cpu": 0.05 + 0.03 * m,
                "rss": 1.9e7,
                "threads": 1,
                "fds": 150 + 3 * f.eod,
                "limit": 4096,
            }
        return groups
    if host == CACHE:
        return {
            "redis-server": {
                "cpu": 0.12 + 0.08 * m,
                "rss": f.redis_memory * 1.05,
                "threads": 5,
                "fds": 260,
                "limit": 10032,
                "start": w.started(f"{CACHE}:9121", CACHE, started),
            }
        }
    if host == WEB:
        return {
            "nginx": {
                "cpu": 0.05 + 0.03 * m,
                "rss": 6e7,
                "threads": 5,
                "procs": 5,
                "fds": 180,
                "limit": 8192,
                "start": w.started(f"{WEB}:9113", WEB, started),
            },
            "position-ui": {
                "cpu": 0.04 + 0.02 * m,
                "rss": 7.2e8,
                "threads": 18,
                "procs": 5,
                "fds": 90,
                "limit": 1024,
            },
        }
    running = (f.eod > 0).astype(float)
    return {
        "eod-recon": {
            "cpu": 1.4 * running,
            "rss": 3.1e9 * running,
            "threads": 40 * running,
            "procs": running,
            "fds": 70 * running,
            "limit": 65536,
            "start": np.where(running > 0, w.at("eod.start") or 0, 0.0),
        },
        "logship": {
            "cpu": 2.6 * f.logship,
            "rss": 4e8 * f.logship,
            "threads": 4 * f.logship,
            "procs": f.logship,
            "fds": 12 * f.logship,
            "limit": 1024,
            "write": 1.8e8 * f.logship,
        },
    }


def write_process_exporter(w: Estate, f: Flow) -> None:
    rec, n = w.rec, w.n
    for host in HOSTS:
        key = w.scrape(f"{host}:9256", host_labels(host, "process", 9256), host)
        for group, spec in process_groups(w, f, host).items():
            ones = np.ones(n)
            g = {"groupname": group}
            procs = np.asarray(spec.get("procs", 1.0)) * ones
            cpu = np.clip(np.asarray(spec["cpu"]) * ones + w.noise(0.005) * (procs > 0), 0, None)
            rec.gauge(key, "namedprocess_namegroup_num_procs", g, np.round(procs))
            rec.counter(
                key, "namedprocess_namegroup_cpu_seconds_total", g | {"mode": "user"}, cpu * 0.85, whole=False
            )
            rec.counter(
                key,
                "namedprocess_namegroup_cpu_seconds_total",
                g | {"mode": "system"},
                cpu * 0.15,
                whole=False,
            )
            rss = np.asarray(spec["rss"]) * ones
            rec.gauge(
                key,
                "namedprocess_namegroup_memory_bytes",
                g | {"memtype": "resident"},
                rss * (1 + w.noise(0.002)),
            )
            rec.gauge(
                key,
                "namedprocess_namegroup_memory_bytes",
                g | {"memtype": "swapped"},
                np.asarray(spec.get("swapped", 0.0)) * ones,
            )
            rec.gauge(
                key,
                "namedprocess_namegroup_memory_bytes",
                g | {"memtype": "virtual"},
                np.asarray(spec.get("virtual", rss * 1.4)) * ones,
            )
            fds = np.round(np.asarray(spec["fds"]) * ones + np.abs(w.noise(1.0)) * (procs > 0))
            rec.gauge(key, "namedprocess_namegroup_open_filedesc", g, fds)
            rec.gauge(key, "namedprocess_namegroup_worst_fd_ratio", g, fds / np.asarray(spec["limit"]))
            rec.gauge(
                key, "namedprocess_namegroup_num_threads", g, np.round(np.asarray(spec["threads"]) * ones)
            )
            rec.counter(
                key,
                "namedprocess_namegroup_major_page_faults_total",
                g,
                np.asarray(spec.get("faults", 0.02)) * ones,
            )
            rec.counter(
                key,
                "namedprocess_namegroup_write_bytes_total",
                g,
                np.clip(np.asarray(spec.get("write", 2e4)) * ones, 0, None),
            )
            rec.counter(key, "namedprocess_namegroup_read_bytes_total", g, 1e4 * ones)
            start = np.asarray(spec.get("start", START - 86400 * 3 + 3600 * (len(host) % 5))) * ones
            if (boot := w.reboot(host)) is not None:
                start = np.where(w.grid >= boot, boot + 60.0, start)
            rec.gauge(key, "namedprocess_namegroup_oldest_start_time_seconds", g, start)


# ---- the applications and the other exporters


def jvm(
    w: Estate,
    key: str,
    heap: np.ndarray,
    young: np.ndarray,
    old: tuple[np.ndarray, np.ndarray],
    cpu: np.ndarray,
) -> None:
    """client_java's JVM and process metrics as the JMX javaagent (1.x) exposes them."""
    rec, n = w.rec, w.n
    rec.gauge(key, "jvm_memory_used_bytes", {"area": "heap"}, heap)
    rec.gauge(key, "jvm_memory_used_bytes", {"area": "nonheap"}, 2.1e8 + w.noise(1e6))
    rec.gauge(
        key, "jvm_memory_max_bytes", {"area": "heap"}, np.full(n, 1.6e10 if key.startswith(RISK) else 8e9)
    )
    rec.counter(key, "jvm_gc_collection_seconds_count", {"gc": "G1 Young Generation"}, young)
    rec.counter(
        key, "jvm_gc_collection_seconds_sum", {"gc": "G1 Young Generation"}, young * 0.009, whole=False
    )
    rec.counter(key, "jvm_gc_collection_seconds_count", {"gc": "G1 Old Generation"}, old[0])
    rec.counter(key, "jvm_gc_collection_seconds_sum", {"gc": "G1 Old Generation"}, old[1], whole=False)
    rec.gauge(key, "jvm_threads_current", {}, np.round(90 + np.abs(w.noise(2))))
    rec.counter(key, "process_cpu_seconds_total", {}, cpu, whole=False)
    rec.gauge(key, "process_open_fds", {}, np.round(400 + np.abs(w.noise(3))))
    rec.gauge(key, "process_max_fds", {}, np.full(n, 65536.0))


def write_gateways(w: Estate, f: Flow) -> None:
    """The FIX gateways (Java: QuickFIX/J sessions, client_java metrics, HikariCP to pgbouncer)."""
    rec, n, m = w.rec, w.n, w.market
    risk_wait = f.risk_latency * 1.1
    for host in (GW1, GW2):
        key = w.scrape(f"{host}:9404", host_labels(host, "fix-gateway", 9404), host)
        sessions = SESSIONS[host]
        rejects = f.rejects if host == GW2 else np.zeros(n)
        for k, session in enumerate(sessions):
            share = 0.62 if k == 0 else 0.38
            sent = f.orders[host] * share
            s = {"session": session}
            rec.counter(key, "fix_messages_sent_total", s | {"msg_type": "D"}, sent)
            rec.counter(key, "fix_messages_sent_total", s | {"msg_type": "F"}, sent * 0.35)
            rec.counter(key, "fix_messages_received_total", s | {"msg_type": "8"}, sent * (1 - rejects) * 1.6)
            rec.counter(key, "fix_messages_received_total", s | {"msg_type": "3"}, sent * rejects + 0.0005)
            for reason, share_r in (("sending_time_accuracy", rejects), ("value_incorrect", 0.0004 + 0 * m)):
                rec.counter(key, "fix_session_rejects_total", s | {"reason": reason}, sent * share_r)
            rec.gauge(key, "fix_session_logged_on", s, np.ones(n))
            rec.histogram(
                key,
                "fix_order_ack_latency_seconds",
                s,
                sent * (1 - rejects),
                f.ack_latency[host] * (1.1 if k else 1.0),
                sigma=0.6,
                buckets=LAT_BUCKETS,
            )
        rec.histogram(
            key,
            "fix_gateway_order_latency_seconds",
            {},
            f.orders[host],
            8e-5 * np.exp(w.noise(0.03)) + risk_wait,
            sigma=0.6,
            buckets=LAT_BUCKETS,
        )
        half_need = f.need["gateway"] / 2
        active = np.clip(np.round(f.have["gateway"] / 2 + 10 * f.query_time * f.orders[host]), 0, 10)
        pool = {"pool": "orders"}
        rec.gauge(key, "hikaricp_connections_active", pool, active)
        rec.gauge(key, "hikaricp_connections_idle", pool, 10 - active)
        pending = np.clip(
            np.round(half_need - active + f.waiting["gateway"] / 2 + 40 * f.query_time * f.orders[host] - 2),
            0,
            None,
        )
        rec.gauge(key, "hikaricp_connections_pending", pool, pending)
        rec.gauge(key, "hikaricp_connections_max", pool, np.full(n, 10.0))
        heap = 1.8e9 + 2.4e9 * ((w.grid % 240) / 240) + w.noise(3e7)
        jvm(
            w,
            key,
            heap,
            0.2 + 0.004 * f.orders[host],
            (np.zeros(n), np.zeros(n)),
            2.0 + 0.012 * f.orders[host],
        )
        rec.gauge(key, "process_start_time_seconds", {}, np.full(n, START - 86400 * 3 + 1800))


def write_chrony(w: Estate, f: Flow) -> None:
    """chrony_exporter on the gateways: tracking and each source (ntp1/ntp2 GPS stratum 1, ntp3 a
    falseticker 1.4 s ahead since its GPS lost lock). A firewall change on ny4-fixgw-02 leaves only ntp3."""
    rec, n = w.rec, w.n
    for host in (GW1, GW2):
        key = w.scrape(f"{host}:9123", host_labels(host, "chrony", 9123), host)
        bad = f.falseticker if host == GW2 else np.zeros(n, bool)
        since = w.after("clock.falseticker") if host == GW2 else np.zeros(n)
        dispersion = chrony_dispersion(w, f, host)
        remaining = f.remaining if host == GW2 else np.zeros(n)
        rec.gauge(key, "chrony_tracking_system_time_seconds", {}, remaining + w.noise(6e-6))
        rec.gauge(key, "chrony_tracking_last_offset_seconds", {}, -remaining + w.noise(1.2e-5))
        rms = 2.2e-5 + np.abs(w.noise(3e-6)) + (1 - np.exp(-since / 900.0)) * 0.9 * bad
        rec.gauge(key, "chrony_tracking_rms_offset_seconds", {}, rms)
        rec.gauge(key, "chrony_tracking_root_dispersion_seconds", {}, dispersion)
        rec.gauge(key, "chrony_tracking_root_delay_seconds", {}, 1.1e-4 + np.abs(w.noise(5e-6)) + 3e-4 * bad)
        rec.gauge(key, "chrony_tracking_stratum", {}, np.where(bad, 3.0, 2.0))
        rec.gauge(key, "chrony_tracking_frequency_ppms", {}, -12.4 * (1 + len(host) % 3) + w.noise(0.02))
        rec.gauge(key, "chrony_tracking_skew_ppms", {}, 0.011 + np.abs(w.noise(0.002)) + 0.2 * bad)
        rec.gauge(key, "chrony_up", {}, np.ones(n))
        for name, address, ahead in (
            ("ntp1.ny4.internal", "10.20.0.11", 0.0),
            ("ntp2.ny4.internal", "10.20.0.12", 0.0),
            ("ntp3.ny4.internal", "10.20.0.13", FALSETICKER),
        ):
            source = {"source_address": address, "source_name": name}
            blocked = bad & (ahead == 0)
            reach = np.where(blocked, np.clip(1 - np.floor(since / 64.0) / 8.0, 0, 1), 1.0)
            rec.gauge(key, "chrony_sources_reachability_ratio", source, reach)
            local_ahead = f.offset if host == GW2 else np.zeros(n)
            last = np.where(blocked, 0.0, ahead - local_ahead) + w.noise(2e-5)
            if blocked.any():
                last = np.where(blocked, last[np.argmax(blocked) - 1], last)  # frozen at its last sample
            rec.gauge(key, "chrony_sources_last_sample_offset_seconds", source, last)


def write_feed_handlers(w: Estate, f: Flow) -> None:
    """The C++ feed handlers (prometheus-cpp): two multicast channels each, gaps when packets are lost."""
    rec, n = w.rec, w.n
    for host in (MD1, MD2):
        key = w.scrape(f"{host}:9310", host_labels(host, "feed-handler", 9310), host)
        feed = {"feed": FEEDS[host]}
        small = w.at(f"rcvbuf.{host}") is not None
        for channel, share in (("1", 0.55), ("2", 0.45)):
            c = feed | {"channel": channel}
            pkts = f.packets[host] * share
            lost = pkts * f.rcvbuf_drop[host]
            rec.counter(key, "feed_packets_received_total", c, pkts - lost)
            rec.counter(key, "feed_sequence_gaps_total", c, lost / 3.0 + 0.0005)
            rec.gauge(key, "feed_socket_rcvbuf_bytes", c, np.full(n, 212992.0 if small else 16777216.0))
        rec.counter(key, "feed_retransmit_requests_total", feed, f.packets[host] * f.rcvbuf_drop[host] / 3.0)
        rec.counter(key, "feed_messages_published_total", feed, f.packets[host] * 2.4)
        rec.histogram(
            key,
            "feed_tick_to_publish_seconds",
            feed,
            np.full(n, 20.0),  # sampled: one message in ~5000
            f.feed_latency[host],
            sigma=0.6,
            buckets=FEED_BUCKETS,
        )


def write_risk(w: Estate, f: Flow) -> None:
    """The risk engine (JVM, JMX javaagent 1.x): its checks, the gateways' fills by drop copy, its journal."""
    rec, n = w.rec, w.n
    key = w.scrape(f"{RISK}:9404", host_labels(RISK, "risk-engine", 9404), RISK)
    errors = f.journal_fail
    rec.counter(key, "risk_checks_total", {"result": "pass"}, f.checks * 0.996 * (1 - errors))
    rec.counter(key, "risk_checks_total", {"result": "reject"}, f.checks * 0.004 * (1 - errors))
    rec.counter(key, "risk_checks_total", {"result": "error"}, f.checks * errors + 0.0003)
    rec.counter(key, "risk_journal_append_failures_total", {}, f.checks * errors)
    rec.histogram(
        key, "risk_check_duration_seconds", {}, f.checks, f.risk_latency, sigma=0.7, buckets=RISK_BUCKETS
    )
    for host in (GW1, GW2):
        flowing = ~f.dropcopy_down if host == GW2 else np.ones(n, bool)
        fills = f.orders[host] * 0.7 * flowing
        src = {"source": host}
        rec.counter(key, "risk_fills_received_total", src, fills)
        last = w.grid - np.abs(w.noise(0.6)) - 0.2
        if not flowing.all():
            last = np.where(flowing, last, last[np.argmin(flowing) - 1])
        rec.gauge(key, "risk_last_fill_timestamp_seconds", src, last)
    # G1: the old generation holds the live set plus garbage mixed collections reclaim; out of it, full GCs
    cycle = 420.0 * (1 - 0.85 * f.pressure) + 20
    garbage = 2.2e9 * ((w.grid % cycle) / cycle) * (1 - 0.7 * f.pressure)
    old_used = np.minimum(f.live + garbage, HEAP_MAX * 0.995)
    rec.gauge(key, "jvm_memory_pool_used_bytes", {"pool": "G1 Old Gen"}, old_used)
    rec.gauge(key, "jvm_memory_pool_max_bytes", {"pool": "G1 Old Gen"}, np.full(n, HEAP_MAX))
    eden = 6e8 * ((w.grid % 37) / 37)
    rec.gauge(key, "jvm_memory_pool_used_bytes", {"pool": "G1 Eden Space"}, eden)
    rec.gauge(key, "jvm_memory_pool_used_bytes", {"pool": "G1 Survivor Space"}, 6e7 + w.noise(2e6))
    young = 0.4 + 0.005 * f.checks + 1.5 * f.pressure
    full = 0.18 * f.pressure
    jvm(w, key, old_used + eden, young, (full, full * 3.6), 0.5 + 0.004 * f.checks + 3.2 * f.pressure)
    rec.gauge(key, "process_start_time_seconds", {}, np.full(n, START - 86400 + 4 * 3600))


def write_postgres(w: Estate, f: Flow) -> None:
    """postgres_exporter (v0.15) on the primary and the reporting replica."""
    rec, n, m = w.rec, w.n, w.market
    for host in (DB1, DB2):
        key = w.scrape(f"{host}:9187", host_labels(host, "postgres", 9187), host, miss=0.015)
        primary = host == DB1
        sessions: list[tuple[str, str, str, np.ndarray, np.ndarray, np.ndarray | None]] = []
        if primary:
            for user, app in (("gateway", "fix-gateway"), ("risk", "risk-engine")):
                busy = f.have[user] * np.clip(0.3 + 8 * f.query_time, 0, 1)
                sessions.append((user, app, "active", busy, 0.002 + f.query_time * 3, None))
                sessions.append((user, app, "idle", f.have[user] - busy + 2, np.zeros(n), None))
            live = f.eod > 0
            held = np.round(f.eod)
            sessions.append(
                ("eod_batch", "eod-recon", "active", np.round(held * 0.3), w.after("eod.start"), live)
            )
            sessions.append(
                (
                    "eod_batch",
                    "eod-recon",
                    "idle in transaction",
                    held - np.round(held * 0.3),
                    w.after("eod.start") * 0.95,
                    live,
                )
            )
        else:
            sessions.append(("position_ui", "position-ui", "active", 1 + 0.5 * m, 0.05 + 0 * m, None))
            sessions.append(("position_ui", "position-ui", "idle", 8 + 0 * m, np.zeros(n), None))
            if (started := w.at("replica.query")) is not None:
                live = w.grid >= started
                analyst = "DBeaver 24.1.0 - SQLEditor <orders.sql>"
                sessions.append(("analyst", analyst, "active", np.ones(n), f.analyst, live))
                sessions.append(("analyst", analyst, "idle", np.ones(n), np.zeros(n), live))
        for user, app, state, count, longest, alive in sessions:
            labels = {"datname": "orders", "state": state, "usename": user, "application_name": app}
            count = np.clip(np.round(np.asarray(count) * np.ones(n) + w.noise(0.4)), 0, None)
            rec.gauge(key, "pg_stat_activity_count", labels, count, alive=alive)
            rec.gauge(
                key,
                "pg_stat_activity_max_tx_duration",
                labels,
                np.asarray(longest) + np.abs(w.noise(0.02)),
                alive=alive,
            )
        commits = 12 + 1.6 * f.checks if primary else 0.2 + 0 * m
        rec.counter(key, "pg_stat_database_xact_commit", {"datid": "16385", "datname": "orders"}, commits)
        rec.counter(
            key,
            "pg_stat_database_blks_read",
            {"datid": "16385", "datname": "orders"},
            300 + (1.8e4 * (f.analyst > 0) if not primary else 200 * m),
        )
        rec.gauge(key, "pg_replication_lag_seconds", {}, np.zeros(n) if primary else f.replay_lag)
        rec.gauge(key, "pg_replication_is_replica", {}, np.full(n, 0.0 if primary else 1.0))
        if primary:
            replica = {
                "application_name": DB2,
                "client_addr": HOSTS[DB2][0],
                "state": "streaming",
                "slot_name": "ny4_db_02",
            }
            wal_rate = 2.5e5 + 2e3 * f.checks
            rec.gauge(
                key,
                "pg_stat_replication_pg_wal_lsn_diff",
                replica,
                np.round(wal_rate * (f.replay_lag + 0.05)),
            )
        rec.gauge(key, "pg_settings_max_connections", {}, np.full(n, 300.0))
        rec.gauge(key, "pg_database_size_bytes", {"datname": "orders"}, 1.61e12 + 3e4 * (w.grid - START))
        rec.gauge(key, "pg_up", {}, np.ones(n))


def write_pgbouncer(w: Estate, f: Flow) -> None:
    """pgbouncer_exporter on the primary: pools per (database, user); the batch's pool exists once it
    connects."""
    rec, n = w.rec, w.n
    key = w.scrape(f"{DB1}:9127", host_labels(DB1, "pgbouncer", 9127), DB1)
    users: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = {
        user: (f.need[user] * 1.8 + 4, f.have[user], f.waiting[user], None) for user in ("gateway", "risk")
    }
    if w.at("eod.start") is not None:
        users["eod_batch"] = (f.eod, f.eod, np.zeros(n), f.eod > 0)
    for user, (clients, servers, waiting, alive) in users.items():
        pool = {"database": "orders", "user": user}
        rec.gauge(
            key,
            "pgbouncer_pools_client_active_connections",
            pool,
            np.clip(np.round(clients - waiting), 0, None),
            alive=alive,
        )
        rec.gauge(key, "pgbouncer_pools_client_waiting_connections", pool, waiting, alive=alive)
        rec.gauge(key, "pgbouncer_pools_server_active_connections", pool, np.round(servers), alive=alive)
        rec.gauge(
            key,
            "pgbouncer_pools_server_idle_connections",
            pool,
            np.clip(np.round(2 - waiting), 0, 2) if user != "eod_batch" else np.zeros(n),
            alive=alive,
        )
        maxwait = np.where(waiting > 0, 0.4 + 0.35 * waiting, np.abs(w.noise(0.0004)))
        rec.gauge(key, "pgbouncer_pools_client_maxwait_seconds", pool, maxwait, alive=alive)
    queries = 30 + 2.6 * f.checks
    waited = sum(f.waiting.values())
    rec.counter(key, "pgbouncer_stats_queries_pooled_total", {"database": "orders"}, queries)
    rec.counter(
        key,
        "pgbouncer_stats_queries_duration_seconds_total",
        {"database": "orders"},
        queries * f.query_time,
        whole=False,
    )
    rec.counter(
        key, "pgbouncer_stats_client_wait_seconds_total", {"database": "orders"}, waited * 0.9, whole=False
    )
    rec.counter(key, "pgbouncer_stats_sql_transactions_pooled_total", {"database": "orders"}, queries * 0.45)
    db = {
        "name": "orders",
        "exported_host": "127.0.0.1",
        "port": "5432",
        "database": "orders",
        "force_user": "",
        "pool_mode": "transaction",
    }
    current = np.clip(f.have["gateway"] + f.have["risk"] + f.eod + 4, 0, MAX_DB_CONNECTIONS)
    rec.gauge(key, "pgbouncer_databases_current_connections", db, np.round(current))
    rec.gauge(key, "pgbouncer_databases_max_connections", db, np.full(n, MAX_DB_CONNECTIONS))
    rec.gauge(key, "pgbouncer_databases_pool_size", db, np.full(n, 20.0))
    rec.gauge(key, "pgbouncer_config_max_client_connections", {}, np.full(n, 2000.0))
    rec.gauge(key, "pgbouncer_up", {}, np.ones(n))


SMART_ATTRIBUTES = (  # (id, name, flags short, flags long, value at rest)
    ("5", "Reallocated_Sector_Ct", "PO--CK", "prefailure,updateable,event_count,auto_keep", 100),
    ("9", "Power_On_Hours", "-O--CK", "updateable,event_count,auto_keep", 97),
    ("187", "Reported_Uncorrect", "-O--CK", "updateable,event_count,auto_keep", 100),
    ("194", "Temperature_Celsius", "-O---K", "updateable,auto_keep", 66),
    ("197", "Current_Pending_Sector", "-O--CK", "updateable,event_count,auto_keep", 100),
)


def write_smartctl(w: Estate, f: Flow) -> None:
    """smartctl_exporter on the database hosts: SATA SSDs sda (OS), sdb (WAL), sdc (data)."""
    rec, n = w.rec, w.n
    for host in (DB1, DB2):
        key = w.scrape(f"{host}:9633", host_labels(host, "smartctl", 9633), host)
        for device in ("sda", "sdb", "sdc"):
            sick = f.sdb if host == DB1 and device == "sdb" else np.zeros(n)
            remapped = 4 + np.floor(np.cumsum(0.35 * sick * STEP))
            raw = {
                "5": remapped,
                "9": 21000 + (w.grid - START) / 3600,
                "187": np.floor(np.cumsum(0.02 * sick * STEP)),
                "194": 34 + 0.5 * np.sin((w.grid - START) / 5000) + 3 * sick,
                "197": np.round(60 * sick**1.3),
            }
            for attr, name, short, flags, rest in SMART_ATTRIBUTES:
                labels = {
                    "attribute_flags_long": flags,
                    "attribute_flags_short": short,
                    "attribute_id": attr,
                    "attribute_name": name,
                    "device": device,
                }
                rec.gauge(
                    key,
                    "smartctl_device_attribute",
                    labels | {"attribute_value_type": "raw"},
                    np.asarray(raw[attr]) * np.ones(n),
                )
                value = rest - np.floor(remapped / 60) if attr == "5" else np.full(n, float(rest))
                rec.gauge(key, "smartctl_device_attribute", labels | {"attribute_value_type": "value"}, value)
            rec.gauge(key, "smartctl_device_smart_status", {"device": device}, np.ones(n))
            rec.gauge(
                key,
                "smartctl_device_temperature",
                {"device": device, "temperature_type": "current"},
                np.asarray(raw["194"]) * np.ones(n),
            )


def write_redis(w: Estate, f: Flow) -> None:
    rec, n, m = w.rec, w.n, w.market
    key = w.scrape(f"{CACHE}:9121", host_labels(CACHE, "redis", 9121), CACHE)
    start = w.started(key, CACHE, START - 86400 * 6)
    restarted = (w.grid >= start) & (w.grid < start + 20)
    rec.gauge(key, "redis_up", {}, np.where(restarted & (start > START), 0.0, 1.0))
    rec.gauge(key, "redis_uptime_in_seconds", {}, np.clip(w.grid - start, 0, None))
    cold = np.exp(-np.clip(w.grid - start, 0, None) / 300.0) * (start > START)
    rec.gauge(key, "redis_connected_clients", {}, np.round(140 + 30 * m + w.noise(3)) * (1 - 0.6 * cold))
    rec.counter(key, "redis_commands_processed_total", {}, 4000 + 9000 * m)
    rec.counter(key, "redis_keyspace_hits_total", {}, (2500 + 6000 * m) * (1 - 0.8 * cold))
    rec.counter(key, "redis_keyspace_misses_total", {}, 90 + 200 * m + (2500 + 6000 * m) * 0.8 * cold)
    memory = np.where(start > START, f.redis_memory * (1 - cold), f.redis_memory)
    rec.gauge(key, "redis_memory_used_bytes", {}, memory)
    rec.gauge(key, "redis_memory_max_bytes", {}, np.full(n, 1.2e10))
    rec.gauge(key, "redis_db_keys", {"db": "db0"}, np.round(memory / 2400))


def write_nginx(w: Estate, f: Flow) -> None:
    """nginx-prometheus-exporter (stub_status) in front of the position UI."""
    rec, m = w.rec, w.market
    key = w.scrape(f"{WEB}:9113", host_labels(WEB, "nginx", 9113), WEB)
    accepted = 3 + 2 * m
    rec.counter(key, "nginx_connections_accepted", {}, accepted)
    rec.counter(key, "nginx_connections_handled", {}, accepted)
    rec.counter(key, "nginx_http_requests_total", {}, 40 + 35 * m)
    active = np.round(60 + 40 * m + w.noise(4))
    rec.gauge(key, "nginx_connections_active", {}, active)
    rec.gauge(key, "nginx_connections_reading", {}, np.round(np.abs(w.noise(0.8))))
    rec.gauge(key, "nginx_connections_writing", {}, np.round(3 + np.abs(w.noise(1.5))))
    rec.gauge(key, "nginx_connections_waiting", {}, active - 3)
    rec.gauge(key, "nginx_up", {}, np.ones(w.n))


def write_switch(w: Estate, f: Flow) -> None:
    """snmp_exporter's if_mib module for the top-of-rack switch (one port per host; `instance` the device)."""
    rec, n, m = w.rec, w.n, w.market
    labels = {"job": "snmp", "instance": SWITCH, "dc": "ny4", "env": "prod", "role": "tor-switch"}
    key = w.scrape(SNMP_KEY, labels, None, miss=0.01)
    rec.gauge(key, "sysUpTime", {}, (w.grid - (START - 86400 * 212)) * 100)
    for k, (host, port) in enumerate(PORTS.items()):
        iface = {"ifAlias": host, "ifDescr": port, "ifIndex": str(436207616 + 4096 * k), "ifName": port}
        base = {
            GW1: 9e3,
            GW2: 5e3,
            MD1: 3e3,
            MD2: 3e3,
            RISK: 6e3,
            DB1: 8e3,
            DB2: 3e3,
            CACHE: 2e4,
            WEB: 2e3,
        }.get(host, 1e3)
        pkts = base * (0.4 + 0.6 * m) * 0.9 + (4e4 * f.logship if host == BATCH else 0)
        crc = f.link if host == GW1 else np.zeros(n)
        flaps = f.flaps if host == GW1 else np.zeros(n, bool)
        rec.counter(key, "ifHCInUcastPkts", iface, pkts)
        rec.counter(key, "ifHCInOctets", iface, pkts * 380)
        rec.counter(key, "ifHCOutOctets", iface, pkts * 450)
        rec.counter(key, "ifInErrors", iface, pkts * 0.004 * crc)
        rec.counter(key, "ifOutDiscards", iface, 0.001 + 0 * m)
        rec.gauge(key, "ifOperStatus", iface, np.where(flaps, 2.0, 1.0))
        rec.gauge(key, "ifAdminStatus", iface, np.ones(n))
        rec.gauge(key, "ifSpeed", iface, np.full(n, 4294967295.0))
        rec.gauge(key, "ifHighSpeed", iface, np.full(n, 25000.0))


def write_blackbox(w: Estate) -> None:
    """blackbox_exporter's tcp_connect probes of the venues' FIX endpoints (from ny4-mon-01)."""
    rec, n = w.rec, w.n
    for name, (venue, address) in VENUES.items():
        labels = {
            "job": "blackbox-fix",
            "instance": address,
            "module": "tcp_connect",
            "venue": venue,
            "dc": "ny4",
            "env": "prod",
        }
        key = w.scrape("probe-" + name, labels, None, miss=0.005)
        rec.gauge(key, "probe_success", {}, np.ones(n))
        rec.gauge(
            key,
            "probe_duration_seconds",
            {},
            0.0009 + 0.03 * venue.startswith(("BIN", "COIN")) + np.abs(w.noise(0.0002)),
        )
        rec.gauge(key, "probe_dns_lookup_time_seconds", {}, 0.0003 + np.abs(w.noise(0.00005)))


def build_estate(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series in the estate, with each of `inject`'s deltas added where it is read."""
    w = Estate(seed, inject)
    f = simulate(w)
    write_node_exporter(w, f)
    write_process_exporter(w, f)
    write_gateways(w, f)
    write_chrony(w, f)
    write_feed_handlers(w, f)
    write_risk(w, f)
    write_postgres(w, f)
    write_pgbouncer(w, f)
    write_smartctl(w, f)
    write_redis(w, f)
    write_nginx(w, f)
    write_switch(w, f)
    write_blackbox(w)
    for key, lives in w.lives.items():  # a restarted process, a rebooted host: counters from zero
        if len(lives) > 1:
            reset_counters(w.rec, key, lives)
    w.rec.up()
    for row in w.rec.families["up"]:  # a target that did not answer: up 0
        if (down := w.down.get(row.target)) is not None:
            row.values[down] = 0.0
    for name, rows in w.rec.families.items():  # `%.6g` would round timestamps and big counters to ~1e3
        w.rec.families[name] = [dataclasses.replace(row, fmt=PRECISE) for row in rows]
    return w.rec


# --- The scenarios ---------------------------------------------------------------------------------------

REDIS = f"{CACHE}:9121"
NGINX = f"{WEB}:9113"


def restart(key: str, at: float) -> dict[str, Delta]:
    """An unrelated service restarted (`systemctl restart`): its counters from zero, a cold start."""
    return {f"restart.{key}": at}


def _clock_falseticker() -> Scenario:
    on = hms(13, 52)
    return Scenario(
        "clock_falseticker",
        {"clock.falseticker": on, **restart(REDIS, hms(14, 15)), f"down.{MD2}:9310": hms(14, 2)},
        Alert(
            "FixOrderRejectRatioHigh",
            'sum by (job, host) (rate(fix_session_rejects_total{job="fix-gateway"}[5m]))\n  / '
            'sum by (job, host) (rate(fix_messages_sent_total{job="fix-gateway", msg_type="D"}[5m])) > 0.05',
            {"job": "fix-gateway", "host": GW2},
            starts=hms(14, 27),  # for: 2m
            active=hms(14, 25),
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            (GW2,),
            (
                "chrony_tracking_system_time_seconds",
                "chrony_tracking_last_offset_seconds",
                "chrony_tracking_rms_offset_seconds",
                "chrony_tracking_root_dispersion_seconds",
                "chrony_tracking_stratum",
                "chrony_tracking_skew_ppms",
                "chrony_sources_reachability_ratio",
                "chrony_sources_last_sample_offset_seconds",
                "node_timex_frequency_adjustment_ratio",
                "node_timex_maxerror_seconds",
                "node_timex_estimated_error_seconds",
            ),
            "ny4-fixgw-02's chrony left with only ntp3, a falseticker 1.4 s ahead: it slews the clock there "
            "at 500 ppm; past 1 s the crypto venues reject SendingTime",
            {"host": GW2},
        ),
        build=build_estate,
    )


def _udp_rcvbuf() -> Scenario:
    return Scenario(
        "udp_rcvbuf_drops",
        {
            f"rcvbuf.{MD1}": START - 8 * 3600.0,
            **restart(NGINX, hms(14, 21)),
            f"down.{RISK}:9256": hms(14, 12),
        },
        Alert(
            "FeedHandlerSequenceGaps",
            'sum by (job, host, feed) (rate(feed_sequence_gaps_total{job="feed-handler"}[1m])) > 1',
            {"job": "feed-handler", "host": MD1, "feed": "itch"},
            starts=hms(14, 31, 15),  # for: 1m
            active=hms(14, 30, 15),
            extra={"severity": "critical", "team": "market-data"},
        ),
        Truth(
            (MD1, "feed-handler"),
            ("node_netstat_Udp_RcvbufErrors", "node_netstat_Udp_InErrors", "feed_socket_rcvbuf_bytes"),
            "ny4-md-01's net.core.rmem_max lost in last night's reboot: the ITCH socket's 208 KiB buffer "
            "overflows in the open's bursts (UDP RcvbufErrors), the handler sees gaps",
            {"host": MD1},
            categories=("network",),
        ),
        build=build_estate,
    )


def _log_volume_full() -> Scenario:
    return Scenario(
        "risk_data_volume_full",
        {
            "risk.debug": hms(12, 40),
            "risk.data_avail": 9.6e10,
            **restart(REDIS, hms(14, 33)),
            f"down.{MD1}:9256": hms(14, 37),
        },
        Alert(
            "RiskCheckErrorRatioHigh",
            'sum by (job) (rate(risk_checks_total{job="risk-engine", result="error"}[5m]))\n  / sum by (job) '
            '(rate(risk_checks_total{job="risk-engine"}[5m])) > 0.01',
            {"job": "risk-engine"},
            starts=hms(14, 43, 15),  # for: 1m
            active=hms(14, 42, 15),
            extra={"severity": "critical", "team": "risk"},
        ),
        Truth(
            (RISK, "risk-engine"),
            (
                'node_filesystem_avail_bytes{mountpoint="/data"}',
                'node_filesystem_free_bytes{mountpoint="/data"}',
                'node_disk_written_bytes_total{device="nvme1n1"}',
                'node_disk_writes_completed_total{device="nvme1n1"}',
                'namedprocess_namegroup_write_bytes_total{groupname="risk-engine"}',
                "risk_journal_append_failures_total",
            ),
            "DEBUG logging left on in the risk engine since 12:40 fills ny4-risk-01's /data; its journal "
            "appends fail (ENOSPC) and every check errors",
            {"host": RISK},
            categories=("resource.disk",),
        ),
        build=build_estate,
    )


def _gc_storm() -> Scenario:
    return Scenario(
        "risk_gc_storm",
        {
            "risk.reload": ramp(hms(14, 50), 3.0e9, 120),
            **restart(NGINX, hms(14, 47)),
            f"down.{GW1}:9123": hms(14, 50),
        },
        Alert(
            "FixGatewayOrderLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job) (rate(fix_gateway_order_latency_seconds_bucket"
            '{job="fix-gateway"}[5m]))) > 0.025',
            {"job": "fix-gateway"},
            starts=hms(14, 55, 15),  # for: 3m
            active=hms(14, 52, 15),
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            ("risk-engine", RISK),
            (
                'jvm_memory_pool_used_bytes{pool="G1 Old Gen"}',
                'jvm_memory_used_bytes{area="heap"}',
                "jvm_gc_collection_seconds",
            ),
            "a refdata reload at 14:50 keeps the old instrument maps too: the risk engine's old gen full, "
            "G1 full GCs back to back, every pre-trade check waits",
            {"host": RISK},
            categories=("resource.memory",),
        ),
        build=build_estate,
    )


def _eod_pool() -> Scenario:
    return Scenario(
        "pgbouncer_eod_batch",
        {"eod.start": hms(14, 44), **restart(REDIS, hms(14, 36)), f"down.{DB2}:9633": hms(14, 40)},
        Alert(
            "PgbouncerClientsWaiting",
            "sum by (job, instance, database) "
            '(pgbouncer_pools_client_waiting_connections{database="orders"}) > 10',
            {"job": "pgbouncer", "instance": f"{DB1}:9127", "database": "orders"},
            starts=hms(14, 47, 15),  # for: 2m
            active=hms(14, 45, 15),
            extra={"severity": "warning", "team": "dba"},
        ),
        Truth(
            ("pgbouncer", "postgres", BATCH),
            (
                'pgbouncer_pools_server_active_connections{user="eod_batch"}',
                'pgbouncer_pools_client_active_connections{user="eod_batch"}',
                "pgbouncer_databases_current_connections",
                'pg_stat_activity_count{usename="eod_batch"}',
                'pg_stat_activity_max_tx_duration{usename="eod_batch"}',
                'namedprocess_namegroup_num_procs{groupname="eod-recon"}',
                'namedprocess_namegroup_cpu_seconds_total{groupname="eod-recon"}',
                'namedprocess_namegroup_memory_bytes{groupname="eod-recon"}',
                'node_systemd_unit_state{name="eod-recon.service"}',
            ),
            "the EOD reconciliation re-run at 14:44 on ny4-batch-01 holds 30 of the 40 server connections "
            "pgbouncer allows `orders` (max_db_connections) in long transactions: gateway clients wait",
        ),
        build=build_estate,
    )


def _replica_query() -> Scenario:
    return Scenario(
        "replica_long_query",
        {
            "replica.query": hms(15, 12),
            "replica.conflict": hms(15, 13, 40),
            **restart(NGINX, hms(15, 5)),
            f"reboot.{BATCH}": hms(15, 2),
        },
        Alert(
            "PostgresqlReplicationLag",
            "pg_replication_lag_seconds > 5",
            host_labels(DB2, "postgres", 9187),
            starts=hms(15, 14, 45),  # for: 30s
            active=hms(15, 14, 15),
            extra={"severity": "critical"},
        ),
        Truth(
            ("postgres", DB2),
            (
                'pg_stat_activity_max_tx_duration{usename="analyst"}',
                'pg_stat_activity_count{usename="analyst"}',
            ),
            "an analyst's ad-hoc query (DBeaver) on the reporting replica ny4-db-02 conflicts with WAL "
            "replay; "
            "max_standby_streaming_delay = -1, so replay waits for it",
            {"host": DB2},
        ),
        build=build_estate,
    )


def _wal_disk() -> Scenario:
    return Scenario(
        "wal_ssd_failing",
        {
            "db1.sdb": climb(hms(13, 40), hms(14, 5), 1.0),
            **restart(REDIS, hms(13, 50)),
            f"down.{WEB}:9113": hms(13, 44),
        },
        Alert(
            "PgbouncerAvgQueryTimeHigh",
            "sum by (job, instance, database) "
            '(rate(pgbouncer_stats_queries_duration_seconds_total{database="orders"}[5m]))\n  / '
            "sum by (job, instance, database) "
            '(rate(pgbouncer_stats_queries_pooled_total{database="orders"}[5m])) > 0.01',
            {"job": "pgbouncer", "instance": f"{DB1}:9127", "database": "orders"},
            starts=hms(13, 57, 30),  # for: 5m
            active=hms(13, 52, 30),
            extra={"severity": "warning", "team": "dba"},
        ),
        Truth(
            (DB1,),
            (
                'smartctl_device_attribute{attribute_name="Reallocated_Sector_Ct"}',
                'smartctl_device_attribute{attribute_name="Current_Pending_Sector"}',
                'smartctl_device_attribute{attribute_name="Reported_Uncorrect"}',
                "node_disk_io_time_seconds_total",
                "node_disk_io_time_weighted_seconds_total",
                "node_disk_write_time_seconds_total",
                "node_disk_read_time_seconds_total",
                'node_cpu_seconds_total{mode="iowait"}',
            ),
            "ny4-db-01's WAL SSD (sdb) remaps sectors (reallocated 4 -> 500+, pending 60): every fsync "
            "waits, "
            "commits and pgbouncer's queries slow down",
            {"host": DB1, "device": "sdb"},
            categories=("resource.disk",),
        ),
        build=build_estate,
    )


def _switch_port() -> Scenario:
    return Scenario(
        "switch_port_crc",
        {
            "switch.port": ramp(hms(15, 20), 1.0, 180),
            "switch.flap": hms(15, 23, 10),
            **restart(NGINX, hms(15, 14)),
            f"down.{CACHE}:9121": hms(15, 11),
        },
        Alert(
            "FixOrderAckLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job, host) (rate(fix_order_ack_latency_seconds_bucket"
            '{job="fix-gateway"}[5m]))) > 0.01',
            {"job": "fix-gateway", "host": GW1},
            starts=hms(15, 23, 15),  # for: 2m
            active=hms(15, 21, 15),
            extra={"severity": "critical", "team": "execution"},
        ),
        Truth(
            (SWITCH, GW1),
            (
                "ifInErrors",
                "ifOperStatus",
                "node_network_receive_errs_total",
                "node_network_carrier_changes_total",
                "node_network_up",
            ),
            "a failing SFP on ny4-sw-01's Ethernet1/1 to ny4-fixgw-01's eno1: CRC errors both ways, the link "
            "flaps; TCP retransmits stretch the venues' acks",
            {"ifName": PORTS[GW1], "device": "eno1"},
            categories=("network",),
        ),
        build=build_estate,
    )


def _dropcopy_loop() -> Scenario:
    unit = 'name="dropcopy-forwarder.service"'
    group = 'groupname="dropcopy-forwarder"'
    return Scenario(
        "dropcopy_restart_loop",
        {"dropcopy.crash": hms(13, 31), **restart(REDIS, hms(13, 24)), f"down.{DB1}:9187": hms(13, 27)},
        Alert(
            "RiskDropCopyStale",
            'time() - max by (job, source) (risk_last_fill_timestamp_seconds{job="risk-engine"}) > 120',
            {"job": "risk-engine", "source": GW2},
            starts=hms(13, 33, 45),  # for: 1m
            active=hms(13, 32, 45),
            extra={"severity": "critical", "team": "risk"},
        ),
        Truth(
            (GW2,),
            (
                f"node_systemd_unit_state{{{unit}}}",
                f"node_systemd_service_restart_total{{{unit}}}",
                f"namedprocess_namegroup_num_procs{{{group}}}",
                f"namedprocess_namegroup_oldest_start_time_seconds{{{group}}}",
                f"namedprocess_namegroup_memory_bytes{{{group}}}",
                f"namedprocess_namegroup_num_threads{{{group}}}",
                f"namedprocess_namegroup_open_filedesc{{{group}}}",
            ),
            "an Ansible push at 13:30 broke the drop-copy forwarder's TLS config on ny4-fixgw-02: the unit "
            "crash-loops (Restart=always), no fills from gw-02 reach the risk engine",
            {"host": GW2},
            categories=("change.deployment",),
        ),
        build=build_estate,
    )


def _swap_thrash() -> Scenario:
    group = 'groupname="tickwriter"'
    return Scenario(
        "tickwriter_swap_thrash",
        {
            "tickwriter.leak": 2.4e6,
            "tickwriter.leaked_before": 2.3e10,
            **restart(NGINX, hms(13, 20)),
            f"down.{GW2}:9404": hms(13, 15),
        },
        Alert(
            "FeedHandlerLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job, host) (rate(feed_tick_to_publish_seconds_bucket"
            '{job="feed-handler"}[5m]))) > 0.0005',
            {"job": "feed-handler", "host": MD2},
            starts=hms(13, 27, 45),  # for: 5m
            active=hms(13, 22, 45),
            extra={"severity": "critical", "team": "market-data"},
        ),
        Truth(
            (MD2,),
            (
                f"namedprocess_namegroup_memory_bytes{{{group}}}",
                "node_memory_MemAvailable_bytes",
                "node_memory_SwapFree_bytes",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout",
                "node_vmstat_pgmajfault",
            ),
            "the tick writer on ny4-md-02 leaks ~2.4 MB/s: memory gone by 12:45, then swap, then the feed "
            "handler's pages swapped in and out",
            {"host": MD2},
            categories=("resource.memory",),
        ),
        build=build_estate,
    )


HOSTS_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _clock_falseticker(),
        _udp_rcvbuf(),
        _log_volume_full(),
        _gc_storm(),
        _eod_pool(),
        _replica_query(),
        _wal_disk(),
        _switch_port(),
        _dropcopy_loop(),
        _swap_thrash(),
    )
}
