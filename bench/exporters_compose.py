"""Eight incidents at a small crypto exchange on plain Docker hosts with Docker Compose, as real exporters
write them (the sixth set of `bench.exporters`, `--set compose`, written without reading the analyst:
held-out data).

No Kubernetes: five Docker hosts in one rack, each running its Compose projects (`edge`, `exchange`,
`data`, `ops`; a quant's `research` now and then), node_exporter (:9100) and cAdvisor (:8080, containers
by `name`, `image`, `id` = their systemd scope, `container_label_com_docker_compose_service` and
`container_label_com_docker_compose_project`; the root cgroup `/` and dockerd's own
`/system.slice/docker.service` beside them). A central Prometheus on `dkr-ops-01` scrapes node_exporter,
cAdvisor and the data exporters (postgres_exporter, redis_exporter, kafka_exporter (danielqsj), Traefik's
own metrics) as static targets (`instance` = host:port), blackbox_exporter's HTTPS probes of the price
sources, and the apps through docker_sd_configs, whose relabelling keeps `container` (the name without its
slash), `compose_service`, `host` and `instance` = the host's address and the published port. The apps
write their client libraries' defaults (client_golang's `go_*`/`process_*`, prometheus_client's
`process_*`/`python_gc_*`, Micrometer's `jvm_*`/`process_*`/`http_server_requests_seconds_*`) beside their
own series: the matching engine's order latency, the websocket gateway's connections, the wallet's
withdrawals, the price oracle's updates, the settlement (Kafka Streams) and ledger consumers.

2026-12-04 11:00-16:00Z on the grid, targets and noise of `bench.exporters_data.Recording`. Crypto trades
all day: the activity curve is a slow wave, the US CPI print at 13:30Z (a volatility burst decaying over a
quarter hour), the US open at 14:30Z, and a liquidation cascade each scenario places somewhere. Unrelated
movers in every scenario besides: the hourly `ops-pg-backup-1` cron container (`15 * * * *`, six minutes
of pg_dump: CPU, network, Postgres reads; its cAdvisor series exist only while it runs); a container
restarted elsewhere (its counters from zero, a new start time); a target missing for a minute; Redis'
cache and the websocket gateways' resident memory growing all afternoon.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping

import numpy as np
from scipy.signal import lfilter

from bench.exporters_data import DAY0, END, START, STEP, Delta, Injected, PodSpec, Recording
from bench.exporters_scenarios import Alert, Scenario, Truth, hms

EDGE, TRADE1, TRADE2, DATA, OPS = "dkr-edge-01", "dkr-trade-01", "dkr-trade-02", "dkr-data-01", "dkr-ops-01"
HOSTS: dict[str, tuple[str, int, float]] = {  # host: (ip, cores, memory bytes)
    EDGE: ("10.30.0.11", 8, 32e9),
    TRADE1: ("10.30.1.11", 16, 64e9),
    TRADE2: ("10.30.1.12", 8, 32e9),
    DATA: ("10.30.2.11", 16, 128e9),
    OPS: ("10.30.3.11", 4, 16e9),
}
NODES = {host: spec[0] for host, spec in HOSTS.items()}
REGISTRY = "registry.ex.internal"
# container name: (compose service, project, host, image, published app metrics port or 0, mem limit, cpus)
CONTAINERS: dict[str, tuple[str, str, str, str, int, float, float]] = {
    "edge-traefik-1": ("traefik", "edge", EDGE, "traefik:v3.1.4", 0, 0.0, 0.0),
    "edge-ws-gateway-1": ("ws-gateway", "edge", EDGE, f"{REGISTRY}/ws-gateway:2.7.3", 9101, 2 * 2**30, 2.0),
    "edge-ws-gateway-2": ("ws-gateway", "edge", EDGE, f"{REGISTRY}/ws-gateway:2.7.3", 9102, 2 * 2**30, 2.0),
    "exchange-matching-engine-1": (
        "matching-engine",
        "exchange",
        TRADE1,
        f"{REGISTRY}/matching-engine:5.12.0",
        9464,
        8 * 2**30,
        0.0,
    ),
    "exchange-order-api-1": (
        "order-api",
        "exchange",
        TRADE1,
        f"{REGISTRY}/order-api:3.4.1",
        8000,
        2**31,
        2.0,
    ),
    "exchange-ledger-writer-1": (
        "ledger-writer",
        "exchange",
        TRADE1,
        f"{REGISTRY}/ledger-writer:1.9.2",
        8001,
        2**30,
        1.0,
    ),
    "exchange-wallet-service-1": (
        "wallet-service",
        "exchange",
        TRADE2,
        f"{REGISTRY}/wallet-service:4.2.0",
        8081,
        2**30,
        2.0,
    ),
    "exchange-price-oracle-1": (
        "price-oracle",
        "exchange",
        TRADE2,
        f"{REGISTRY}/price-oracle:2.3.5",
        8002,
        2**29,
        1.0,
    ),
    "exchange-settlement-1": (
        "settlement",
        "exchange",
        TRADE2,
        f"{REGISTRY}/settlement:1.14.0",
        8082,
        3 * 2**30,
        2.0,
    ),
    "data-postgres-1": ("postgres", "data", DATA, "postgres:16.4", 0, 0.0, 0.0),
    "data-redis-1": ("redis", "data", DATA, "redis:7.2.5", 0, 0.0, 0.0),
    "data-kafka-1": ("kafka", "data", DATA, "apache/kafka:3.8.0", 0, 12 * 2**30, 0.0),
    "data-postgres-exporter-1": (
        "postgres-exporter",
        "data",
        DATA,
        "quay.io/prometheuscommunity/postgres-exporter:v0.15.0",
        0,
        0.0,
        0.0,
    ),
    "data-redis-exporter-1": (
        "redis-exporter",
        "data",
        DATA,
        "oliver006/redis_exporter:v1.62.0",
        0,
        0.0,
        0.0,
    ),
    "data-kafka-exporter-1": ("kafka-exporter", "data", DATA, "danielqsj/kafka-exporter:v1.8.0", 0, 0.0, 0.0),
    "ops-prometheus-1": ("prometheus", "ops", OPS, "prom/prometheus:v2.54.1", 0, 0.0, 0.0),
    "ops-blackbox-1": ("blackbox", "ops", OPS, "prom/blackbox-exporter:v0.25.0", 0, 0.0, 0.0),
    "ops-pg-backup-1": ("pg-backup", "ops", OPS, f"{REGISTRY}/pg-backup:1.2", 0, 0.0, 0.0),
    "research-backtest-1": ("backtest", "research", TRADE1, f"{REGISTRY}/quant/backtest:latest", 0, 0.0, 0.0),
}
NEW_WS_IMAGE = f"{REGISTRY}/ws-gateway:2.8.0"
APP_JOBS = {  # docker_sd: the job each service's target gets
    "ws-gateway": "ws-gateway",
    "matching-engine": "matching-engine",
    "order-api": "order-api",
    "ledger-writer": "ledger-writer",
    "wallet-service": "wallet-service",
    "price-oracle": "price-oracle",
    "settlement": "settlement",
}
STATIC = {  # static targets: key (instance): (component, exporter, host, port, job)
    f"{DATA}:9187": ("postgres", "postgres_exporter", DATA, 9187, "postgres"),
    f"{DATA}:9121": ("redis", "redis_exporter", DATA, 9121, "redis"),
    f"{DATA}:9308": ("kafka", "kafka_exporter", DATA, 9308, "kafka"),
    f"{EDGE}:8082": ("traefik", "traefik", EDGE, 8082, "traefik"),
}
PROBES = {  # blackbox http_2xx probes of the oracle's price sources: target name: url
    "fxrates": "https://fxrates.partner.example.com/v1/health",
    "coinbase-api": "https://api.exchange.coinbase.com/time",
    "kraken-api": "https://api.kraken.com/0/public/Time",
}
PODS: dict[str, PodSpec] = (
    {name: (spec[0], spec[0], spec[2], HOSTS[spec[2]][0], spec[4]) for name, spec in CONTAINERS.items()}
    | {
        f"{HOSTS[spec[2]][0]}:{spec[4]}": (spec[0], spec[0], spec[2], HOSTS[spec[2]][0], spec[4])
        for spec in CONTAINERS.values()
        if spec[4]
    }
    | {key: (c, exporter, h, HOSTS[h][0], port) for key, (c, exporter, h, port, _) in STATIC.items()}
    | {f"{h}:8080": (h, "cadvisor", h, HOSTS[h][0], 8080) for h in HOSTS}
)
PAIRS = {  # price oracle pairs: their sources
    "BTC-USDT": ("coinbase-api", "kraken-api"),
    "ETH-USDT": ("coinbase-api", "kraken-api"),
    "SOL-USDT": ("coinbase-api", "kraken-api"),
    "EUR-USDT": ("fxrates",),
    "GBP-USDT": ("fxrates", "kraken-api"),
}
MATCH_BUCKETS = (2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2, 2.5e-2, 0.1)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
CPI = DAY0 + 13 * 3600 + 1800  # the US CPI print, 13:30Z
US_OPEN = DAY0 + 14 * 3600 + 1800
# the hourly pg-backup cron container: six minutes from :15
BACKUPS = [
    (float(h * 3600 + 900), float(h * 3600 + 1260)) for h in range(int(START // 3600), int(END // 3600))
]
DOCKER_VOLUME = 2.0e11  # dkr-trade-02's /var/lib/docker (xfs on sdb)
WALLET_LIMIT = float(2**30)
REDIS_MAX = 4.0 * 2**30
PRECISE = "%.12g"


def container_id(name: str, generation: int = 0) -> str:
    return hashlib.sha256(f"{name}/{generation}".encode()).hexdigest()


class Exchange(Injected):
    """The exchange's recording and what the scenario injects: outages, restarts, recreated containers."""

    def __init__(self, seed: int, inject: Mapping[str, Delta]) -> None:
        super().__init__(Recording(seed, PODS, NODES), inject)
        self.down: dict[str, np.ndarray] = {}
        self.lives: dict[str, list[float]] = {}  # container name: its (re)start moments after the first

    def noise(self, sd: float, ar: float = 0.6) -> np.ndarray:
        return np.asarray(lfilter([math.sqrt(1 - ar * ar)], [1.0, -ar], self.rec.rng.normal(0, sd, self.n)))

    def after(self, key: str) -> np.ndarray:
        at = self.at(key)
        return np.zeros(self.n) if at is None else np.clip(self.grid - at, 0, None)

    def since(self, key: str) -> np.ndarray:
        at = self.at(key)
        return np.zeros(self.n, bool) if at is None else self.grid >= at

    def scrape(self, key: str, labels: Mapping[str, str], miss: float = 0.01, subject: str = "") -> str:
        """A target: no answer for the minute injected as `down.<key>`."""
        target = self.rec.target(key, labels, miss=miss, subject=subject)
        if (when := self.at(f"down.{key}")) is not None:
            down = (self.grid >= when) & (self.grid < when + 60.0)
            target.keep[down] = False
            self.down[key] = down
        return key


def container_starts(w: Exchange, name: str, kills: list[float]) -> list[float]:
    """When `name` (re)started in the window: an injected `restart.<name>` and each kill (back 8 s later)."""
    starts = [t + 8.0 for t in kills]
    if (when := w.at(f"restart.{name}")) is not None:
        starts.append(when + 3.0)
    if name == "edge-ws-gateway-2" and (when := w.at("wsgw.deploy")) is not None:
        starts.append(when)
    return sorted(starts)


def oom_kills(w: Exchange) -> list[float]:
    """The wallet service's OOM kills: from `wallet.oom` its heap and direct buffers outgrow the 1 GiB limit
    every ~3.5 minutes."""
    at = w.at("wallet.oom")
    if at is None:
        return []
    kills, t = [], at + 150.0
    while t < END:
        kills.append(t)
        t += 205.0 + 10 * math.sin(t)
    return kills


def flow(w: Exchange) -> dict[str, np.ndarray]:
    """The exchange over the grid (numbers the exporters below write)."""
    g, n, noise = w.grid, w.n, w.noise
    act = 1 + 0.3 * np.sin((g - START) / 5400.0)
    act = act + np.where(g >= CPI, 3.0 * np.exp(-np.clip(g - CPI, 0, None) / 900.0), 0.0)
    act = act + np.where(g >= US_OPEN, 0.8 * np.exp(-np.clip(g - US_OPEN, 0, None) / 1800.0), 0.0)
    if (cascade := w.at("vol.burst")) is not None:
        act = act + np.where(g >= cascade, 2.2 * np.exp(-np.clip(g - cascade, 0, None) / 600.0), 0.0)
    act = np.clip(act * np.exp(noise(0.04)), 0.3, None)
    f: dict[str, np.ndarray] = {"act": act, "orders": 260 * act, "ws_conns": 9000 + 1800 * act + noise(80)}
    backup = np.zeros(n)
    for begin, end in BACKUPS:
        backup[(g >= begin) & (g < end)] = 1.0
    f["backup"] = backup
    # the backtest on dkr-trade-01: 14 busy cores without a CPU limit
    f["backtest"] = np.where(w.since("backtest.start"), 14.2 + noise(0.3), 0.0)
    demand = 3.1 + 0.002 * f["orders"] + 0.3 + 0.001 * f["orders"] + 0.2 + f["backtest"]
    f["trade1_demand"] = demand
    f["starve"] = np.clip((demand - 0.85 * 16) / (0.25 * 16), 0, 1)
    f["match_latency"] = 6e-5 * (1 + 0.05 * act) * (1 + 28 * f["starve"] ** 1.2) * np.exp(noise(0.03))
    # the price oracle's DEBUG logs (json-file, no max-size) filling dkr-trade-02's /var/lib/docker
    logs = 3.0e5 + 1.0e5 * act + w.since("oracle.debug") * (2.2e7 + 4e6 * act)
    f["docker_logs"] = logs
    free0 = w.at("docker.free") or 1.5e11
    f["docker_avail"] = np.clip(free0 - np.cumsum(logs * STEP), 0, None)
    f["enospc"] = (f["docker_avail"] < 2e8).astype(float)
    # the settlement app (Kafka Streams): its state store on a named volume in /var/lib/docker
    f["settle_dead"] = f["enospc"] > 0
    # postgres: an idle-in-transaction session from `recon.idle_tx` pins the xmin horizon
    idle_tx = w.after("recon.idle_tx") * w.since("recon.idle_tx")
    f["idle_tx"] = idle_tx
    pinned = w.since("recon.idle_tx")
    for rel, updates in (("balances", 200.0), ("orders", 20.0), ("trades", 3.0), ("withdrawals", 2.0)):
        f[f"dead.{rel}"] = np.cumsum(updates * act * pinned * STEP)  # autovacuum cannot remove them
    f["bloat"] = np.clip(idle_tx / 7200.0, 0, 1)
    # redis: the cache grows all afternoon; `candles.backfill` writes OHLC keys without TTL fast
    hours = (g - DAY0) / 3600.0
    grown = 1.3e9 + 0.5e9 * np.clip(hours - 11.0, 0, None) + w.after("candles.backfill") * 1.6e6
    f["redis_evicting"] = np.clip((grown - REDIS_MAX * 0.985) / (REDIS_MAX * 0.05), 0, 1)
    f["redis_memory"] = np.minimum(grown, REDIS_MAX * (0.985 + 0.006 * np.abs(noise(1.0)))) + noise(4e6)
    f["cache_miss"] = 0.03 + 0.55 * f["redis_evicting"]
    f["api_latency"] = (
        0.012
        * (1 + 0.08 * act)
        * (1 + 20 * f["cache_miss"])
        * (1 + 3 * f["bloat"] ** 1.5)
        * np.exp(noise(0.03))
    )
    # ws-gateway-2 recreated with 2.8.0: its upgrade handler returns 500 (a renamed env variable)
    f["ws2_broken"] = w.since("wsgw.deploy").astype(float)
    f["ws_rss"] = 4.2e8 + 2.6e8 * np.clip(hours - 11.0, 0, None) / 5 + noise(2e6)
    # the oracle's fiat source behind an expired certificate
    f["fx_broken"] = w.since("fxrates.expired").astype(float)
    # ledger-writer stuck on one message (numeric field overflow), retrying it forever
    f["ledger_stuck"] = w.since("ledger.poison").astype(float)
    return f


# --- The exporters ------------------------------------------------------------------------------------------


def node_exporter(w: Exchange, f: dict[str, np.ndarray], cpu_of: dict[str, np.ndarray]) -> None:
    rec, n = w.rec, w.n
    for host, (_, cores, memory) in HOSTS.items():
        key = w.scrape(f"node-{host}", {"job": "node", "instance": f"{host}:9100"}, miss=0.005)
        busy = np.clip(cpu_of[host], 0.05, cores * 0.995)
        share = busy / cores
        iowait = 0.003 + (0.05 * f["backup"] if host in (OPS, DATA) else 0)
        for cpu in range(cores):
            for mode, part in (
                ("user", 0.8 * share),
                ("system", 0.15 * share),
                ("iowait", iowait * np.ones(n)),
                ("softirq", 0.005 + 0.02 * share * (host == EDGE)),
                ("idle", 1 - 0.95 * share - iowait - 0.005),
            ):
                rec.counter(
                    key,
                    "node_cpu_seconds_total",
                    {"cpu": str(cpu), "mode": mode},
                    np.clip(part + w.noise(0.004), 0, 1),
                    whole=False,
                )
        runq = np.clip(cpu_of[host] - cores * 0.9, 0, None)
        rec.gauge(key, "node_load1", {}, np.clip(busy + 2.5 * runq + w.noise(0.2), 0, None))
        rec.gauge(key, "node_load5", {}, np.clip(busy * 0.97 + 2.2 * runq + w.noise(0.1), 0, None))
        rec.counter(
            key,
            "node_pressure_cpu_waiting_seconds_total",
            {},
            np.clip(0.002 + 0.02 * share**3 + 0.6 * np.clip(runq / 4, 0, 1), 0, 1),
            whole=False,
        )
        used = {EDGE: 9e9, TRADE1: 21e9, TRADE2: 9e9, DATA: 70e9, OPS: 7e9}[host]
        rec.gauge(key, "node_memory_MemTotal_bytes", {}, np.full(n, memory))
        rec.gauge(key, "node_memory_MemAvailable_bytes", {}, memory - used + w.noise(memory * 0.002))
        kills = np.zeros(n)
        if host == TRADE2:
            for t in oom_kills(w):
                kills[min(int(np.searchsorted(w.grid, t)), n - 1)] += 1.0 / STEP
        rec.counter(key, "node_vmstat_oom_kill", {}, kills, whole=False)
        mounts = [("/dev/nvme0n1p2", "ext4", "/", 2.0e11, 1.3e11)]
        if host == TRADE2:
            mounts.append(("/dev/sdb1", "xfs", "/var/lib/docker", DOCKER_VOLUME, -1.0))
        else:
            mounts.append(("/dev/sdb1", "xfs", "/var/lib/docker", 1e12, 6.1e11 - 5e10 * (host == DATA)))
        for device, fstype, mountpoint, size, avail in mounts:
            labels = {"device": device, "fstype": fstype, "mountpoint": mountpoint}
            if avail < 0:
                value = f["docker_avail"] + w.noise(2e6) * (f["docker_avail"] > 0)
                value = np.clip(value, 0, None)
            else:
                value = avail - (3e5 * (w.grid - START) if host == DATA else 0) + w.noise(3e7)
            rec.gauge(key, "node_filesystem_avail_bytes", labels, value)
            rec.gauge(
                key, "node_filesystem_free_bytes", labels, value + (0.05 * size if fstype == "ext4" else 0)
            )
            rec.gauge(key, "node_filesystem_size_bytes", labels, np.full(n, size))
        written = {"nvme0n1": 1.5e6 + 2e5 * f["act"], "sdb": 2.0e6 + 1e6 * f["act"]}
        if host == TRADE2:
            written["sdb"] = written["sdb"] + f["docker_logs"] * (f["enospc"] == 0)
        if host == DATA:
            written["sdb"] = written["sdb"] + 8e6 * f["act"]
        for device, bps in written.items():
            dev = {"device": device}
            rec.counter(key, "node_disk_written_bytes_total", dev, bps)
            rec.counter(key, "node_disk_writes_completed_total", dev, bps / 2.4e4 + 10)
            reads = 2e5 + (4e7 * f["backup"] if host == DATA and device == "sdb" else np.zeros(n))
            rec.counter(key, "node_disk_read_bytes_total", dev, reads)
            rec.counter(
                key, "node_disk_io_time_seconds_total", dev, np.clip(0.01 + bps / 6e8, 0, 1), whole=False
            )
        pkts = {EDGE: 2.4e4, TRADE1: 1.5e4, TRADE2: 4e3, DATA: 1.8e4, OPS: 3e3}[host] * (0.5 + 0.5 * f["act"])
        if host in (OPS, DATA):
            pkts = pkts + 3e4 * f["backup"]
        eth = {"device": "eth0"}
        rec.counter(key, "node_network_receive_bytes_total", eth, pkts * 600)
        rec.counter(key, "node_network_transmit_bytes_total", eth, pkts * 520)
        rec.counter(key, "node_network_receive_packets_total", eth, pkts)
        rec.counter(key, "node_network_transmit_packets_total", eth, pkts * 0.95)
        rec.gauge(key, "node_nf_conntrack_entries", {}, np.round(9000 + 0.9 * pkts + w.noise(200)))
        rec.gauge(key, "node_nf_conntrack_entries_limit", {}, np.full(n, 262144.0))
        rec.gauge(key, "node_boot_time_seconds", {}, np.full(n, START - 86400 * (20 + len(host))))
        rec.gauge(key, "node_time_seconds", {}, w.grid + 0.0003)


def alive_of(w: Exchange, name: str) -> np.ndarray:
    """The grid points a container exists at (cron and research containers, a recreated one)."""
    if name == "ops-pg-backup-1":
        return np_any_backup(w.grid)
    if name == "research-backtest-1":
        return w.since("backtest.start")
    return np.ones(w.n, bool)


def np_any_backup(g: np.ndarray) -> np.ndarray:
    out = np.zeros(len(g), bool)
    for begin, end in BACKUPS:
        out |= (g >= begin) & (g < end)
    return out


def reset_after(values: np.ndarray, grid: np.ndarray, starts: list[float]) -> np.ndarray:
    """A counter that starts again from zero at each of `starts`."""
    out = values.copy()
    for t in starts:
        i = int(np.searchsorted(grid, t))
        if i < len(out):
            out[i:] -= out[i] - 0.0
    return out


def cadvisor(
    w: Exchange, f: dict[str, np.ndarray], usage: dict[str, np.ndarray], memory: dict[str, np.ndarray]
) -> None:
    """cAdvisor on every host (docker with the systemd cgroup driver, cgroup v2)."""
    rec, n = w.rec, w.n
    for host in HOSTS:
        key = w.scrape(f"{host}:8080", {"job": "cadvisor", "instance": f"{host}:8080"}, subject="name")
        total = np.zeros(n)
        for name, (service, project, on, image, _, limit, cpus) in CONTAINERS.items():
            if on != host:
                continue
            alive = alive_of(w, name)
            if not alive.any():  # a container this scenario never runs
                continue
            cpu = usage[name]
            total += cpu * alive
            generations: list[tuple[str, str, np.ndarray]] = [(container_id(name), image, alive)]
            if name == "edge-ws-gateway-2" and (when := w.at("wsgw.deploy")) is not None:
                old = alive & (w.grid < when)
                generations = [(container_id(name), image, old), (container_id(name, 1), NEW_WS_IMAGE, ~old)]
            kills = oom_kills(w) if service == "wallet-service" else []
            starts = container_starts(w, name, kills)
            for cid, img, present in generations:
                labels = {
                    "id": f"/system.slice/docker-{cid}.scope",
                    "name": name,
                    "image": img,
                    "container_label_com_docker_compose_service": service,
                    "container_label_com_docker_compose_project": project,
                    "container_label_com_docker_compose_container_number": name.rsplit("-", 1)[1],
                }
                lives = [t for t in starts if present[min(int(np.searchsorted(w.grid, t)), n - 1)]]
                edges = w.grid[1:][present[1:] & ~present[:-1]]  # a container (re)created or started
                lives = sorted({*lives, *(float(t) for t in edges)})
                first = w.grid[np.argmax(present)] - 2.0 if present.any() else START
                began = np.full(n, START - 86400 * 6 + 3600 * (len(name) % 9) if first <= START else first)
                for t in lives:
                    began[w.grid >= t] = t
                pieces = {
                    "container_cpu_usage_seconds_total": cpu,
                    "container_cpu_user_seconds_total": cpu * 0.82,
                    "container_cpu_system_seconds_total": cpu * 0.18,
                }
                for metric, rate in pieces.items():
                    rec.counter(
                        key,
                        metric,
                        labels,
                        np.clip(rate + w.noise(0.003), 0, None),
                        whole=False,
                        alive=present,
                    )
                    row = rec.families[metric][-1]
                    rec.families[metric][-1] = dataclasses.replace(
                        row, values=reset_after(row.values, w.grid, lives)
                    )
                if cpus:
                    rec.gauge(key, "container_spec_cpu_quota", labels, np.full(n, cpus * 1e5), alive=present)
                    rec.gauge(key, "container_spec_cpu_period", labels, np.full(n, 1e5), alive=present)
                    throttled = np.clip((cpu / cpus - 0.8) / 0.4, 0, 1)
                    for metric, rate in (
                        ("container_cpu_cfs_periods_total", np.full(n, 10.0)),
                        ("container_cpu_cfs_throttled_periods_total", 10.0 * throttled),
                        ("container_cpu_cfs_throttled_seconds_total", 0.05 * throttled * cpus),
                    ):
                        rec.counter(
                            key, metric, labels, rate, whole=metric.endswith("periods_total"), alive=present
                        )
                        row = rec.families[metric][-1]
                        rec.families[metric][-1] = dataclasses.replace(
                            row, values=reset_after(row.values, w.grid, lives)
                        )
                mem = memory[name]
                rec.gauge(key, "container_memory_working_set_bytes", labels, mem, alive=present)
                rec.gauge(key, "container_memory_usage_bytes", labels, mem * 1.12 + 3e7, alive=present)
                rec.gauge(key, "container_memory_rss", labels, mem * 0.93, alive=present)
                rec.gauge(key, "container_memory_cache", labels, mem * 0.19 + 2e7, alive=present)
                rec.gauge(key, "container_spec_memory_limit_bytes", labels, np.full(n, limit), alive=present)
                fails = np.zeros(n)
                ooms = np.zeros(n)
                for t in kills:
                    i = min(int(np.searchsorted(w.grid, t)), n - 1)
                    fails[max(i - 6, 0) : i] += 40.0
                    ooms[i] += 1.0 / STEP
                rec.counter(key, "container_memory_failcnt", labels, fails, alive=present)
                rec.counter(key, "container_oom_events_total", labels, ooms, whole=False, alive=present)
                rx = {
                    "ws-gateway": 4e5 * f["act"],
                    "traefik": 9e5 * f["act"],
                    "matching-engine": 3e5 * f["act"],
                    "postgres": 2e6 * f["act"],
                    "kafka": 1.5e6 * f["act"],
                    "pg-backup": 3e7 * f["backup"],
                }.get(service, 2e4 * f["act"])
                net = {"interface": "eth0"}
                for metric, scale in (
                    ("container_network_receive_bytes_total", 1.0),
                    ("container_network_transmit_bytes_total", 0.8),
                ):
                    rec.counter(key, metric, labels | net, rx * scale, alive=present)
                    row = rec.families[metric][-1]
                    rec.families[metric][-1] = dataclasses.replace(
                        row, values=reset_after(row.values, w.grid, lives)
                    )
                rec.gauge(key, "container_start_time_seconds", labels, began, alive=present)
                rec.gauge(key, "container_last_seen", labels, w.grid + 0.5, alive=present)
        root = {"id": "/"}
        rec.counter(key, "container_cpu_usage_seconds_total", root, total + 0.15, whole=False)
        rec.gauge(key, "container_memory_working_set_bytes", root, HOSTS[host][2] * 0.35 + w.noise(3e7))
        dockerd = {"id": "/system.slice/docker.service"}
        logs = f["docker_logs"] * (f["enospc"] == 0) if host == TRADE2 else 2e5 + 1e5 * f["act"]
        rec.counter(key, "container_cpu_usage_seconds_total", dockerd, 0.02 + logs / 4e8, whole=False)
        rec.counter(key, "container_fs_writes_bytes_total", dockerd | {"device": "/dev/sdb"}, logs)
        rec.gauge(key, "container_memory_working_set_bytes", dockerd, 1.6e8 + w.noise(1e6))


def app_labels(name: str) -> dict[str, str]:
    service, _, host, _, port, _, _ = CONTAINERS[name]
    return {
        "job": APP_JOBS[service],
        "instance": f"{HOSTS[host][0]}:{port}",
        "container": name,
        "compose_service": service,
        "host": host,
    }


def app_target(w: Exchange, name: str, starts: list[float], down_for: float = 15.0) -> str:
    """A docker_sd target: down while its container restarts (`down_for` seconds each time)."""
    labels = app_labels(name)
    key = w.scrape(labels["instance"], labels)
    target = w.rec.targets[key]
    gone = np.zeros(w.n, bool)
    for t in starts:
        gone |= (w.grid >= t - 8.0) & (w.grid < t + down_for)
    if gone.any():
        target.keep[gone] = False
        w.down[key] = w.down.get(key, np.zeros(w.n, bool)) | gone
    return key


def reset_target(w: Exchange, key: str, starts: list[float]) -> None:
    for rows in w.rec.families.values():
        for k, row in enumerate(rows):
            if row.target == key and row.counter and starts:
                rows[k] = dataclasses.replace(row, values=reset_after(row.values, w.grid, starts))


def process_metrics(
    w: Exchange, key: str, cpu: np.ndarray, rss: np.ndarray, started: np.ndarray, fds: float
) -> None:
    rec, n = w.rec, w.n
    rec.counter(key, "process_cpu_seconds_total", {}, cpu, whole=False)
    rec.gauge(key, "process_resident_memory_bytes", {}, rss)
    rec.gauge(key, "process_virtual_memory_bytes", {}, rss * 2.6 + 1e9)
    rec.gauge(key, "process_open_fds", {}, np.round(fds + np.abs(w.noise(2))))
    rec.gauge(key, "process_max_fds", {}, np.full(n, 1048576.0))
    rec.gauge(key, "process_start_time_seconds", {}, started)


def started_at(w: Exchange, name: str, starts: list[float]) -> np.ndarray:
    out = np.full(w.n, START - 86400 * 6 + 3600 * (len(name) % 9))
    for t in starts:
        out[w.grid >= t] = t + 1.5
    return np.round(out)


def go_runtime(w: Exchange, key: str, goroutines: np.ndarray, heap: np.ndarray) -> None:
    rec = w.rec
    rec.gauge(key, "go_goroutines", {}, np.round(goroutines))
    rec.gauge(key, "go_threads", {}, np.round(18 + np.abs(w.noise(1))))
    rec.gauge(key, "go_memstats_heap_alloc_bytes", {}, heap)
    rec.counter(key, "go_gc_duration_seconds_count", {}, 0.2 + heap / 2e9)
    rec.counter(key, "go_gc_duration_seconds_sum", {}, (0.2 + heap / 2e9) * 4e-4, whole=False)


def write_apps(
    w: Exchange, f: dict[str, np.ndarray], usage: dict[str, np.ndarray], memory: dict[str, np.ndarray]
) -> None:
    rec, n, act = w.rec, w.n, f["act"]

    # matching engine (Go): order latency histogram, orders by result, book depth
    name = "exchange-matching-engine-1"
    starts = container_starts(w, name, [])
    key = app_target(w, name, starts)
    for symbol, share in (("BTC-USDT", 0.45), ("ETH-USDT", 0.3), ("SOL-USDT", 0.25)):
        s = {"symbol": symbol}
        rec.counter(key, "matching_orders_total", s | {"result": "accepted"}, f["orders"] * share * 0.97)
        rec.counter(key, "matching_orders_total", s | {"result": "rejected"}, f["orders"] * share * 0.03)
        rec.counter(key, "matching_trades_total", s, f["orders"] * share * 0.42)
        rec.gauge(
            key,
            "matching_book_depth",
            s | {"side": "bid"},
            np.round(40000 * share + 3000 * act + w.noise(200)),
        )
        rec.gauge(
            key,
            "matching_book_depth",
            s | {"side": "ask"},
            np.round(41000 * share + 2500 * act + w.noise(200)),
        )
    rec.histogram(
        key,
        "matching_order_latency_seconds",
        {},
        f["orders"],
        f["match_latency"],
        sigma=0.6,
        buckets=MATCH_BUCKETS,
    )
    go_runtime(w, key, 60 + 4 * act + w.noise(2), 2.4e9 + w.noise(2e7))
    process_metrics(w, key, usage[name], memory[name] * 0.97, started_at(w, name, starts), 90)

    # order API (Python, FastAPI with prometheus-fastapi-instrumentator)
    name = "exchange-order-api-1"
    starts = container_starts(w, name, [])
    key = app_target(w, name, starts)
    rps = 120 * act
    for handler, share in (("/api/v1/orders", 0.5), ("/api/v1/balances", 0.35), ("/api/v1/ticker", 0.15)):
        h = {"handler": handler, "method": "GET" if handler != "/api/v1/orders" else "POST"}
        rec.histogram(
            key,
            "http_request_duration_seconds",
            h,
            rps * share,
            f["api_latency"],
            sigma=0.5,
            buckets=HTTP_BUCKETS,
        )
        rec.counter(key, "http_requests_total", h | {"status": "2xx"}, rps * share * 0.995)
        rec.counter(key, "http_requests_total", h | {"status": "4xx"}, rps * share * 0.005)
    rec.counter(
        key,
        "orderapi_cache_requests_total",
        {"cache": "balances", "result": "hit"},
        rps * 0.35 * (1 - f["cache_miss"]),
    )
    rec.counter(
        key,
        "orderapi_cache_requests_total",
        {"cache": "balances", "result": "miss"},
        rps * 0.35 * f["cache_miss"],
    )
    for gen in ("0", "1", "2"):
        rec.counter(key, "python_gc_objects_collected_total", {"generation": gen}, 40 * act / (1 + int(gen)))
    process_metrics(w, key, usage[name], memory[name] * 0.95, started_at(w, name, starts), 40)

    # ledger writer (Python, confluent-kafka): trades into Postgres
    name = "exchange-ledger-writer-1"
    starts = container_starts(w, name, [])
    key = app_target(w, name, starts)
    stuck = f["ledger_stuck"]
    rec.counter(key, "ledger_messages_processed_total", {"topic": "trades"}, f["orders"] * 0.42 * (1 - stuck))
    rec.counter(key, "ledger_insert_errors_total", {"error": "numeric_value_out_of_range"}, 2.0 * stuck)
    rec.counter(key, "ledger_insert_errors_total", {"error": "serialization_failure"}, 0.001 + 0.0005 * act)
    rec.counter(key, "ledger_message_retries_total", {"topic": "trades"}, 2.0 * stuck + 0.001)
    rec.gauge(
        key, "ledger_last_committed_offset_timestamp_seconds", {"topic": "trades"}, committed_ts(w, stuck)
    )
    process_metrics(w, key, usage[name], memory[name] * 0.95, started_at(w, name, starts), 25)

    # websocket gateways (Go)
    for name in ("edge-ws-gateway-1", "edge-ws-gateway-2"):
        starts = container_starts(w, name, [])
        key = app_target(w, name, starts, down_for=10.0)
        broken = f["ws2_broken"] if name.endswith("2") else np.zeros(n)
        conns = f["ws_conns"] / 2 * (1 - broken) + broken * np.abs(w.noise(5))
        if name.endswith("1"):
            conns = conns + f["ws_conns"] / 2 * f["ws2_broken"]
        rec.gauge(key, "ws_gateway_connections", {"protocol": "ws"}, np.round(conns))
        rec.counter(
            key,
            "ws_gateway_upgrades_total",
            {"result": "ok"},
            12 * act * (1 - broken) + 12 * act * f["ws2_broken"] * name.endswith("1"),
        )
        rec.counter(key, "ws_gateway_upgrades_total", {"result": "error"}, 0.002 + 24 * act * broken)
        rec.counter(key, "ws_gateway_messages_sent_total", {"channel": "orderbook"}, conns * 3.1 * act)
        go_runtime(w, key, 2 * conns + 40, f["ws_rss"] * 0.7)
        process_metrics(w, key, usage[name], memory[name] * 0.97, started_at(w, name, starts), 200 + conns)

    # wallet service (Spring Boot, Micrometer)
    name = "exchange-wallet-service-1"
    kills = oom_kills(w)
    starts = container_starts(w, name, kills)
    key = app_target(w, name, starts, down_for=25.0)
    looping = w.since("wallet.oom")
    backlog = 40 + 8 * act + w.noise(3) + np.clip(w.after("wallet.oom") - 150, 0, None) * 0.5
    rec.gauge(key, "wallet_withdrawals_pending", {"status": "queued"}, np.round(np.clip(backlog, 0, None)))
    rec.gauge(key, "wallet_withdrawals_pending", {"status": "signing"}, np.round(3 + np.abs(w.noise(1))))
    for chain in ("bitcoin", "ethereum", "tron"):
        c = {"chain": chain}
        rec.counter(
            key, "wallet_withdrawals_total", c | {"result": "broadcast"}, 0.3 * act * (1 - 0.8 * looping)
        )
        rec.counter(key, "wallet_withdrawals_total", c | {"result": "failed"}, 0.002 + 0.05 * looping)
        rec.gauge(
            key,
            "wallet_hot_balance",
            c | {"asset": {"bitcoin": "BTC", "ethereum": "ETH", "tron": "USDT"}[chain]},
            100 + np.cumsum(w.noise(0.05)),
        )
    heap = memory[name] * 0.72
    rec.gauge(key, "jvm_memory_used_bytes", {"area": "heap", "id": "G1 Old Gen"}, heap * 0.7)
    rec.gauge(key, "jvm_memory_used_bytes", {"area": "heap", "id": "G1 Eden Space"}, heap * 0.3)
    rec.gauge(key, "jvm_memory_max_bytes", {"area": "heap", "id": "G1 Old Gen"}, np.full(n, 7.5e8))
    rec.gauge(key, "jvm_buffer_memory_used_bytes", {"id": "direct"}, memory[name] * 0.18)
    rec.counter(
        key,
        "jvm_gc_pause_seconds_count",
        {"action": "end of minor GC", "cause": "G1 Evacuation Pause", "gc": "G1 Young Generation"},
        0.3 + 0.1 * act,
    )
    rec.counter(
        key,
        "jvm_gc_pause_seconds_sum",
        {"action": "end of minor GC", "cause": "G1 Evacuation Pause", "gc": "G1 Young Generation"},
        (0.3 + 0.1 * act) * 0.008,
        whole=False,
    )
    rec.histogram(
        key,
        "http_server_requests_seconds",
        {"method": "POST", "outcome": "SUCCESS", "status": "200", "uri": "/withdrawals"},
        2 * act,
        0.04,
        sigma=0.4,
        buckets=HTTP_BUCKETS,
    )
    rec.gauge(key, "process_cpu_usage", {}, np.clip(usage[name] / 8, 0, 1))
    rec.gauge(key, "process_uptime_seconds", {}, w.grid - started_at(w, name, starts))
    rec.gauge(key, "process_start_time_seconds", {}, started_at(w, name, starts))
    reset_target(w, key, starts)

    # price oracle (Python): updates per pair, sources
    name = "exchange-price-oracle-1"
    starts = container_starts(w, name, [])
    key = app_target(w, name, starts)
    for pair, sources in PAIRS.items():
        fiat = "fxrates" in sources
        broken = f["fx_broken"] if sources == ("fxrates",) else np.zeros(n)
        p = {"pair": pair}
        rec.counter(key, "oracle_price_updates_total", p, (0.2 if fiat else 2.0 * act) * (1 - broken))
        rec.gauge(
            key, "oracle_last_update_timestamp_seconds", p, last_update(w, broken, 5.0 if fiat else 0.5)
        )
        base = {"BTC-USDT": 97000, "ETH-USDT": 3600, "SOL-USDT": 230, "EUR-USDT": 1.05, "GBP-USDT": 1.27}[
            pair
        ]
        price = base * np.exp(np.cumsum(w.noise(0.0004 * (1 + 0 * fiat))) * (0.2 if fiat else 1))
        if fiat:
            price = np.where(broken > 0, price[np.argmax(broken) - 1] if broken.any() else price, price)
        rec.gauge(key, "oracle_price", p, price)
    for source in ("coinbase-api", "kraken-api", "fxrates"):
        broken = f["fx_broken"] if source == "fxrates" else np.zeros(n)
        s = {"source": source}
        polls = 0.2 if source == "fxrates" else 2.0
        rec.counter(key, "oracle_source_requests_total", s, polls * (1 - broken) + 0.0 * act)
        rec.counter(key, "oracle_source_errors_total", s | {"reason": "timeout"}, 0.0008 + 0.003 * (act > 3))
        rec.counter(key, "oracle_source_errors_total", s | {"reason": "ssl_error"}, polls * broken)
        rec.gauge(key, "oracle_source_up", s, 1.0 - broken)
    rec.counter(key, "oracle_log_messages_total", {"level": "debug"}, w.since("oracle.debug") * 9000 * act)
    rec.counter(key, "oracle_log_messages_total", {"level": "info"}, 3 + 0 * act)
    process_metrics(w, key, usage[name], memory[name] * 0.95, started_at(w, name, starts), 30)

    # settlement (Kafka Streams, Micrometer): state store on a named volume
    name = "exchange-settlement-1"
    starts = container_starts(w, name, [])
    key = app_target(w, name, starts)
    dead = f["settle_dead"]
    state = np.where(dead, 0.0, 1.0)  # 1 RUNNING, 0 ERROR
    rec.gauge(key, "settlement_streams_state_running", {}, state)
    rec.counter(
        key,
        "kafka_consumer_fetch_manager_records_consumed_total",
        {"client_id": "settlement-StreamThread-1-consumer", "topic": "trades"},
        f["orders"] * 0.42 * (1 - dead),
    )
    rec.counter(key, "settlement_batches_total", {"result": "ok"}, 0.5 * act * (1 - dead))
    rec.counter(
        key, "kafka_stream_state_put_total", {"state_store": "positions"}, f["orders"] * 0.84 * (1 - dead)
    )
    rec.gauge(key, "jvm_memory_used_bytes", {"area": "heap", "id": "G1 Old Gen"}, memory[name] * 0.5)
    rec.gauge(key, "process_start_time_seconds", {}, started_at(w, name, starts))
    rec.gauge(key, "process_cpu_usage", {}, np.clip(usage[name] / 8, 0, 1))
    reset_target(w, key, starts)

    for name in (
        "exchange-matching-engine-1",
        "exchange-order-api-1",
        "exchange-ledger-writer-1",
        "edge-ws-gateway-1",
        "edge-ws-gateway-2",
        "exchange-price-oracle-1",
    ):
        reset_target(w, app_labels(name)["instance"], container_starts(w, name, []))


def committed_ts(w: Exchange, stuck: np.ndarray) -> np.ndarray:
    return last_update(w, stuck, 1.0)


def last_update(w: Exchange, broken: np.ndarray, every: float) -> np.ndarray:
    """A Unix time the app sets at each update (every `every` seconds), frozen while `broken`."""
    last = w.grid - np.abs(w.noise(every / 3)) - every / 2
    if broken.any():
        frozen = last[max(int(np.argmax(broken > 0)) - 1, 0)]
        last = np.where(broken > 0, frozen, last)
    return np.round(last, 3)


def write_exporters(w: Exchange, f: dict[str, np.ndarray]) -> None:
    rec, n, act = w.rec, w.n, f["act"]

    # postgres_exporter (v0.15)
    key = w.scrape(f"{DATA}:9187", {"job": "postgres", "instance": f"{DATA}:9187"})
    rec.gauge(key, "pg_up", {}, np.ones(n))
    for user, state, count in (
        ("exchange", "active", 6 + 3 * act),
        ("exchange", "idle", 48 - 3 * act),
        ("recon", "idle", 2.0 + 0 * act),
        ("backup", "active", f["backup"]),
    ):
        rec.gauge(
            key,
            "pg_stat_activity_count",
            {"datname": "exchange", "state": state, "usename": user},
            np.round(np.clip(count + w.noise(0.5) * (user == "exchange"), 0, None)),
        )
        dur = (
            np.abs(w.noise(0.05))
            + (0.3 if state == "active" else 0)
            + (400 * f["backup"] if user == "backup" else 0)
        )
        rec.gauge(
            key,
            "pg_stat_activity_max_tx_duration",
            {"datname": "exchange", "state": state, "usename": user},
            dur,
        )
    idle = w.since("recon.idle_tx")
    lab = {"datname": "exchange", "state": "idle in transaction", "usename": "recon"}
    rec.gauge(key, "pg_stat_activity_count", lab, idle.astype(float), alive=idle)
    rec.gauge(key, "pg_stat_activity_max_tx_duration", lab, f["idle_tx"], alive=idle)
    lab = {"datname": "exchange", "state": "idle in transaction", "usename": "exchange"}
    blip = (w.rec.rng.random(n) < 0.08).astype(float)
    rec.gauge(key, "pg_stat_activity_count", lab, blip)
    rec.gauge(key, "pg_stat_activity_max_tx_duration", lab, blip * np.abs(w.noise(0.02)))
    db = {"datid": "16384", "datname": "exchange"}
    rec.counter(key, "pg_stat_database_xact_commit", db, 900 * act)
    rec.counter(key, "pg_stat_database_xact_rollback", db, 0.4 + 2.0 * f["ledger_stuck"])
    rec.counter(
        key, "pg_stat_database_tup_fetched", db, 6e4 * act * (1 + 1.5 * f["cache_miss"]) + 5e5 * f["backup"]
    )
    rec.counter(key, "pg_stat_database_blks_read", db, 400 + 5e3 * f["backup"] + 300 * f["bloat"])
    rec.gauge(key, "pg_stat_database_numbackends", db, np.round(58 + 4 * act + w.noise(1)))
    rec.gauge(key, "pg_settings_max_connections", {}, np.full(n, 200.0))
    for rel, live, dead in (
        ("balances", 1.2e6, 1800 + 900 * np.abs(w.noise(1.0)) + f["dead.balances"]),
        ("orders", 3.1e7, 2e4 + 1.5e4 * np.abs(w.noise(1.0)) + f["dead.orders"]),
        ("trades", 5.5e7, 1.2e4 + 8e3 * np.abs(w.noise(1.0)) + f["dead.trades"]),
        ("withdrawals", 4.1e5, 300 + 200 * np.abs(w.noise(1.0)) + f["dead.withdrawals"]),
    ):
        t = {"datname": "exchange", "schemaname": "public", "relname": rel}
        rec.gauge(key, "pg_stat_user_tables_n_live_tup", t, np.round(live + w.noise(live * 1e-4)))
        rec.gauge(key, "pg_stat_user_tables_n_dead_tup", t, np.round(dead))
        upd = {"balances": 200.0, "orders": 20.0, "trades": 3.0, "withdrawals": 2.0}[rel]
        rec.counter(key, "pg_stat_user_tables_n_tup_upd", t, upd * act)
        rec.counter(
            key,
            "pg_stat_user_tables_autovacuum_count",
            t,
            1 / 600 + (1 / 120 if rel == "balances" else 0) * f["bloat"],
        )
        ts = START - 3600.0 * (2 + len(rel) % 3)
        rec.gauge(key, "pg_stat_user_tables_last_autovacuum", t, np.floor((w.grid - ts) / 1800) * 1800 + ts)

    # redis_exporter
    key = w.scrape(f"{DATA}:9121", {"job": "redis", "instance": f"{DATA}:9121"})
    rec.gauge(key, "redis_up", {}, np.ones(n))
    rec.gauge(key, "redis_memory_used_bytes", {}, f["redis_memory"])
    rec.gauge(key, "redis_memory_max_bytes", {}, np.full(n, REDIS_MAX))
    rec.gauge(key, "redis_connected_clients", {}, np.round(160 + 20 * act + w.noise(3)))
    rec.counter(
        key, "redis_commands_processed_total", {}, 3000 + 2500 * act + 400 * w.since("candles.backfill")
    )
    rec.counter(key, "redis_keyspace_hits_total", {}, (2000 + 1800 * act) * (1 - f["cache_miss"]))
    rec.counter(key, "redis_keyspace_misses_total", {}, (2000 + 1800 * act) * f["cache_miss"])
    rec.counter(key, "redis_evicted_keys_total", {}, 900 * f["redis_evicting"])
    rec.counter(key, "redis_expired_keys_total", {}, 30 + 10 * act)
    rec.gauge(key, "redis_db_keys", {"db": "db0"}, np.round(f["redis_memory"] / 900))
    rec.gauge(key, "redis_db_keys_expiring", {"db": "db0"}, np.round(1.2e6 + w.noise(2e3)))

    # kafka_exporter (danielqsj)
    key = w.scrape(f"{DATA}:9308", {"job": "kafka", "instance": f"{DATA}:9308"})
    rec.gauge(key, "kafka_brokers", {}, np.ones(n))
    groups = {
        "settlement": f["settle_dead"].astype(float),
        "ledger-writer": f["ledger_stuck"],
        "ws-fanout": np.zeros(n),
    }
    for topic, share in (("trades", 0.42), ("orders", 1.0)):
        for p in range(3):
            part = {"topic": topic, "partition": str(p)}
            produced = f["orders"] * share / 3
            rec.counter(key, "kafka_topic_partition_current_offset", part, produced)
            for group, stopped in groups.items():
                if (topic == "trades") != (group != "ws-fanout"):
                    continue
                lag = 20 + 15 * act + w.noise(6) + np.cumsum(produced * stopped * STEP)
                g = {"consumergroup": group} | part
                rec.gauge(key, "kafka_consumergroup_lag", g, np.round(np.clip(lag, 0, None)))
                rec.counter(key, "kafka_consumergroup_current_offset", g, produced * (1 - stopped))
    # Traefik v3's own metrics (entrypoint and service)
    key = w.scrape(f"{EDGE}:8082", {"job": "traefik", "instance": f"{EDGE}:8082"})
    for svc, rps, broken in (
        ("ws-gateway@docker", 24 * act, 0.5 * f["ws2_broken"]),
        ("order-api@docker", 120 * act, 0 * act),
        ("wallet-service@docker", 2 * act, 0.2 * w.since("wallet.oom")),
    ):
        s = {"service": svc, "method": "GET", "protocol": "http" if "ws" not in svc else "websocket"}
        rec.counter(key, "traefik_service_requests_total", s | {"code": "200"}, rps * (1 - broken) * 0.99)
        rec.counter(key, "traefik_service_requests_total", s | {"code": "404"}, rps * 0.01)
        rec.counter(key, "traefik_service_requests_total", s | {"code": "502"}, rps * broken * 0.1 + 0.0005)
        rec.counter(key, "traefik_service_requests_total", s | {"code": "500"}, rps * broken * 0.9)
        for url in {"ws-gateway@docker": ("http://172.20.0.7:8080", "http://172.20.0.8:8080")}.get(
            svc, ("http://172.21.0.4:8000",)
        ):
            rec.gauge(key, "traefik_service_server_up", {"service": svc, "url": url}, np.ones(n))
    rec.counter(
        key,
        "traefik_entrypoint_requests_total",
        {"entrypoint": "websecure", "code": "200", "method": "GET", "protocol": "http"},
        146 * act,
    )
    rec.gauge(
        key,
        "traefik_open_connections",
        {"entrypoint": "websecure", "method": "GET", "protocol": "websocket"},
        np.round(f["ws_conns"] * 0.98),
    )

    # blackbox_exporter: http_2xx probes of the oracle's price sources
    for target, url in PROBES.items():
        labels = {"job": "blackbox-price-sources", "instance": url, "module": "http_2xx", "target": target}
        key = w.scrape("probe-" + target, labels, miss=0.005)
        broken = f["fx_broken"] if target == "fxrates" else np.zeros(n)
        ok = broken == 0
        rec.gauge(key, "probe_success", {}, np.where(ok, 1.0, 0.0))
        rec.gauge(key, "probe_http_status_code", {}, np.where(ok, 200.0, 0.0))
        rec.gauge(
            key, "probe_duration_seconds", {}, 0.08 + 0.05 * (target == "fxrates") + np.abs(w.noise(0.01))
        )
        expiry = {
            "fxrates": w.at("fxrates.expired") or (START + 86400 * 40),
            "coinbase-api": START + 86400 * 51,
            "kraken-api": START + 86400 * 77,
        }[target]
        rec.gauge(key, "probe_ssl_earliest_cert_expiry", {}, np.full(n, float(expiry)), alive=ok)
        rec.gauge(key, "probe_http_ssl", {}, np.where(ok, 1.0, 0.0))


def usage_and_memory(
    w: Exchange, f: dict[str, np.ndarray]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Each container's cores and working set."""
    act, n, g = f["act"], w.n, w.grid
    cpu: dict[str, np.ndarray] = {}
    mem: dict[str, np.ndarray] = {}
    for name, (service, *_rest) in CONTAINERS.items():
        base = {
            "traefik": 0.3 + 0.25 * act,
            "ws-gateway": 0.25 + 0.2 * act,
            "matching-engine": 3.1 + 0.002 * f["orders"] - 0.35 * f["starve"],
            "order-api": 0.3 + 0.001 * f["orders"] + 0.4 * f["cache_miss"],
            "ledger-writer": 0.2 + 0.1 * act + 0.3 * f["ledger_stuck"],
            "wallet-service": 0.15 + 0.05 * act,
            "price-oracle": 0.1 + 0.02 * act + 0.35 * w.since("oracle.debug"),
            "settlement": 0.4 + 0.15 * act,
            "postgres": 1.2 + 0.5 * act + 1.1 * f["backup"] + 0.4 * f["bloat"],
            "redis": 0.3 + 0.15 * act + 0.2 * w.since("candles.backfill"),
            "kafka": 0.8 + 0.3 * act,
            "prometheus": 0.6 + 0 * act,
            "pg-backup": 1.2 * f["backup"],
            "backtest": f["backtest"],
        }.get(service, 0.02 + 0 * act)
        cpu[name] = np.clip(base + w.noise(0.01), 0.001, None)
        size = {
            "ws-gateway": f["ws_rss"],
            "matching-engine": 5.2e9 + 0.0 * act,
            "postgres": 3.2e10 + 0 * act,
            "redis": f["redis_memory"] * 1.04,
            "kafka": 8.5e9 + 0 * act,
            "settlement": 1.4e9 + 0 * act,
            "backtest": 2.2e10 * w.since("backtest.start"),
        }.get(service, 2.2e8 + 0 * act)
        mem[name] = size + w.noise(2e6)
    if (at := w.at("wallet.oom")) is not None:  # each life climbs from 600 MB to the limit
        wallet = 6.1e8 + np.zeros(n) + w.noise(3e6)
        lives = [at - 9e9, *[t + 8.0 for t in oom_kills(w)]]
        for k, begin in enumerate(lives):
            seg = g >= begin
            grow = np.clip(g - at, 0, None) / 150.0 if k == 0 else np.clip(g - begin - 25, 0, None) / 170.0
            wallet = np.where(seg, 6.1e8 + (WALLET_LIMIT * 0.995 - 6.1e8) * np.clip(grow, 0, 1), wallet)
        mem["exchange-wallet-service-1"] = wallet + w.noise(2e6)
        cpu["exchange-wallet-service-1"] = cpu["exchange-wallet-service-1"] + 0.9 * w.since("wallet.oom")
    return cpu, mem


def build_compose(seed: int, inject: Mapping[str, Delta]) -> Recording:
    """Every exporter's series at the exchange, with each of `inject`'s deltas added where it is read."""
    w = Exchange(seed, inject)
    f = flow(w)
    usage, memory = usage_and_memory(w, f)
    per_host = {h: np.full(w.n, 0.3) for h in HOSTS}
    for name, spec in CONTAINERS.items():
        per_host[spec[2]] = per_host[spec[2]] + usage[name] * alive_of(w, name)
    per_host[TRADE1] = np.maximum(per_host[TRADE1], f["trade1_demand"])
    node_exporter(w, f, per_host)
    cadvisor(w, f, usage, memory)
    write_apps(w, f, usage, memory)
    write_exporters(w, f)
    w.rec.up()
    for row in w.rec.families["up"]:
        if (down := w.down.get(row.target)) is not None:
            row.values[down] = 0.0
    for name, rows in w.rec.families.items():
        w.rec.families[name] = [dataclasses.replace(row, fmt=PRECISE) for row in rows]
    return w.rec


# --- The scenarios ---------------------------------------------------------------------------------------


def movers(cascade: float, restarted: str, restart_at: float, down: str, down_at: float) -> dict[str, Delta]:
    """The unrelated movers a scenario places: a liquidation cascade, a container restarted elsewhere, a
    target missing for a minute (the backup cron, the growing caches and the CPI print are always there)."""
    return {"vol.burst": cascade, f"restart.{restarted}": restart_at, f"down.{down}": down_at}


LAG_RULE = "sum by (consumergroup) (kafka_consumergroup_lag) > 5000"
CADVISOR_MEMORY = (
    "container_memory_working_set_bytes",
    "container_memory_usage_bytes",
    "container_memory_rss",
)


def _wallet_oom() -> Scenario:
    return Scenario(
        "wallet_oom_loop",
        {
            "wallet.oom": hms(14, 2),
            **movers(hms(13, 55), "exchange-order-api-1", hms(13, 58), "probe-coinbase-api", hms(14, 0)),
        },
        Alert(
            "WalletWithdrawalQueueBacklog",
            'max by (job) (wallet_withdrawals_pending{job="wallet-service", status="queued"}) > 150',
            {"job": "wallet-service"},
            starts=hms(14, 11),  # for: 3m
            active=hms(14, 8),
            extra={"severity": "critical", "team": "wallet"},
        ),
        Truth(
            ("wallet-service",),
            (
                *CADVISOR_MEMORY,
                "container_memory_failcnt",
                "container_oom_events_total",
                "container_start_time_seconds",
                "process_start_time_seconds",
                "process_uptime_seconds",
                "jvm_memory_used_bytes",
                "jvm_buffer_memory_used_bytes",
            ),
            "a withdrawal backlog after an airdrop loads every pending row: the wallet service outgrows its "
            "1 GiB mem_limit from 14:02, OOM-killed every ~3.5 min and restarted by Compose",
            categories=("resource.memory",),
        ),
        build=build_compose,
    )


def _backtest_neighbour() -> Scenario:
    bt = 'name="research-backtest-1"'
    return Scenario(
        "backtest_noisy_neighbour",
        {
            "backtest.start": hms(14, 41),
            **movers(hms(14, 35), "exchange-price-oracle-1", hms(14, 33), f"{DATA}:9121", hms(14, 38)),
        },
        Alert(
            "MatchingEngineOrderLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job) (rate(matching_order_latency_seconds_bucket"
            '{job="matching-engine"}[1m]))) > 0.001',
            {"job": "matching-engine"},
            starts=hms(14, 43, 15),  # for: 2m
            active=hms(14, 41, 15),
            extra={"severity": "critical", "team": "trading-core"},
        ),
        Truth(
            ("backtest", TRADE1),
            (
                f"container_cpu_usage_seconds_total{{{bt}}}",
                f"container_cpu_user_seconds_total{{{bt}}}",
                f"container_cpu_system_seconds_total{{{bt}}}",
                f"container_memory_working_set_bytes{{{bt}}}",
                f"container_start_time_seconds{{{bt}}}",
                'container_cpu_usage_seconds_total{id="/"}',
                "node_cpu_seconds_total",
                "node_load1",
                "node_load5",
                "node_pressure_cpu_waiting_seconds_total",
            ),
            "a quant started a backtest (`docker compose -p research up`) on dkr-trade-01 without a CPU "
            "limit: 14 busy cores starve the matching engine's threads on the same host",
            categories=("resource.cpu",),
        ),
        build=build_compose,
    )


def _docker_logs_disk() -> Scenario:
    return Scenario(
        "docker_logs_fill_disk",
        {
            "oracle.debug": hms(12, 55),
            "docker.free": 1.4e11,
            **movers(hms(14, 0), "edge-ws-gateway-1", hms(14, 3), f"node-{EDGE}", hms(14, 5)),
        },
        Alert(
            "KafkaConsumersGroupLag",
            LAG_RULE,
            {"consumergroup": "settlement"},
            starts=hms(14, 12),  # for: 2m
            active=hms(14, 10),
            extra={"severity": "critical", "team": "settlement"},
        ),
        Truth(
            (TRADE2, "price-oracle"),
            (
                'node_filesystem_avail_bytes{mountpoint="/var/lib/docker"}',
                'node_filesystem_free_bytes{mountpoint="/var/lib/docker"}',
                'node_disk_written_bytes_total{device="sdb"}',
                'node_disk_writes_completed_total{device="sdb"}',
                'node_disk_io_time_seconds_total{device="sdb"}',
                'container_fs_writes_bytes_total{id="/system.slice/docker.service"}',
                'container_cpu_usage_seconds_total{id="/system.slice/docker.service"}',
                'oracle_log_messages_total{level="debug"}',
            ),
            "the price oracle left at DEBUG since 12:55 logs ~25 MB/s to json-file without max-size: "
            "dkr-trade-02's /var/lib/docker fills, the settlement app's state store (a named volume there) "
            "hits ENOSPC and its stream thread dies",
            categories=("resource.disk",),
        ),
        build=build_compose,
    )


def _idle_in_transaction() -> Scenario:
    return Scenario(
        "pg_idle_tx_bloat",
        {
            "recon.idle_tx": hms(13, 20),
            **movers(hms(13, 12), "exchange-settlement-1", hms(13, 17), "probe-kraken-api", hms(13, 22)),
        },
        Alert(
            "PostgresqlTooManyDeadTuples",
            "((pg_stat_user_tables_n_dead_tup > 10000) / (pg_stat_user_tables_n_live_tup + "
            "pg_stat_user_tables_n_dead_tup)) >= 0.1",
            {
                "job": "postgres",
                "instance": f"{DATA}:9187",
                "datname": "exchange",
                "schemaname": "public",
                "relname": "balances",
            },
            starts=hms(13, 27, 30),  # for: 2m
            active=hms(13, 25, 30),
            extra={"severity": "warning", "team": "dba"},
        ),
        Truth(
            ("postgres",),
            ("pg_stat_activity_max_tx_duration", "pg_stat_activity_count"),
            "the nightly-recon re-run left a session idle in transaction since 13:20 (an exception path "
            "without rollback): the xmin horizon is pinned, autovacuum removes nothing, balances bloats",
            {"usename": "recon", "state": "idle in transaction"},
        ),
        build=build_compose,
    )


def _redis_eviction() -> Scenario:
    return Scenario(
        "redis_candles_eviction",
        {
            "candles.backfill": hms(13, 58),
            **movers(hms(14, 8), "edge-traefik-1", hms(14, 5), f"{EDGE}:8080", hms(14, 12)),
        },
        Alert(
            "OrderApiLatencyHigh",
            "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket"
            '{job="order-api"}[5m]))) > 0.3',
            {"job": "order-api"},
            starts=hms(14, 18, 45),  # for: 5m
            active=hms(14, 13, 45),
            extra={"severity": "warning", "team": "api"},
        ),
        Truth(
            ("redis",),
            (
                "redis_memory_used_bytes",
                "redis_evicted_keys_total",
                "redis_keyspace_misses_total",
                "redis_keyspace_hits_total",
                "redis_db_keys",
                *CADVISOR_MEMORY,
            ),
            "a candles backfill from 13:58 writes OHLC keys without TTL into the shared Redis: maxmemory "
            "(4 GiB, allkeys-lru) reached, the order API's cached balances evicted, every miss hits Postgres",
            categories=("resource.memory",),
        ),
        build=build_compose,
    )


def _ws_gateway_image() -> Scenario:
    ws2 = 'container="edge-ws-gateway-2"'
    return Scenario(
        "ws_gateway_bad_image",
        {
            "wsgw.deploy": hms(15, 10),
            **movers(hms(15, 0), "exchange-order-api-1", hms(15, 2), f"node-{TRADE2}", hms(15, 5)),
        },
        Alert(
            "TraefikServiceHighHttp5xxErrorRate",
            'sum by (service) (rate(traefik_service_requests_total{code=~"5.*"}[3m])) / '
            "sum by (service) (rate(traefik_service_requests_total[3m])) * 100 > 5",
            {"service": "ws-gateway@docker"},
            starts=hms(15, 11, 30),  # for: 1m
            active=hms(15, 10, 30),
            extra={"severity": "critical", "team": "edge"},
        ),
        Truth(
            ("ws-gateway",),
            (
                "container_start_time_seconds",
                "container_last_seen",
                "container_cpu_usage_seconds_total",
                "container_memory_working_set_bytes",
                f"process_start_time_seconds{{{ws2}}}",
                f'ws_gateway_upgrades_total{{{ws2},result="error"}}',
                f"ws_gateway_connections{{{ws2}}}",
            ),
            "edge-ws-gateway-2 recreated at 15:10 with ws-gateway:2.8.0 (a renamed env variable): its "
            "health check passes, but every websocket upgrade it gets through Traefik answers 500",
            {"image": NEW_WS_IMAGE},
            categories=("change.deployment",),
        ),
        build=build_compose,
    )


def _fxrates_certificate() -> Scenario:
    return Scenario(
        "fxrates_cert_expired",
        {
            "fxrates.expired": hms(15, 0),
            **movers(hms(14, 50), "exchange-ledger-writer-1", hms(14, 48), f"{DATA}:9308", hms(14, 55)),
        },
        Alert(
            "PriceOracleStale",
            'time() - max by (job, pair) (oracle_last_update_timestamp_seconds{job="price-oracle"}) > 60',
            {"job": "price-oracle", "pair": "EUR-USDT"},
            starts=hms(15, 1, 45),  # for: 1m
            active=hms(15, 0, 45),
            extra={"severity": "critical", "team": "pricing"},
        ),
        Truth(
            ("fxrates", "price-oracle"),
            (
                "probe_success",
                "probe_http_status_code",
                "probe_http_ssl",
                "probe_ssl_earliest_cert_expiry",
                'oracle_source_errors_total{reason="ssl_error"}',
                "oracle_source_up",
                "oracle_source_requests_total",
            ),
            "the FX rates partner's TLS certificate expired at 15:00 (their renewal failed): the blackbox "
            "probe fails, the oracle's fxrates polls fail the handshake, EUR-USDT is no longer updated",
            {"source": "fxrates"},
            categories=("dependency.service",),
        ),
        build=build_compose,
    )


def _ledger_poison() -> Scenario:
    return Scenario(
        "ledger_poison_message",
        {
            "ledger.poison": hms(15, 25),
            **movers(hms(15, 15), "edge-ws-gateway-2", hms(15, 18), f"{TRADE2}:8080", hms(15, 20)),
        },
        Alert(
            "KafkaConsumersGroupLag",
            LAG_RULE,
            {"consumergroup": "ledger-writer"},
            starts=hms(15, 27, 30),  # for: 2m
            active=hms(15, 25, 30),
            extra={"severity": "critical", "team": "ledger"},
        ),
        Truth(
            ("ledger-writer",),
            (
                'ledger_insert_errors_total{error="numeric_value_out_of_range"}',
                "ledger_message_retries_total",
                "ledger_messages_processed_total",
                "ledger_last_committed_offset_timestamp_seconds",
            ),
            "a trade of a new meme token (quantity 1.2e13) overflows the ledger's NUMERIC(20,8): the ledger "
            "writer retries that message forever and commits nothing from 15:25",
        ),
        build=build_compose,
    )


COMPOSE_SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        _wallet_oom(),
        _backtest_neighbour(),
        _docker_logs_disk(),
        _idle_in_transaction(),
        _redis_eviction(),
        _ws_gateway_image(),
        _fxrates_certificate(),
        _ledger_poison(),
    )
}
