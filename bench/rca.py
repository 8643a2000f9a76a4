"""Root-cause benchmark on the Nezha fault-injection days, through the product's own `diagnose` path.

Every pod's CSV columns are backfilled into a real Prometheus with promtool; per fault an Alertmanager
alert on the entry service's SLO (startsAt = injection + 60 s) goes through `alert-analyst diagnose
--alert FILE --config.file CFG --prometheus URL --at <injection + 180 s> --format json` (the CLI function
itself, in-process). The ranking is the primary hypothesis's suspect then the alternatives', mapped to
services; AS@k and Avg@5 per system and fault type, beside the largest-jump baseline. Protocol:
../shared/nezha/README.md.

    python -m bench.rca --data ../shared/nezha [--out rows.jsonl] [--keep-workdir DIR] [--evidence-out FILE]
                        [--graph-from-metrics] [--layout kubernetes] [--max-related 200]
                        [--mesh [calls|scraped]] [--diagnose-after 180]

`--evidence-out` keeps each fault's evidence, so `python -m bench.rca_replay FILE` can re-rank it in
seconds without Prometheus. `--graph-from-metrics` puts the call graph (OnlineBoutique's) into Prometheus
as Tempo-style service-graph counters and reads it per alert with `context.call_graph`, the path of a user
whose tracing exports that graph, instead of handing it over as a file. `--layout kubernetes` backfills
the same cells as a kube-prometheus-stack cluster exposes them (`bench.rca_data.kubernetes_lines`): CPU,
memory and network from cAdvisor, under the kubelet's `job` and `service` labels, usage as counters; the
application's latency, success rate and request counter under its own Service. `--mesh` adds each call's
latency as Istio's sidecars report it (`bench.rca_data.mesh_lines`, OnlineBoutique only: its per-call p50
files from both sides of each call) and reads it with `context.call_latency: [{preset: istio}]`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import re
import sys
import tempfile
import time
import traceback
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import yaml

from analyst.builtin import expected_calibration_error
from bench.inputs import BenchArgumentParser, existing_dir, output_dir, output_file, require_binaries
from bench.rca_data import LAYOUTS, Day, Fault, Table, find_days, service_of_pod, twin, write_openmetrics
from demo.processes import ManagedProcess, create_blocks, start_prometheus
from receiver.cli.diagnose import run_diagnose

ALERT_DELAY = 60.0
DIAGNOSE_DELAY = 180.0
SHIFT_BEFORE = 600.0
SHIFT_AFTER = 180.0
KS = (1, 3, 5)
MAX_ALTERNATIVES = 9
# Largest-jump baseline: per service, the largest jump in these columns against its previous 10 minutes.
BASELINE_COLUMNS = ("CpuUsageRate(%)", "PodServerLatencyP90(s)", "PodSuccessRate(%)")


@dataclass(frozen=True)
class Outcome:
    fault: Fault
    system: str
    ranking: tuple[str, ...]
    baseline: tuple[str, ...]
    seconds: float
    analyst_seconds: float
    category: str
    alertname: str
    confidence: float = math.nan  # the primary hypothesis's (NaN where no diagnosis gave one)
    evidence: Mapping[str, object] | None = None  # the collected evidence, when asked to keep it
    title: str = ""  # the primary hypothesis's


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def robust_shift(table: Table, column: str, at: float) -> float:
    """Median of the 3 minutes after `at` minus the 10 minutes before, in units of the before-MAD."""
    values, times = table.columns[column], table.times
    before = values[(times >= at - SHIFT_BEFORE) & (times < at) & np.isfinite(values)]
    after = values[(times >= at) & (times <= at + SHIFT_AFTER) & np.isfinite(values)]
    if before.size == 0 or after.size == 0:
        return 0.0
    centre = float(np.median(before))
    scale = 1.4826 * float(np.median(np.abs(before - centre)))
    scale = max(scale, 1e-3 * max(abs(centre), 1e-9))
    return (float(np.median(after)) - centre) / scale


def alert_for(day: Day, fault: Fault) -> dict[str, object]:
    """The Alertmanager v4 alert on the entry SLO a minute after the injection (README protocol)."""
    selector = f'{{namespace="{day.namespace}",service="{day.entry}"}}'
    success_fall = -robust_shift(day.front, "SuccessRate(%)", fault.at)
    latency_rise = robust_shift(day.front, "LatencyP90(s)", fault.at)
    if success_fall > latency_rise:
        name, expr = "EntrySuccessRateLow", f"entry_success_rate_percent{selector} < 95"
    else:
        name, expr = "EntryLatencyHigh", f"entry_latency_p90_seconds{selector} > 0.5"
    return {
        "status": "firing",
        "labels": {
            "alertname": name,
            "namespace": day.namespace,
            "service": day.entry,
            "severity": "critical",
        },
        "annotations": {"summary": f"{day.entry} SLO breached"},
        "startsAt": iso(fault.at + ALERT_DELAY),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus/graph?g0.expr={quote(expr)}&g0.tab=1",
    }


# With --graph-from-metrics: the call graph read from the backfilled service-graph counters of the day.
GRAPH_QUERY = (
    'group by (client, server) (traces_service_graph_request_total{graph="{{ $labels.namespace }}"})'
)


MESH_MODES = ("calls", "scraped")
PROTOCOL_RELATED = 1000  # context.max_related_series in the protocol: every pod is seen


def config_for(
    day: Day,
    workdir: Path,
    graph_from_metrics: bool = False,
    max_related: int = PROTOCOL_RELATED,
    mesh: str | None = None,
) -> Path:
    """The protocol's configuration: the call graph as `analyst.dependency_graph_file`, or with
    `graph_from_metrics` as `context.call_graph` (Tempo's preset, scoped to the day's namespace);
    `max_related` related series (the protocol's 1,000: every pod's); with `mesh="calls"`, Istio's
    per-call latency through `context.call_latency` where the day has it (`"scraped"`: only as the related
    series its scrape makes them)."""
    analyst: dict[str, object] = {"max_alternatives": MAX_ALTERNATIVES}
    context: dict[str, object] = {"max_related_series": max_related}
    if mesh == "calls" and day.calls:
        context["call_latency"] = [{"preset": "istio"}]
    if day.graph and graph_from_metrics:
        context["call_graph"] = [{"preset": "tempo", "query": GRAPH_QUERY}]
    elif day.graph:
        graph_file = workdir / f"graph-{day.name}.yml"
        graph_file.write_text(yaml.safe_dump({k: list(v) for k, v in day.graph.items()}))
        analyst["dependency_graph_file"] = str(graph_file)
    path = workdir / f"config-{day.name}.yml"
    path.write_text(yaml.safe_dump({"context": context, "analyst": analyst}))
    return path


def service_of_suspect(suspect: str, services: Sequence[str]) -> str | None:
    """The service of the suspect's `pod` label, else its `service` label, else the longest known service
    name inside it. The pod first: under `--layout kubernetes` a cAdvisor series' `service` label is the
    kubelet's (in the protocol's layout the two agree)."""
    if (match := re.search(r'pod="([^"]+)"', suspect)) and service_of_pod(match.group(1)) in services:
        return service_of_pod(match.group(1))
    if match := re.search(r'service="([^"]+)"', suspect):
        return match.group(1)
    inside = [s for s in services if s in suspect]
    return max(inside, key=len) if inside else None


def ranking_of(diagnosis: Mapping[str, object], services: Sequence[str]) -> tuple[str, ...]:
    primary = diagnosis["primary_hypothesis"]
    alternatives = diagnosis["alternative_hypotheses"]
    assert isinstance(primary, dict) and isinstance(alternatives, list)
    ranked: list[str] = []
    for hypothesis in [primary, *alternatives]:
        service = service_of_suspect(str(hypothesis["suspect"]), services)
        if service is not None and service not in ranked:
            ranked.append(service)
    return tuple(ranked)


def largest_jump_ranking(day: Day, at: float, horizon: float = DIAGNOSE_DELAY) -> tuple[str, ...]:
    """Services by their largest |jump| (max in the `horizon` seconds from `at` vs mean/std of the 10
    minutes before)."""
    scores: dict[str, float] = {}
    for pod, table in day.pods.items():
        service = pod.rsplit("-", 2)[0]
        for column in BASELINE_COLUMNS:
            values, times = table.columns[column], table.times
            before = values[(times >= at - SHIFT_BEFORE) & (times < at) & np.isfinite(values)]
            after = values[(times >= at) & (times <= at + horizon) & np.isfinite(values)]
            if before.size < 2 or after.size == 0:
                continue
            scale = max(float(before.std()), 1e-3 * max(abs(float(before.mean())), 1e-9), 1e-9)
            jump = float(np.max(np.abs(after - before.mean()))) / scale
            scores[service] = max(scores.get(service, 0.0), jump)
    return tuple(sorted(scores, key=lambda s: -scores[s]))


def start_backfilled(
    days: Sequence[Day],
    workdir: Path,
    graph_metrics: bool = False,
    layout: str = "protocol",
    mesh: str | None = None,
    twins: bool = False,
) -> ManagedProcess:
    """Prometheus over the days' samples (and with `twins` each day's `twin` too): backfilled into `workdir`,
    or the blocks a kept workdir holds if they were backfilled the same way (a SystemExit says so if not:
    its figures would be another run's)."""
    backfill = {
        "days": [d.name for d in days],
        "graph_metrics": graph_metrics,
        "layout": layout,
        "mesh": mesh is not None,
        "twins": twins,
    }
    marker = workdir / "backfill.json"
    if (workdir / "data").is_dir():  # a kept workdir: its blocks are already there
        kept = json.loads(marker.read_text()) if marker.exists() else None
        if kept != backfill:
            raise SystemExit(
                f"{workdir} holds data backfilled as {kept or 'unknown'}, not as {backfill}: "
                "use another --keep-workdir"
            )
        return serve_blocks(workdir)
    source = workdir / "nezha.om"
    backfilled = [*days, *(twin(d) for d in days)] if twins else days
    samples = write_openmetrics(backfilled, source, graph_metrics, layout, mesh is not None)
    blocks_from(source, samples, workdir)
    marker.write_text(json.dumps(backfill))
    return serve_blocks(workdir)


def blocks_from(source: Path, samples: int, workdir: Path) -> None:
    """TSDB blocks in `workdir/data` from the OpenMetrics file `source` (`samples` samples) with promtool;
    the file is removed after."""
    print(f"backfilling {samples} samples with promtool ...", file=sys.stderr)
    create_blocks(source, workdir / "data")
    source.unlink()


def serve_blocks(workdir: Path) -> ManagedProcess:
    """Prometheus over the blocks in `workdir/data`, scraping nothing."""
    config = "global:\n  evaluation_interval: 1h\nscrape_configs: []\n"
    # The samples lie in the past, months apart: time-based retention would drop the older blocks.
    return start_prometheus(workdir, config, extra_args=("--storage.tsdb.retention.time=100y",))


def diagnose_cli(
    alert: Mapping[str, object], config: Path, url: str, at: float, workdir: Path
) -> tuple[int, io.StringIO, io.StringIO, float]:
    """`diagnose --format json` of `alert` at `at`, run in this process as a user runs the command: its exit
    code (-1 for a crash, its traceback on the captured stderr: counted as a miss), stdout, stderr and
    seconds."""
    alert_file = workdir / "alert.json"
    alert_file.write_text(json.dumps(alert))
    argv = ["--alert", str(alert_file), "--config.file", str(config), "--prometheus", url]
    argv += ["--at", iso(at), "--format", "json"]
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = run_diagnose(argv)
        except Exception:  # reported by the caller with its traceback, and counted as a miss
            traceback.print_exc()
            code = -1
    return code, out, err, time.perf_counter() - started


def diagnose_fault(
    day: Day,
    fault: Fault,
    url: str,
    config: Path,
    workdir: Path,
    keep_evidence: bool = False,
    after: float = DIAGNOSE_DELAY,
) -> Outcome:
    alert = alert_for(day, fault)
    code, out, err, seconds = diagnose_cli(alert, config, url, fault.at + after, workdir)
    if code != 0:  # counted as a miss, so one bad case neither stops the run nor goes unreported
        print(f"diagnose failed for {fault}: exit {code}: {err.getvalue().strip()[-500:]}", file=sys.stderr)
        return Outcome(
            fault=fault,
            system=day.system,
            ranking=(),
            baseline=largest_jump_ranking(day, fault.at, after),
            seconds=seconds,
            analyst_seconds=0.0,
            category="failed",
            alertname=str(alert["labels"]["alertname"]),  # type: ignore[index]
        )
    report = json.loads(out.getvalue())
    diagnosis = report["diagnosis"]
    return Outcome(
        fault=fault,
        system=day.system,
        ranking=ranking_of(diagnosis, day.services),
        baseline=largest_jump_ranking(day, fault.at, after),
        seconds=seconds,
        analyst_seconds=float(diagnosis["analysis_duration"]),
        category=str(diagnosis["primary_hypothesis"]["category"]),
        alertname=str(alert["labels"]["alertname"]),  # type: ignore[index]
        confidence=float(diagnosis["primary_hypothesis"]["confidence"]),
        evidence=report["evidence"] if keep_evidence else None,
        title=str(diagnosis["primary_hypothesis"]["title"]),
    )


def accuracy(outcomes: Sequence[Outcome], baseline: bool = False) -> dict[str, float]:
    """AS@1/3/5 and Avg@5 (mean of AS@1..5), in %."""
    n = max(len(outcomes), 1)
    hits = {}
    for k in range(1, 6):
        hits[k] = (
            100.0 * sum(o.fault.service in (o.baseline if baseline else o.ranking)[:k] for o in outcomes) / n
        )
    return {**{f"AS@{k}": hits[k] for k in KS}, "Avg@5": sum(hits.values()) / 5}


def _row(label: str, outcomes: Sequence[Outcome]) -> str:
    a, b = accuracy(outcomes), accuracy(outcomes, baseline=True)
    fmt = " / ".join(f"{a[k]:5.1f}" for k in ("AS@1", "AS@3", "AS@5", "Avg@5"))
    fmt_b = " / ".join(f"{b[k]:5.1f}" for k in ("AS@1", "AS@3", "AS@5", "Avg@5"))
    return f"| {label} | {len(outcomes)} | {fmt} | {fmt_b} |"


def report(outcomes: Sequence[Outcome]) -> str:
    lines = [
        "| system / fault type | n | analyst AS@1 / AS@3 / AS@5 / Avg@5 "
        "| largest jump AS@1 / AS@3 / AS@5 / Avg@5 |",
        "|---|---|---|---|",
    ]
    for system in sorted({o.system for o in outcomes}):
        members = [o for o in outcomes if o.system == system]
        lines.append(_row(f"**{system}**", members))
        for kind in sorted({o.fault.kind for o in members}):
            lines.append(_row(f"{system} {kind}", [o for o in members if o.fault.kind == kind]))
    lines.append("")
    for system in sorted({o.system for o in outcomes}):
        members = [o for o in outcomes if o.system == system]
        seconds = np.array([o.seconds for o in members])
        analyst = np.array([o.analyst_seconds for o in members])
        lines.append(
            f"{system}: diagnose (CLI: fetch + evidence + analyst + JSON) per incident median "
            f"{np.median(seconds):.2f} s, max {seconds.max():.2f} s; analyst alone median "
            f"{np.median(analyst):.3f} s, max {analyst.max():.3f} s"
        )
        if line := calibration_line(system, members):
            lines.append(line)
        if line := category_line(system, members):
            lines.append(line)
    return "\n".join(lines)


def named_first(outcome: Outcome) -> bool:
    """The analyst's first service is the faulty one (an AS@1 hit)."""
    return outcome.ranking[:1] == (outcome.fault.service,)


# The category a diagnosis that names the right service should give, per injected resource fault.
EXPECTED_CATEGORY = {
    "cpu_contention": "resource.cpu",
    "cpu_consumed": "resource.cpu",
    "network_delay": "network",
}


def category_line(system: str, outcomes: Sequence[Outcome]) -> str | None:
    """Of the resource faults whose service is named first, how many the category names too."""
    parts = []
    for kind, expected in EXPECTED_CATEGORY.items():
        first = [o for o in outcomes if o.fault.kind == kind and named_first(o)]
        if first:
            right = sum(o.category == expected for o in first)
            parts.append(f"{kind} {right} of {len(first)} as {expected}")
    return f"{system}: category of the faults named first: {'; '.join(parts)}" if parts else None


def calibration_line(system: str, outcomes: Sequence[Outcome]) -> str | None:
    """How well the primary hypothesis's confidence matches how often it names the faulty service."""
    rated = [o for o in outcomes if math.isfinite(o.confidence)]
    return calibration_summary(system, [o.confidence for o in rated], [named_first(o) for o in rated])


def calibration_summary(label: str, confidences: Sequence[float], hits: Sequence[bool]) -> str | None:
    """The primary's mean confidence against how often it was right, its median when right and when
    wrong, and the expected calibration error (None without a rated answer)."""
    if not confidences:
        return None
    right = [c for c, h in zip(confidences, hits, strict=True) if h]
    wrong = [c for c, h in zip(confidences, hits, strict=True) if not h]
    return (
        f"{label}: primary confidence mean {np.mean(confidences):.2f} against a first-place hit rate of "
        f"{np.mean(hits):.2f} (median {np.median(right) if right else math.nan:.2f} when right, "
        f"{np.median(wrong) if wrong else math.nan:.2f} when wrong); expected calibration error "
        f"{expected_calibration_error(confidences, hits):.3f} (10 bins)"
    )


def run(
    data: Path,
    workdir: Path,
    out: Path | None,
    evidence_out: Path | None = None,
    graph_from_metrics: bool = False,
    layout: str = "protocol",
    max_related: int = PROTOCOL_RELATED,
    mesh: str | None = None,
    twins: bool = False,
    after: float = DIAGNOSE_DELAY,
) -> list[Outcome]:
    days = find_days(data)
    prometheus = start_backfilled(days, workdir, graph_from_metrics, layout, mesh, twins)
    outcomes = []
    kept = EvidenceLog(evidence_out)
    try:
        for day in days:
            config = config_for(day, workdir, graph_from_metrics, max_related, mesh)
            for fault in day.faults:
                outcome = diagnose_fault(day, fault, prometheus.url, config, workdir, kept.wanted, after)
                kept.write({**outcome_row(outcome), "services": day.services}, outcome.evidence)
                outcome = dataclasses.replace(outcome, evidence=None)
                outcomes.append(outcome)
                hit = outcome.ranking.index(fault.service) + 1 if fault.service in outcome.ranking else "-"
                print(
                    f"{day.name} {fault.kind:15s} {fault.service:28s} rank {hit!s:2s} "
                    f"top {','.join(outcome.ranking[:3])} [{outcome.category}] {outcome.seconds:.2f}s",
                    file=sys.stderr,
                )
    finally:
        prometheus.stop()
        kept.close()
    if out is not None:
        write_rows(outcomes, out)
    return outcomes


class EvidenceLog:
    """Each diagnosis' evidence as one JSON line in `path` (after what identifies it), when a path is
    given (`--evidence-out`); the runs keep their outcomes without it (a run's evidence is hundreds of MB)."""

    def __init__(self, path: Path | None) -> None:
        self._file = path.open("w") if path is not None else None

    @property
    def wanted(self) -> bool:
        return self._file is not None

    def write(self, record: Mapping[str, object], evidence: object) -> None:
        """`evidence` after `record`, as one line (nothing when no path was given)."""
        if self._file is not None:
            self._file.write(json.dumps({**record, "evidence": evidence}) + "\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def outcome_row(o: Outcome) -> dict[str, object]:
    return {
        "day": o.fault.day,
        "system": o.system,
        "at": o.fault.at,
        "pod": o.fault.pod,
        "service": o.fault.service,
        "kind": o.fault.kind,
        "alertname": o.alertname,
        "ranking": list(o.ranking),
        "baseline": list(o.baseline),
        "category": o.category,
        "confidence": round(o.confidence, 4) if math.isfinite(o.confidence) else None,
        "seconds": round(o.seconds, 3),
    }


def write_rows(outcomes: Iterable[Outcome], path: Path) -> None:
    with path.open("w") as handle:
        for o in outcomes:
            handle.write(json.dumps(outcome_row(o)) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.rca", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="folder of Nezha days (e.g. ../shared/nezha)"
    )
    parser.add_argument("--out", type=output_file, help="write one JSON row per fault here")
    parser.add_argument("--keep-workdir", type=output_dir, help="put Prometheus's data here and keep it")
    parser.add_argument(
        "--evidence-out",
        type=output_file,
        help="also write each fault's evidence here (for bench.rca_replay)",
    )
    parser.add_argument(
        "--graph-from-metrics",
        action="store_true",
        help="backfill the call graph as service-graph counters and read it with context.call_graph "
        "(instead of analyst.dependency_graph_file)",
    )
    parser.add_argument(
        "--layout",
        choices=LAYOUTS,
        default="protocol",
        help="protocol: every column a gauge labelled {namespace, pod, service} (the held-out protocol); "
        "kubernetes: as kube-prometheus-stack exposes them (cAdvisor counters under the kubelet's job and "
        "service, the application's metrics under its own)",
    )
    parser.add_argument(
        "--max-related",
        type=int,
        default=PROTOCOL_RELATED,
        help="context.max_related_series (the protocol's 1000 sees every pod; the receiver's default is 200)",
    )
    parser.add_argument(
        "--mesh",
        nargs="?",
        const="calls",
        choices=MESH_MODES,
        help="also backfill each call's latency as Istio's sidecars report it from both sides "
        "(OnlineBoutique's per-call files); calls (the default): read it with context.call_latency too; "
        "scraped: only as the related series a scrape of the sidecars makes them",
    )
    parser.add_argument(
        "--twin",
        action="store_true",
        help="also backfill each day's system a second time in namespace <namespace>-staging, every series "
        "one fault gap late: same-named workloads in two namespaces, other services moving at each fault",
    )
    parser.add_argument(
        "--diagnose-after",
        type=float,
        default=DIAGNOSE_DELAY,
        help=f"diagnose this many seconds after each injection (the protocol's {DIAGNOSE_DELAY:g}; the alert "
        f"starts {ALERT_DELAY:g} s after it); the baseline looks as far after the injection",
    )
    args = parser.parse_args(argv)
    if args.diagnose_after <= ALERT_DELAY:
        parser.error(f"--diagnose-after must be more than {ALERT_DELAY:g} s (when the alert starts)")
    options = (
        args.out,
        args.evidence_out,
        args.graph_from_metrics,
        args.layout,
        args.max_related,
        args.mesh,
        args.twin,
        args.diagnose_after,
    )
    with parser.input_errors():
        require_binaries("promtool", "prometheus")
        if args.keep_workdir:
            outcomes = run(args.data, args.keep_workdir, *options)
        else:
            with tempfile.TemporaryDirectory(prefix="bench-rca-") as tmp:
                outcomes = run(args.data, Path(tmp), *options)
    print(report(outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
