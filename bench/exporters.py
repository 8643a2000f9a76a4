"""Trading incidents as real exporters write them, through the product's own `diagnose` path.

The black-box audit's twelve incidents (`bench.exporters_scenarios`: HikariCP, postgres_exporter,
pgbouncer, mysqld_exporter, redis_exporter, cAdvisor, kube-state-metrics with honorLabels, node-exporter;
the market open, another workload's rollout and a batch job's CPU burst moving beside each cause), each
generated from its seed, backfilled with promtool into its own Prometheus and diagnosed as a user runs
`alert-analyst diagnose --alert FILE --prometheus URL --at <startsAt + 60 s> --format json` (the CLI
function, in-process) with every default. Variants: `scraped` (every series) and `no-ksm` (without
kube-state-metrics' series, the audit's NOKSM ablation).

Judged precisely: a hypothesis names a component (the entity its title names, else the owner of its
suspect series); it is the cause when that component is a true one and its suspect is one of the cause's
series (metric family and the labels that single it out; never a label the alert itself carries). Beside
it, in the same run, a largest-jump baseline: per component, the largest robust jump of any series (the
alert's own metrics left out) over the 5 minutes up to the diagnosis against the 10 minutes before.

`--set infra` runs the second set instead (`bench.exporters_infra`: ten generic infrastructure incidents in
a web shop: a node's disk filling under a database, an OOM-killed leak, CPU throttling, a noisy neighbour,
NIC errors, CoreDNS SERVFAILs, a bad deploy, an expired certificate, a slow dependency, a stuck consumer);
`--set streaming` the third (`bench.exporters_streaming`: ten incidents on a data/streaming platform: a
Kafka broker's volume filled by a CDC snapshot, a broker's slow disk shrinking the ISR, a ClickHouse
mutation starving merges, Elasticsearch heap pressure behind Flink's checkpoints, a backfill filling a Redis
cache, an OOM-killed Kafka Streams pod, ZooKeeper's full volumes, a loader's bad deploy, an unthrottled
partition reassignment, a migration's lock on a sink's database); `--set platform` the fourth
(`bench.exporters_platform`, held out until session 54 measured it: ten incidents on a web/API platform behind
ingress-nginx: a Tomcat pool deadlocked in one api pod, a memcached redeployed with a tenth of its memory, a
MongoDB primary's WiredTiger cache pressure, a Cassandra node's compaction backlog, a control-plane disk
slowing etcd and the apiserver, a Go service's goroutine leak, an HAProxy server failing its checks after a
reload, a MinIO drive flapping offline, Celery workers scaled down, a node's conntrack limit lowered); `--set
hosts` the fifth (`bench.exporters_hosts`, held out: ten incidents on a trading firm's bare-metal estate
without Kubernetes, its components known only by `job`, `instance` and the host: a gateway's chrony
following a falseticker, a feed handler's UDP receive buffer overflowing at the open, the risk engine's data
volume filled by DEBUG logs, its G1 old generation full after a refdata reload, an EOD batch holding
pgbouncer's server connections, an ad-hoc query stalling the replica's replay, the primary's WAL SSD
remapping sectors, a switch port's CRC errors, a drop-copy unit crash-looping, a tick writer's leak
thrashing swap; it runs the `scraped` variant unless told otherwise, having no kube-state-metrics to leave
out); `--set compose` the sixth (`bench.exporters_compose`, held out: eight incidents at a small crypto
exchange on plain Docker hosts with Docker Compose, known by cAdvisor's container names, docker_sd's targets
and the hosts: a wallet service OOM-killed in a loop, a backtest container starving the matching engine's
host, the price oracle's json-file logs filling /var/lib/docker under the settlement app, a session idle in
transaction bloating Postgres, a candles backfill driving Redis into eviction, a websocket gateway
recreated with a bad image, a price source's expired certificate, a ledger consumer stuck on one message;
`scraped` only as well); `--set all` every set.

    python -m bench.exporters [--set trading|infra|streaming|platform|hosts|compose|all] [--scenarios a,b]
                              [--variants scraped,no-ksm] [--workers 2] [--out rows.jsonl]
"""

from __future__ import annotations

import json
import multiprocessing
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench import jumps
from bench.exporters_compose import COMPOSE_SCENARIOS
from bench.exporters_data import FOR_STATE, PodSpec, Recording, Row
from bench.exporters_hosts import HOSTS_SCENARIOS
from bench.exporters_infra import INFRA_SCENARIOS
from bench.exporters_platform import PLATFORM_SCENARIOS
from bench.exporters_scenarios import SCENARIOS, Scenario, Truth, family_of, recording, webhook
from bench.exporters_streaming import STREAMING_SCENARIOS
from bench.inputs import BenchArgumentParser, output_file, require_binaries
from bench.rca import blocks_from, diagnose_cli, serve_blocks
from receiver.evidence.derived import LIMITED

DIAGNOSE_AFTER = 60.0  # the diagnosis runs this long after the alert's startsAt (as the audit ran it)
VARIANTS = {"scraped": True, "no-ksm": False}  # name: kube-state-metrics' series kept
RECENT = 300.0  # the baseline's recent window, up to the diagnosis time
BEFORE = 600.0  # the baseline's reference window, before the recent one
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
ALIAS_LABELS = ("service", "job", "pod", "container", "instance", "target")  # target: a blackbox probe's name
DOWNSTREAM = "downstream of "
USAGE_OF = {ratio: usage for usage, (_, ratio) in LIMITED.items()}  # container_cpu_limit_ratio: its usage
SETS: dict[str, dict[str, Scenario]] = {
    "trading": SCENARIOS,
    "infra": INFRA_SCENARIOS,
    "streaming": STREAMING_SCENARIOS,
    "platform": PLATFORM_SCENARIOS,
    "hosts": HOSTS_SCENARIOS,
    "compose": COMPOSE_SCENARIOS,
}
SET_VARIANTS = {
    "hosts": ("scraped",),
    "compose": ("scraped",),
}  # a set without kube-state-metrics: its no-ksm variant is the same
ALL_SCENARIOS: dict[str, Scenario] = {name: s for scenarios in SETS.values() for name, s in scenarios.items()}


@dataclass(frozen=True)
class Ranked:
    """One hypothesis (or baseline entry) as judged: the component it names, whether it is the cause."""

    title: str
    suspect: str
    confidence: float | None
    component: str | None
    right_component: bool
    cause: bool


@dataclass(frozen=True)
class Outcome:
    scenario: str
    variant: str
    truth: str
    hypotheses: tuple[Ranked, ...]
    baseline: tuple[Ranked, ...]
    seconds: float  # the diagnose command, in process
    analyst_seconds: float
    error: str | None = None

    @property
    def cause_rank(self) -> int | None:
        return rank_of(self.hypotheses, cause=True)

    @property
    def component_rank(self) -> int | None:
        return rank_of(self.hypotheses, cause=False)

    @property
    def baseline_cause_rank(self) -> int | None:
        return rank_of(self.baseline, cause=True)

    @property
    def baseline_component_rank(self) -> int | None:
        return rank_of(self.baseline, cause=False)


def rank_of(ranked: Sequence[Ranked], cause: bool) -> int | None:
    """1-based position of the first entry that is the cause (`cause`) or names a true component."""
    return next((i for i, r in enumerate(ranked, 1) if (r.cause if cause else r.right_component)), None)


# --- Reading a diagnosis ---------------------------------------------------------------------------------


class Index:
    """The scenario's series by name, and every name a component goes by (workloads, pods, nodes, the
    label values of each scrape target) mapped to that component."""

    def __init__(self, rec: Recording) -> None:
        self.rows: dict[str, list[Row]] = {}
        for row in rec.rows():
            self.rows.setdefault(row.name, []).append(row)
        names: dict[str, set[str]] = {}
        for target in rec.targets.values():
            identity = target_identity(target.key, rec.pods)
            for key in ALIAS_LABELS:
                if value := target.labels.get(key):
                    names.setdefault(value, set()).add(identity)
        for pod, (workload, *_) in rec.pods.items():
            names.setdefault(pod, set()).add(workload)
            names.setdefault(workload, set()).add(workload)
        for node in rec.nodes:
            names.setdefault(node, set()).add(node)
        self.aliases = {name: next(iter(owners)) for name, owners in names.items() if len(owners) == 1}

    def series(self, suspect: str) -> Row | None:
        """The generated series a suspect selector names (a derived `family:mean` names its family's)."""
        pairs = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in PAIR.findall(suspect)}
        head = suspect.split("{", 1)[0].strip()
        name = pairs.pop("__name__", head)
        if not NAME.fullmatch(name):
            return None
        name = USAGE_OF.get(name, name)  # a usage-to-limit ratio the evidence derives names its usage
        family = name.split(":", 1)[0]
        candidates = self.rows.get(name) or [
            row for rows in self.rows.values() for row in rows if family_of(row.name, (family,))
        ]
        return next((r for r in candidates if all(r.labels.get(k) == v for k, v in pairs.items())), None)

    def named(self, title: str) -> str | None:
        """The component a hypothesis' title names after its category (`Category: [downstream of ]name`)."""
        _, sep, name = title.rpartition(": ")
        return self.aliases.get(name.removeprefix(DOWNSTREAM).strip()) if sep else None


def target_identity(key: str, pods: Mapping[str, PodSpec]) -> str:
    """What a scrape target is: a workload, kube-state-metrics, a node's kubelet or node-exporter, the
    endpoint a blackbox probe probes."""
    if key in pods:
        return pods[key][0]
    for prefix in ("node-", "probe-"):
        if key.startswith(prefix):
            return key.removeprefix(prefix)
    return {"ksm": "kube-state-metrics"}.get(key, key.split("-", 1)[0])  # kubelet, kafka


def judge(
    title: str,
    suspect: str,
    confidence: float | None,
    truth: Truth,
    index: Index,
    category: str | None = None,
) -> Ranked:
    """A hypothesis' component (its title's entity, else its suspect series' owner, else a name the
    suspect is) and whether it is the cause: a true component whose suspect is one of the cause's series,
    or whose category is one that states the cause by itself (`Truth.categories`)."""
    row = index.series(suspect)
    component = index.named(title) or (row.owner if row else index.aliases.get(suspect.strip()))
    right = component in truth.components
    stated = category in truth.categories
    cause = right and ((row is not None and truth.is_cause(row)) or stated)
    return Ranked(title, suspect, confidence, component, right, cause)


def judged_hypotheses(diagnosis: Mapping[str, object], truth: Truth, index: Index) -> tuple[Ranked, ...]:
    primary, alternatives = diagnosis["primary_hypothesis"], diagnosis["alternative_hypotheses"]
    assert isinstance(primary, dict) and isinstance(alternatives, list)
    return tuple(
        judge(str(h["title"]), str(h["suspect"]), float(h["confidence"]), truth, index, h.get("category"))
        for h in [primary, *alternatives]
    )


# --- The baseline ----------------------------------------------------------------------------------------


def robust_jump(row: Row, at: float) -> float:
    """`jumps.robust_jump` of the RECENT seconds up to `at` against the BEFORE seconds ahead of them."""
    times, values = jumps.per_second(*row.kept, row.counter)
    return jumps.robust_jump(times, values, at, RECENT, BEFORE)


def largest_jump(rec: Recording, scenario: Scenario, index: Index) -> tuple[Ranked, ...]:
    """Components by their series' largest robust jump, each with that series (the alert's own metrics,
    `up` and ALERTS_FOR_STATE left out)."""
    at = scenario.alert.starts + DIAGNOSE_AFTER
    own = set(NAME.findall(scenario.alert.expr)) | {"up", FOR_STATE}
    own |= {n.removesuffix("_bucket") + part for n in own for part in ("_sum", "_count")}
    best: dict[str, tuple[float, Row]] = {}
    for row in rec.rows():
        if row.name in own:
            continue
        jump = robust_jump(row, at)
        if jump > best.get(row.owner, (-1.0, row))[0]:
            best[row.owner] = (jump, row)
    order = sorted(best.items(), key=lambda item: -item[1][0])
    return tuple(
        judge(f"largest jump: {owner}", selector(row), None, scenario.truth, index)
        for owner, (_, row) in order
    )


def selector(row: Row) -> str:
    return row.name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(row.labels.items())) + "}"


# --- One scenario, the run -------------------------------------------------------------------------------


def run_scenario(name: str, variant: str, workdir: Path) -> Outcome:
    """Generate, backfill into a Prometheus of its own, diagnose, judge; the baseline beside it."""
    scenario = ALL_SCENARIOS[name]
    rec = recording(scenario, VARIANTS[variant])
    index = Index(rec)
    baseline = largest_jump(rec, scenario, index)
    workdir.mkdir(parents=True)
    source = workdir / "scenario.om"
    blocks_from(source, rec.write_openmetrics(source), workdir)
    config = workdir / "alert-analyst.yml"
    config.write_text("{}\n")  # every default; the Prometheus URL is given on the command line
    prometheus = serve_blocks(workdir)
    try:
        at = scenario.alert.starts + DIAGNOSE_AFTER
        code, out, err, seconds = diagnose_cli(webhook(scenario), config, prometheus.url, at, workdir)
    finally:
        prometheus.stop()
    truth = scenario.truth.summary
    if code != 0:
        error = f"diagnose exit {code}: {err.getvalue()[-500:]}"
        return Outcome(name, variant, truth, (), baseline, seconds, 0.0, error)
    diagnosis = json.loads(out.getvalue())["diagnosis"]
    hypotheses = judged_hypotheses(diagnosis, scenario.truth, index)
    return Outcome(name, variant, truth, hypotheses, baseline, seconds, float(diagnosis["analysis_duration"]))


def run(names: Sequence[str], variants: Sequence[str], workers: int, workdir: Path) -> list[Outcome]:
    """Every scenario in every variant, `workers` at once (each its own Prometheus); in the given order."""
    jobs = [(name, variant) for name in names for variant in variants]
    # spawned, not forked: a forked worker would inherit the parent's port picker and draw its ports
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = [pool.submit(run_scenario, n, v, workdir / f"{n}-{v}") for n, v in jobs]
        outcomes = []
        for (name, variant), future in zip(jobs, futures, strict=True):
            try:
                outcome = future.result()
            except Exception as exc:  # counted as a miss, with what went wrong
                truth = ALL_SCENARIOS[name].truth.summary
                outcome = Outcome(name, variant, truth, (), (), 0.0, 0.0, f"{type(exc).__name__}: {exc}")
            print(progress_line(outcome), file=sys.stderr)
            outcomes.append(outcome)
    return outcomes


def progress_line(o: Outcome) -> str:
    primary = o.hypotheses[0].title if o.hypotheses else o.error
    return f"{o.scenario:17s} {o.variant:8s} cause rank {_rank(o.cause_rank):2s} {primary} {o.seconds:.2f}s"


# --- The tables ------------------------------------------------------------------------------------------


def _rank(rank: int | None) -> str:
    return str(rank) if rank is not None else "-"


def _primary(o: Outcome) -> str:
    if not o.hypotheses:
        return f"failed: {o.error}"
    first = o.hypotheses[0]
    confidence = f" ({first.confidence:.0%})" if first.confidence is not None else ""
    return first.title.replace("|", "\\|") + confidence


def scenario_table(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "| scenario | variant | true cause | cause rank | component rank | primary (confidence) "
        "| baseline cause / component rank | diagnose s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        lines.append(
            f"| {o.scenario} | {o.variant} | {o.truth} | **{_rank(o.cause_rank)}** "
            f"| {_rank(o.component_rank)} | {_primary(o)} "
            f"| {_rank(o.baseline_cause_rank)} / {_rank(o.baseline_component_rank)} "
            f"| {o.seconds:.2f} |"
        )
    return "\n".join(lines)


def within(ranks: Iterable[int | None], k: int) -> int:
    return sum(r is not None and r <= k for r in ranks)


def summary_table(outcomes: Sequence[Outcome], variants: Sequence[str]) -> str:
    lines = [
        "| variant | n | cause first | cause in top 3 | component first | component in top 3 "
        "| baseline: cause first / top 3 | baseline: component first / top 3 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for variant in variants:
        rows = [o for o in outcomes if o.variant == variant]
        cause = [o.cause_rank for o in rows]
        component = [o.component_rank for o in rows]
        base_cause = [o.baseline_cause_rank for o in rows]
        base_component = [o.baseline_component_rank for o in rows]
        lines.append(
            f"| {variant} | {len(rows)} | **{within(cause, 1)}** | {within(cause, 3)} "
            f"| {within(component, 1)} | {within(component, 3)} "
            f"| {within(base_cause, 1)} / {within(base_cause, 3)} "
            f"| {within(base_component, 1)} / {within(base_component, 3)} |"
        )
    seconds = np.array([o.seconds for o in outcomes])
    analyst = np.array([o.analyst_seconds for o in outcomes])
    lines += [
        "",
        f"diagnose (CLI in process: fetch + evidence + analyst + JSON): median {np.median(seconds):.2f} s, "
        f"max {seconds.max():.2f} s; the analyst alone: median {np.median(analyst) * 1000:.0f} ms",
    ]
    return "\n".join(lines)


def write_rows(outcomes: Iterable[Outcome], path: Path) -> None:
    with path.open("w") as handle:
        for o in outcomes:
            row = {
                **asdict(o),
                "cause_rank": o.cause_rank,
                "component_rank": o.component_rank,
                "baseline_cause_rank": o.baseline_cause_rank,
                "baseline_component_rank": o.baseline_component_rank,
                "baseline": [asdict(r) for r in o.baseline[:5]],
            }
            handle.write(json.dumps(row) + "\n")


def _listed(text: str, known: Iterable[str], what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"unknown {what} {', '.join(unknown) or '(none given)'}; known: {', '.join(known)}")
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.exporters", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--set",
        default="trading",
        choices=[*SETS, "all"],
        help="the scenario set: trading (the audit's 12, default), infra (10 generic infrastructure), "
        "streaming (10 on a data/streaming platform), platform (10 on a web/API platform), hosts (10 on a "
        "bare-metal trading estate), compose (8 at a crypto exchange on Docker Compose hosts) or all",
    )
    parser.add_argument("--scenarios", help="comma-separated, of the set (default: all of it)")
    parser.add_argument(
        "--variants",
        help=f"comma-separated of {', '.join(VARIANTS)} (default both; hosts, compose: scraped)",
    )
    parser.add_argument("--workers", type=int, default=2, help="scenarios run at once (default 2)")
    parser.add_argument("--out", type=output_file, help="write one JSON row per scenario and variant here")
    args = parser.parse_args(argv)
    try:
        chosen = ALL_SCENARIOS if args.set == "all" else SETS[args.set]
        names = _listed(args.scenarios or ",".join(chosen), chosen, "scenario")
        variants = _listed(
            args.variants or ",".join(SET_VARIANTS.get(args.set, VARIANTS)), VARIANTS, "variant"
        )
    except ValueError as exc:
        parser.error(str(exc))
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    started = time.perf_counter()
    with parser.input_errors():
        require_binaries("promtool", "prometheus")
        with tempfile.TemporaryDirectory(prefix="bench-exporters-") as tmp:
            outcomes = run(names, variants, args.workers, Path(tmp))
    if args.out is not None:
        write_rows(outcomes, args.out)
    print(scenario_table(outcomes))
    print()
    print(summary_table(outcomes, variants))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
