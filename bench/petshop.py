"""PetShop root-cause benchmark for the built-in analyst.

Each incident becomes an `Evidence` (one series per node for the alert metric, the call graph as
topology, PetSite as the alert series) and goes through the same `diagnose_evidence` the product runs.
The ranking scored is the suspects of the primary and alternative hypotheses, in order.

    python -m bench.petshop --data ../shared/petshop --split train [--out rows.jsonl]
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy.stats import norm

from analyst.builtin import PlaybookError, diagnose_evidence, expected_calibration_error, load_playbooks
from analyst.builtin.playbooks import Playbooks
from analyst.evidence import AlertInfo, Evidence, SeriesEvidence
from bench.inputs import (
    BenchArgumentParser,
    BenchInputError,
    existing_dir,
    existing_file,
    output_file,
    require_files,
)

ALERT_NODE = "PetSite"
STATISTIC = "Average"
BUCKET_SECONDS = 300.0
MIN_BASELINE_POINTS = 10
Z_THRESHOLD = 5.0
MAX_ALTERNATIVES = 9
# Latency rises and availability falls when a component fails.
BAD_DIRECTION = {"latency": 1.0, "availability": -1.0}
SCALE_FLOOR = {"latency": 0.001, "availability": 0.05}
INCIDENT_FILES = ("metrics.csv", "target.json")


@dataclass(frozen=True)
class Metrics:
    """One metrics.csv: timestamps and a column per (node, metric, statistic)."""

    timestamps: np.ndarray
    columns: Mapping[tuple[str, str, str], np.ndarray]

    def series(self, node: str, metric: str) -> np.ndarray | None:
        return self.columns.get((node, metric, STATISTIC))

    def nodes(self, metric: str) -> list[str]:
        return [node for node, m, stat in self.columns if m == metric and stat == STATISTIC]


@dataclass(frozen=True)
class Incident:
    scenario: str
    issue: str
    metric: str
    alert_time: float
    metrics: Metrics


@dataclass(frozen=True)
class Baseline:
    """Normal level (median) and spread (Gaussian-consistent MAD) of one node's series."""

    median: float
    scale: float


def read_metrics(path: Path) -> Metrics:
    """Parse the 4-header-line PetShop CSV (node, metric, statistic, then the index label)."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    nodes, metrics, stats = rows[0][1:], rows[1][1:], rows[2][1:]
    data = np.array(
        [[float(cell) if cell else math.nan for cell in row] for row in rows[4:] if row], dtype=float
    )
    if data.size == 0:
        data = np.empty((0, len(nodes) + 1))
    columns = {
        (n, m, s): data[:, i + 1] for i, (n, m, s) in enumerate(zip(nodes, metrics, stats, strict=True))
    }
    return Metrics(timestamps=data[:, 0], columns=columns)


def read_call_graph(path: Path) -> dict[str, tuple[str, ...]]:
    """graph.csv adjacency: a 1.0 at row r, column c means r calls c."""
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    header = rows[0][1:]
    graph: dict[str, tuple[str, ...]] = {}
    for row in rows[1:]:
        if row:
            graph[row[0]] = tuple(
                callee for callee, cell in zip(header, row[1:], strict=True) if float(cell) > 0
            )
    return graph


def read_alert(issue_dir: Path) -> tuple[str, float]:
    """The alert (metric, time) from target.json; root_cause and metadata are never read here."""
    target = json.loads((issue_dir / "target.json").read_text())["target"]
    if target["node"] != ALERT_NODE or target["agg"] != STATISTIC:
        raise ValueError(f"{issue_dir}: unexpected target {target}")
    return str(target["metric"]), float(target["timestamp"])


def read_root_cause(issue_dir: Path) -> str:
    """Ground truth, for scoring only."""
    return str(json.loads((issue_dir / "target.json").read_text())["root_cause"]["node"])


def fit_baseline(values: np.ndarray, metric: str) -> Baseline | None:
    """Median and a noise scale: the larger of MADn and the Gaussian-consistent mean absolute deviation.

    The mean absolute deviation keeps mostly-constant series (availability stuck at 100 with rare dips)
    from getting a zero scale; the floor keeps constant series from flagging rounding noise.
    """
    clean = values[~np.isnan(values)]
    if len(clean) < MIN_BASELINE_POINTS:
        return None
    median = float(np.median(clean))
    deviations = np.abs(clean - median)
    scale = max(
        float(np.median(deviations)) / 0.67449,
        float(np.mean(deviations)) * 1.2533,
        SCALE_FLOOR[metric],
        0.01 * abs(median) if metric == "latency" else 0.0,
    )
    return Baseline(median=median, scale=scale)


def normal_data_for(scenario_dir: Path) -> tuple[list[Metrics], str]:
    """The scenario's noissue metrics or, when missing, every sibling scenario's noissue (pooled)."""
    own = scenario_dir / "noissue" / "metrics.csv"
    if own.exists():
        return [read_metrics(own)], "own noissue"
    pooled = sorted(p for p in scenario_dir.parent.glob("*/noissue/metrics.csv"))
    names = ", ".join(p.parent.parent.name for p in pooled) or "none found, so nothing can be flagged"
    return [read_metrics(p) for p in pooled], f"pooled noissue of {names}"


def baselines_for(normal: Sequence[Metrics], nodes: Iterable[str], metric: str) -> dict[str, Baseline]:
    found = {}
    for node in nodes:
        parts = [s for m in normal if (s := m.series(node, metric)) is not None]
        if parts and (baseline := fit_baseline(np.concatenate(parts), metric)) is not None:
            found[node] = baseline
    return found


def detect_series(
    node: str,
    values: np.ndarray,
    timestamps: np.ndarray,
    alert_time: float,
    metric: str,
    baseline: Baseline | None,
    alert_values: np.ndarray,
) -> SeriesEvidence:
    """Robust-z detection of one node: a bucket from the alert's onwards is anomalous when it deviates in
    the failing direction both from normal operation and from the incident's own pre-alert level."""
    sign = BAD_DIRECTION[metric]
    valid = ~np.isnan(values)
    base = SeriesEvidence(
        series_id=f'{metric}{{node="{node}"}}',
        metric=metric,
        labels={"node": node, "statistic": STATISTIC},
        role="alert" if node == ALERT_NODE else "related",
        component=node,
        points=int(valid.sum()),
    )
    if not valid.any():
        return replace(base, available=False, unavailable_reason="no data in the incident window")
    if baseline is None:
        return base
    pre = values[(timestamps + BUCKET_SECONDS <= alert_time) & valid]
    pre_level = float(np.mean(pre)) if len(pre) else baseline.median
    after = timestamps + BUCKET_SECONDS > alert_time
    z_normal = sign * (values - baseline.median) / baseline.scale
    z_change = sign * (values - pre_level) / baseline.scale
    flagged = after & valid & (z_normal >= Z_THRESHOLD) & (z_change >= Z_THRESHOLD)
    if not (after & valid).any():
        return base
    worst = int(np.nanargmax(np.where(after & valid, z_normal, -np.inf)))
    z = float(z_normal[worst])
    anomalous = bool(flagged.any())
    return replace(
        base,
        anomalous=anomalous,
        anomaly_type="level_shift" if anomalous else None,
        onset=float(timestamps[int(np.argmax(flagged))]) if anomalous else None,
        direction=("up" if sign > 0 else "down") if anomalous else None,
        magnitude=float(values[worst] - baseline.median),
        baseline=baseline.median,
        current=float(values[worst]),
        z_score=sign * z,
        p_value=float(2 * norm.sf(abs(z))),
        score=max(z, 0.0),
        correlation=pearson(values, alert_values),
    )


def pearson(a: np.ndarray, b: np.ndarray) -> float | None:
    mask = ~np.isnan(a) & ~np.isnan(b)
    if mask.sum() < 3 or np.std(a[mask]) == 0 or np.std(b[mask]) == 0:
        return None
    return float(np.corrcoef(a[mask], b[mask])[0, 1])


def incident_evidence(
    incident: Incident, graph: Mapping[str, tuple[str, ...]], baselines: Mapping[str, Baseline]
) -> Evidence:
    """The incident as the product would see it: one series per node, PetSite's series alerting."""
    metrics = incident.metrics
    alert_values = metrics.series(ALERT_NODE, incident.metric)
    if alert_values is None:
        raise ValueError(f"{incident.scenario}/{incident.issue}: no {ALERT_NODE} {incident.metric} column")
    series = [
        detect_series(
            node,
            values,
            metrics.timestamps,
            incident.alert_time,
            incident.metric,
            baselines.get(node),
            alert_values,
        )
        for node in metrics.nodes(incident.metric)
        if (values := metrics.series(node, incident.metric)) is not None
    ]
    alert_series = next(s for s in series if s.component == ALERT_NODE)
    if alert_series.onset is not None:
        series = [
            replace(s, lag_seconds=alert_series.onset - s.onset) if s.onset is not None else s for s in series
        ]
    return Evidence(
        incident_id=f"{incident.scenario}/{incident.issue}",
        alert=AlertInfo(
            alertname=f"{ALERT_NODE}{incident.metric.capitalize()}SLO",
            status="firing",
            labels={"service": ALERT_NODE, "metric": incident.metric},
            annotations={},
            starts_at=incident.alert_time,
            source="detector",
        ),
        series=tuple(series),
        window_start=float(metrics.timestamps[0]),
        window_end=float(metrics.timestamps[-1] + BUCKET_SECONDS),
        alert_series_id=alert_series.series_id,
        topology=graph,
    )


@dataclass(frozen=True)
class Row:
    scenario: str
    issue: str
    metric: str
    ranking: tuple[str, ...]
    confidence: float
    truth: str
    seconds: float

    def hit(self, k: int) -> bool:
        return self.truth in self.ranking[:k]


def run(data: Path, split: str, playbooks: Playbooks) -> tuple[list[Row], dict[str, str]]:
    """Diagnose every incident of `split`; returns the rows and, per scenario, the normal data used."""
    rows: list[Row] = []
    normal_used: dict[str, str] = {}
    for scenario_dir in sorted(p for p in data.iterdir() if (p / "graph.csv").exists()):
        issues = sorted((scenario_dir / split).glob("issue_*"), key=lambda p: int(p.name.split("_")[1]))
        if not issues:
            continue
        for issue_dir in issues:
            require_files(issue_dir, INCIDENT_FILES, "a PetShop incident")
        graph = read_call_graph(scenario_dir / "graph.csv")
        normal, normal_used[scenario_dir.name] = normal_data_for(scenario_dir)
        rows += [diagnose_incident(issue_dir, graph, normal, playbooks) for issue_dir in issues]
    return rows, normal_used


def diagnose_incident(
    issue_dir: Path, graph: Mapping[str, tuple[str, ...]], normal: Sequence[Metrics], playbooks: Playbooks
) -> Row:
    """One incident through the product's diagnosis; the ranking is the hypotheses' suspects in order."""
    metric, alert_time = read_alert(issue_dir)
    incident = Incident(
        issue_dir.parent.parent.name,
        issue_dir.name,
        metric,
        alert_time,
        read_metrics(issue_dir / "metrics.csv"),
    )
    evidence = incident_evidence(
        incident, graph, baselines_for(normal, incident.metrics.nodes(metric), metric)
    )
    started = time.perf_counter()
    result = diagnose_evidence(evidence, playbooks, now=alert_time, max_alternatives=MAX_ALTERNATIVES)
    seconds = time.perf_counter() - started
    hypotheses = (result.primary_hypothesis, *result.alternative_hypotheses)
    ranking = tuple(dict.fromkeys(h.suspect for h in hypotheses if h.suspect in graph))
    return Row(
        incident.scenario,
        incident.issue,
        metric,
        ranking,
        result.confidence_score,
        read_root_cause(issue_dir),
        seconds,
    )


def family_of(scenario: str) -> str:
    return scenario.rstrip("0123456789")


def summarize(rows: Sequence[Row], normal_used: Mapping[str, str], split: str) -> str:
    """Top-1 / top-3 recall per scenario family x alert metric, per temporal run, overall; ECE; latency."""
    lines = [f"PetShop split={split}: {len(rows)} incidents"]
    lines.append(f"{'cell':36s} {'n':>3s} {'empty':>6s} {'top-1':>6s} {'top-3':>6s}")

    def cell(name: str, members: Sequence[Row]) -> None:
        if not members:
            return
        n = len(members)
        empty = sum(1 for r in members if not r.ranking) / n
        top1 = sum(r.hit(1) for r in members) / n
        top3 = sum(r.hit(3) for r in members) / n
        lines.append(f"{name:36s} {n:3d} {empty:6.2f} {top1:6.3f} {top3:6.3f}")

    families = sorted({family_of(r.scenario) for r in rows})
    for family in families:
        for metric in ("latency", "availability"):
            cell(
                f"{family} {metric}",
                [r for r in rows if family_of(r.scenario) == family and r.metric == metric],
            )
    for scenario in sorted({r.scenario for r in rows if family_of(r.scenario) != r.scenario}):
        for metric in ("latency", "availability"):
            cell(f"  {scenario} {metric}", [r for r in rows if r.scenario == scenario and r.metric == metric])
    cell("overall", rows)
    ece = expected_calibration_error([r.confidence for r in rows], [r.hit(1) for r in rows])
    mean_conf = sum(r.confidence for r in rows) / len(rows) if rows else 0.0
    ms = sorted(r.seconds * 1000 for r in rows)
    lines.append(
        f"confidence: mean {mean_conf:.3f}, expected calibration error (10 bins, vs top-1 hit) {ece:.3f}"
    )
    if ms:
        lines.append(f"diagnose_evidence per incident: median {ms[len(ms) // 2]:.2f} ms, max {ms[-1]:.2f} ms")
    for scenario, used in sorted(normal_used.items()):
        lines.append(f"normal data for {scenario}: {used}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.petshop", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", required=True, type=existing_dir, help="directory with <scenario>/graph.csv ..."
    )
    parser.add_argument("--split", required=True, help="split folder name, e.g. train or test")
    parser.add_argument("--out", type=output_file, help="write one JSON line per incident here")
    parser.add_argument("--playbooks", type=existing_file, help="playbooks YAML (as analyst.playbooks_file)")
    args = parser.parse_args(argv)
    with parser.input_errors():
        try:
            playbooks = load_playbooks(str(args.playbooks) if args.playbooks else None)
        except PlaybookError as exc:
            raise BenchInputError(str(exc)) from exc
        rows, normal_used = run(args.data, args.split, playbooks)
    if not rows:
        print(f"no incidents found under {args.data}/<scenario>/{args.split}/issue_*", file=sys.stderr)
        return 1
    print(summarize(rows, normal_used, args.split))
    if args.out:
        with args.out.open("w") as handle:
            for r in rows:
                record = {
                    "scenario": r.scenario,
                    "issue": r.issue,
                    "metric": r.metric,
                    "ranking": list(r.ranking),
                    "confidence": r.confidence,
                }
                handle.write(json.dumps(record) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
