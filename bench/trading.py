"""Trading incidents under messy conditions, through the product's own `diagnose` path.

`bench.trading_data` draws incidents (volatility, funding, volume spike, execution delay, DB pool, CPU,
memory leak, deploy) in a messy deployment; their series are backfilled into a real Prometheus with
promtool, and per incident an Alertmanager alert on its symptom goes through `alert-analyst diagnose
--alert FILE --config.file CFG --prometheus URL --at <startsAt + 60 s> --format json` (the CLI function
itself, in-process) with the defaults a user starts from (no dependency graph). Scored per kind: the
cause's component at rank 1 and within 3, the cause's metric named first, the category; beside a
largest-jump baseline.

    python -m bench.trading [--seed S] [--incidents N] [--out rows.jsonl] [--evidence-out FILE]
                            [--keep-workdir DIR] [--fires-after MINUTES] [--for-state]
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import numpy as np
import yaml

from bench import jumps
from bench.inputs import BenchArgumentParser, output_dir, output_file, require_binaries
from bench.rca import EvidenceLog, blocks_from, calibration_summary, diagnose_cli, iso, serve_blocks
from bench.trading_data import KINDS, Incident, Series, generate, series_key
from demo.processes import ManagedProcess

DIAGNOSE_AFTER = 60.0  # the diagnosis runs this long after the alert's startsAt
DEFAULT_INCIDENTS = 80  # ten of each kind
FOR_STATE = "ALERTS_FOR_STATE"  # when an alert became active, as Prometheus records it
BASELINE_RECENT = 300.0  # the baseline's "last minutes": up to the diagnosis time
COMPONENT_KEYS = ("service", "pod", "container", "job", "instance")  # labels that can name a component
NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*=~?\s*"((?:[^"\\]|\\.)*)"')
# The configuration a user starts from: every default (no dependency graph: a trading stack rarely has
# traces); only the Prometheus URL, given on the command line as `--prometheus`.
USER_CONFIG: dict[str, object] = {}


@dataclass(frozen=True)
class Outcome:
    incident: Incident
    ranking: tuple[str, ...]  # components, the primary's suspect first
    first_metric: str | None  # the primary suspect's metric
    category: str
    baseline: tuple[str, ...]
    baseline_metric: str | None
    seconds: float
    analyst_seconds: float
    hypotheses: tuple[Mapping[str, object], ...] = ()  # suspect, category, confidence and its evidence
    cause_evidence: tuple[Mapping[str, object], ...] = ()  # what the evidence says of the cause's series
    evidence: Mapping[str, object] | None = None  # the collected evidence, when asked to keep it

    @property
    def component_first(self) -> bool:
        return self.ranking[:1] == (self.incident.truth.component,)

    @property
    def component_top3(self) -> bool:
        return self.incident.truth.component in self.ranking[:3]

    @property
    def metric_first(self) -> bool:
        return self.first_metric in self.incident.truth.metrics

    @property
    def category_right(self) -> bool:
        return self.category in self.incident.truth.categories

    @property
    def baseline_first(self) -> bool:
        return self.baseline[:1] == (self.incident.truth.component,)

    @property
    def baseline_top3(self) -> bool:
        return self.incident.truth.component in self.baseline[:3]

    @property
    def baseline_metric_first(self) -> bool:
        return self.baseline_metric in self.incident.truth.metrics


# --- Prometheus ----------------------------------------------------------------------------------------


def write_openmetrics(incidents: Sequence[Incident], path: Path, for_state: bool = False) -> int:
    """Every scraped sample as one OpenMetrics file, a family block per metric name; the sample count.
    With `for_state`, also the `ALERTS_FOR_STATE` series each alert's rule would write (`for_state_lines`)."""
    families: dict[str, list[str]] = {}
    for incident in incidents:
        for series in incident.series:
            labels = ",".join(f'{k}="{v}"' for k, v in series.labels)
            lines = families.setdefault(series.name, [])
            for t, v in zip(series.times, series.values, strict=True):
                if math.isfinite(v):
                    lines.append(f"{series.name}{{{labels}}} {float(v)!r} {float(t):.3f}")
        if for_state:
            families.setdefault(FOR_STATE, []).extend(for_state_lines(incident))
    with path.open("w") as out:
        for name, lines in families.items():
            if name.endswith("_total"):
                out.write(f"# TYPE {name.removesuffix('_total')} counter\n")
            else:
                out.write(f"# TYPE {name} unknown\n")
            out.write("\n".join(lines) + "\n")
        out.write("# EOF\n")
    return sum(len(lines) for lines in families.values())


def for_state_lines(incident: Incident) -> list[str]:
    """What Prometheus writes for the incident's alert at every evaluation (one a scrape interval) while it
    is active, from when its condition began to the end of the data: `ALERTS_FOR_STATE` with the alert's
    labels, its value that time."""
    selector = series_key(FOR_STATE, incident.alert.labels)
    end = max(float(series.times[-1]) for series in incident.series)
    times = np.arange(incident.active_since, end + incident.step / 2, incident.step)
    return [f"{selector} {incident.active_since!r} {t:.3f}" for t in times]


def start_backfilled(incidents: Sequence[Incident], workdir: Path, for_state: bool = False) -> ManagedProcess:
    """Prometheus over the incidents' samples, backfilled with promtool into `workdir`."""
    source = workdir / "trading.om"
    blocks_from(source, write_openmetrics(incidents, source, for_state), workdir)
    return serve_blocks(workdir)


def alert_for(incident: Incident) -> dict[str, object]:
    """The Alertmanager v4 alert the incident's rule sends (labels from its `by`, generatorURL its expr)."""
    return {
        "status": "firing",
        "labels": dict(incident.alert.labels),
        "annotations": {"summary": f"{incident.alert.name} in {incident.namespace}"},
        "startsAt": iso(incident.starts_at),
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": f"http://prometheus/graph?g0.expr={quote(incident.alert.expr)}&g0.tab=1",
    }


# --- Reading a diagnosis ---------------------------------------------------------------------------------


def metric_of(suspect: str, names: Iterable[str]) -> str | None:
    """The first identifier in `suspect` that is one of the incident's metric names (`rate(x[2m])` -> x;
    a derived histogram mean `x:mean` -> `x_sum`)."""
    known = set(names)
    for token in NAME.findall(suspect):
        base = token.split(":", 1)[0]
        for name in (token, base, f"{base}_sum"):
            if name in known:
                return name
    return None


def series_of(suspect: str, incident: Incident) -> Series | None:
    """The incident's series a suspect selector names: its metric, labels agreeing with the suspect's
    (most agreeing first)."""
    pairs = dict(PAIR.findall(suspect))
    metric = metric_of(suspect.split("{", 1)[0], {s.name for s in incident.series})
    if metric is None or not pairs:
        return None
    fitting = [
        s
        for s in incident.series
        if s.name == metric and all(dict(s.labels).get(k, v) == v for k, v in pairs.items())
    ]
    return max(fitting, key=lambda s: sum(dict(s.labels).get(k) == v for k, v in pairs.items()), default=None)


def component_of(suspect: str, incident: Incident) -> str | None:
    """The component exposing the suspect's series (`series_of`); else the one component a label of the
    suspect names; else the longest label value or component name inside it that one component has."""
    if (series := series_of(suspect, incident)) is not None:
        return series.component
    pairs = dict(PAIR.findall(suspect))
    owners = label_owners(incident.series)
    for key in COMPONENT_KEYS:
        if key in pairs and len(owners.get((key, pairs[key]), set())) == 1:
            return next(iter(owners[(key, pairs[key])]))
    for value in sorted({v for (_, v) in owners}, key=len, reverse=True):
        if value and value in suspect and len(owners_of_value(owners, value)) == 1:
            return next(iter(owners_of_value(owners, value)))
    names = sorted({s.component for s in incident.series}, key=len, reverse=True)
    return next((name for name in names if name in suspect), None)


def label_owners(series: Iterable[Series]) -> dict[tuple[str, str], set[str]]:
    owners: dict[tuple[str, str], set[str]] = {}
    for s in series:
        for k, v in s.labels:
            if k in COMPONENT_KEYS:
                owners.setdefault((k, v), set()).add(s.component)
    return owners


def owners_of_value(owners: Mapping[tuple[str, str], set[str]], value: str) -> set[str]:
    return {c for (_, v), components in owners.items() if v == value for c in components}


def ranking_of(diagnosis: Mapping[str, object], incident: Incident) -> tuple[str, ...]:
    """Components of the primary hypothesis's suspect, then of the alternatives', each once."""
    ranked: list[str] = []
    for hypothesis in hypotheses_of(diagnosis):
        component = component_of(str(hypothesis["suspect"]), incident)
        if component is not None and component not in ranked:
            ranked.append(component)
    return tuple(ranked)


def hypotheses_of(diagnosis: Mapping[str, object]) -> list[Mapping[str, Any]]:
    primary, alternatives = diagnosis["primary_hypothesis"], diagnosis["alternative_hypotheses"]
    assert isinstance(primary, dict) and isinstance(alternatives, list)
    return [primary, *alternatives]


def _rounded(value: object, digits: int = 2) -> object:
    return round(value, digits) if isinstance(value, float) and math.isfinite(value) else value


def seen(series: Mapping[str, object], incident: Incident) -> dict[str, object]:
    """What the evidence says of one series: anomalous, z, onset after the cause's, lead on the alert."""
    onset = series.get("onset")
    return {
        "series": series.get("series_id"),
        "anomalous": series.get("anomalous"),
        "z": _rounded(series.get("z_score")),
        "score": _rounded(series.get("score")),
        "onset_after_cause_s": _rounded(onset - incident.onset, 0) if isinstance(onset, float) else None,
        "lag_s": _rounded(series.get("lag_seconds"), 0),
        "direction": series.get("direction"),
    }


def explained(
    report: Mapping[str, object], incident: Incident
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """Each hypothesis (suspect, category, confidence, its series in the evidence) and the evidence of
    the cause's series."""
    diagnosis, evidence = report["diagnosis"], report["evidence"]
    assert isinstance(diagnosis, dict) and isinstance(evidence, dict)
    by_id = {str(s["series_id"]): s for s in evidence.get("series", [])}
    hypotheses = []
    for h in hypotheses_of(diagnosis):
        row: dict[str, object] = {
            "suspect": h["suspect"],
            "component": component_of(str(h["suspect"]), incident),
            "category": h["category"],
            "confidence": _rounded(h["confidence"], 3),
            "supporting": [str(line) for line in h.get("supporting_evidence") or []][:3],
        }
        if (found := by_id.get(str(h["suspect"]))) is not None:
            row |= seen(found, incident)
        hypotheses.append(row)
    cause = [
        seen(s, incident)
        for s in by_id.values()
        if (found := series_of(str(s["series_id"]), incident)) is not None and found.role == "cause"
    ]
    return hypotheses, cause


# --- The baseline ----------------------------------------------------------------------------------------


def per_second(series: Series) -> tuple[np.ndarray, np.ndarray]:
    """`jumps.per_second` of the series' scrapes."""
    kept = np.isfinite(series.values)
    return jumps.per_second(series.times[kept], series.values[kept], series.counter)


def robust_jump(series: Series, at: float) -> float:
    """`jumps.robust_jump` of the last BASELINE_RECENT seconds before `at` against all earlier."""
    return jumps.robust_jump(*per_second(series), at, BASELINE_RECENT)


def alert_metrics(incident: Incident) -> set[str]:
    """The metric names the alert's expression reads (a histogram's `_bucket` brings its family)."""
    names = set(NAME.findall(incident.alert.expr))
    for name in list(names):
        if name.endswith("_bucket"):
            names |= {name.replace("_bucket", "_sum"), name.replace("_bucket", "_count")}
    return names


def largest_jump(incident: Incident) -> tuple[tuple[str, ...], str | None]:
    """Components by their largest robust jump at diagnosis time (the alert's own series left out), and
    the series with the largest."""
    at = incident.starts_at + DIAGNOSE_AFTER
    own = alert_metrics(incident)
    jumps = sorted(
        ((robust_jump(s, at), s) for s in incident.series if s.name not in own), key=lambda p: -p[0]
    )
    ranking = tuple(dict.fromkeys(s.component for _, s in jumps))
    return ranking, (jumps[0][1].name if jumps else None)


# --- One incident, the run -------------------------------------------------------------------------------


def diagnose(
    incident: Incident, url: str, config: Path, workdir: Path, keep_evidence: bool = False
) -> Outcome:
    alert = alert_for(incident)
    code, out, err, seconds = diagnose_cli(alert, config, url, incident.starts_at + DIAGNOSE_AFTER, workdir)
    baseline, baseline_metric = largest_jump(incident)
    if code != 0:
        print(
            f"diagnose failed for {incident.namespace}: exit {code}: {err.getvalue()[-500:]}", file=sys.stderr
        )
        return Outcome(incident, (), None, "failed", baseline, baseline_metric, seconds, 0.0)
    report = json.loads(out.getvalue())
    diagnosis = report["diagnosis"]
    hypotheses, cause = explained(report, incident)
    return Outcome(
        incident=incident,
        ranking=ranking_of(diagnosis, incident),
        first_metric=metric_of(
            str(diagnosis["primary_hypothesis"]["suspect"]), {s.name for s in incident.series}
        ),
        category=str(diagnosis["primary_hypothesis"]["category"]),
        baseline=baseline,
        baseline_metric=baseline_metric,
        seconds=seconds,
        analyst_seconds=float(diagnosis["analysis_duration"]),
        hypotheses=tuple(hypotheses),
        cause_evidence=tuple(cause),
        evidence=report["evidence"] if keep_evidence else None,
    )


def run(
    seed: int,
    count: int,
    workdir: Path,
    out: Path | None,
    evidence_out: Path | None = None,
    *,
    fires_after: float = 0.0,
    for_state: bool = False,
) -> list[Outcome]:
    incidents = generate(seed, count, fires_after)
    config = workdir / "alert-analyst.yml"
    config.write_text(yaml.safe_dump(USER_CONFIG))
    prometheus = start_backfilled(incidents, workdir, for_state)
    outcomes = []
    kept = EvidenceLog(evidence_out)
    try:
        for incident in incidents:
            outcome = diagnose(incident, prometheus.url, config, workdir, kept.wanted)
            kept.write({"namespace": incident.namespace}, outcome.evidence)
            outcome = dataclasses.replace(outcome, evidence=None)
            outcomes.append(outcome)
            truth = incident.truth.component
            rank = outcome.ranking.index(truth) + 1 if truth in outcome.ranking else "-"
            print(
                f"{incident.namespace} {incident.kind:15s} rank {rank!s:2s} "
                f"top {','.join(outcome.ranking[:3])} "
                f"metric {outcome.first_metric} [{outcome.category}] {outcome.seconds:.2f}s",
                file=sys.stderr,
            )
    finally:
        prometheus.stop()
        kept.close()
    if out is not None:
        write_rows(outcomes, out)
    return outcomes


def outcome_row(o: Outcome) -> dict[str, object]:
    i = o.incident
    return {
        "namespace": i.namespace,
        "kind": i.kind,
        "step": i.step,
        "lead_s": round(i.starts_at - i.onset),
        "variant": dict(i.variant),
        "alert": {"name": i.alert.name, "expr": i.alert.expr},
        "truth": {
            "component": i.truth.component,
            "metrics": list(i.truth.metrics),
            "categories": [str(c) for c in i.truth.categories],
        },
        "movers": list(i.movers),
        "ranking": list(o.ranking),
        "primary_metric": o.first_metric,
        "category": o.category,
        "component_first": o.component_first,
        "component_top3": o.component_top3,
        "metric_first": o.metric_first,
        "category_right": o.category_right,
        "baseline": list(o.baseline),
        "baseline_metric": o.baseline_metric,
        "seconds": round(o.seconds, 3),
        "analyst_seconds": round(o.analyst_seconds, 4),
        "hypotheses": list(o.hypotheses),
        "cause_evidence": list(o.cause_evidence),
    }


def write_rows(outcomes: Iterable[Outcome], path: Path) -> None:
    with path.open("w") as handle:
        for o in outcomes:
            handle.write(json.dumps(outcome_row(o)) + "\n")


# --- The table -------------------------------------------------------------------------------------------

COLUMNS = (
    ("component@1", lambda o: o.component_first),
    ("component@3", lambda o: o.component_top3),
    ("metric first", lambda o: o.metric_first),
    ("category", lambda o: o.category_right),
    ("baseline component@1", lambda o: o.baseline_first),
    ("baseline component@3", lambda o: o.baseline_top3),
    ("baseline metric first", lambda o: o.baseline_metric_first),
)


def counts(outcomes: Sequence[Outcome]) -> dict[str, int]:
    """How many of `outcomes` each column's test holds for."""
    return {name: sum(bool(test(o)) for o in outcomes) for name, test in COLUMNS}


def report(outcomes: Sequence[Outcome]) -> str:
    header = "| kind | n | " + " | ".join(name for name, _ in COLUMNS) + " |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 2)]
    kinds = [k for k in KINDS if any(o.incident.kind == k for o in outcomes)]
    for label, members in [
        *((k, [o for o in outcomes if o.incident.kind == k]) for k in kinds),
        ("**all**", list(outcomes)),
    ]:
        row = counts(members)
        lines.append(
            f"| {label} | {len(members)} | " + " | ".join(str(row[name]) for name, _ in COLUMNS) + " |"
        )
    seconds = np.array([o.seconds for o in outcomes]) if outcomes else np.zeros(1)
    lines.append("")
    lines.append(
        f"diagnosis time (CLI: fetch + evidence + analyst + JSON): median {np.median(seconds):.2f} s, "
        f"max {seconds.max():.2f} s over {len(outcomes)} incidents"
    )
    if line := calibration_line(outcomes):
        lines.append(line)
    return "\n".join(lines)


def calibration_line(outcomes: Sequence[Outcome]) -> str | None:
    """The primary's confidence against how often it names the right component."""
    rated = [(c, o.component_first) for o in outcomes if (c := _primary_confidence(o)) is not None]
    return calibration_summary("right component first", [c for c, _ in rated], [h for _, h in rated])


def _primary_confidence(outcome: Outcome) -> float | None:
    confidence = outcome.hypotheses[0].get("confidence") if outcome.hypotheses else None
    return float(confidence) if isinstance(confidence, int | float) and math.isfinite(confidence) else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.trading", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0, help="the generator's seed (default 0)")
    parser.add_argument(
        "--incidents",
        type=int,
        default=DEFAULT_INCIDENTS,
        help=f"how many, kinds in turn (default {DEFAULT_INCIDENTS})",
    )
    parser.add_argument("--out", type=output_file, help="write one JSON row per incident here")
    parser.add_argument(
        "--evidence-out",
        type=output_file,
        help="also write each incident's evidence here (one JSON line each)",
    )
    parser.add_argument("--keep-workdir", type=output_dir, help="put Prometheus's data here and keep it")
    parser.add_argument(
        "--fires-after",
        type=float,
        default=0.0,
        metavar="MINUTES",
        help="every alert fires this long after its condition began, as under a rule's `for:` (default 0)",
    )
    parser.add_argument(
        "--for-state",
        action="store_true",
        help="also backfill the ALERTS_FOR_STATE series each alert's rule writes (when it became active)",
    )
    args = parser.parse_args(argv)
    if args.incidents < 1:
        parser.error("--incidents must be at least 1")
    if args.fires_after < 0:
        parser.error("--fires-after must be 0 or more minutes")
    conditions = {"fires_after": args.fires_after * 60.0, "for_state": args.for_state}
    started = time.perf_counter()
    with parser.input_errors():
        require_binaries("promtool", "prometheus")
        if args.keep_workdir:
            outcomes = run(
                args.seed, args.incidents, args.keep_workdir, args.out, args.evidence_out, **conditions
            )
        else:
            with tempfile.TemporaryDirectory(prefix="bench-trading-") as tmp:
                outcomes = run(
                    args.seed, args.incidents, Path(tmp), args.out, args.evidence_out, **conditions
                )
    print(report(outcomes))
    print(f"total run time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
