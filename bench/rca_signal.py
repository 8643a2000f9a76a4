"""How much the injected service's own series say about a fault (an audit of the Nezha days).

Per fault, every pod column of every service is shifted as the entity ranking shifts it: the median of
the 3 minutes after the injection against the hour that ends a minute before it, in units of the robust
spread `analyst.builtin.entities.baseline_summary` uses. Per system and fault type: how many faults show
any own column of the injected service beyond noise (|z| >= 3), its median largest |z|, and where the
injected service stands among all services on each column (percentile rank by |z|, best pod per
service; 0 = always first, 0.5 = chance). A fault whose own series rank at chance cannot be named by
any ranking of these metrics, whatever the method on top.

Also: can a call graph be inferred from co-movement (for TrainTicket, which ships none)? On
OnlineBoutique, which ships its graph: the service pairs whose per-minute changes correlate most over
the day against the true (undirected) edges, per column.

    python -m bench.rca_signal --data ../shared/nezha
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import numpy as np

from analyst.builtin.entities import CHANGE_Z, baseline_summary
from bench.inputs import BenchArgumentParser, existing_dir
from bench.rca_data import POD_COLUMNS, Day, Fault, find_days, service_of_pod

AFTER = 180.0
GAP = 60.0
HISTORY = 3600.0
COMOVEMENT_COLUMNS = ("PodWorkload(Ops)", "NetworkReceiveBytes", "NetworkTransmitBytes", "CpuUsage(m)")


def own_shifts(day: Day, fault: Fault) -> dict[str, dict[str, float]]:
    """column -> service -> largest |z| over the service's pods (median after vs the hour before)."""
    shifts: dict[str, dict[str, float]] = {c: {} for c in POD_COLUMNS}
    for pod, table in day.pods.items():
        t = table.times
        before = (t >= fault.at - GAP - HISTORY) & (t < fault.at - GAP)
        after = (t >= fault.at) & (t <= fault.at + AFTER)
        if not after.any():
            continue
        matrix = np.array([table.columns[c][before] for c in POD_COLUMNS])
        centre, spread = baseline_summary(matrix)
        for row, column in enumerate(POD_COLUMNS):
            recent = table.columns[column][after]
            if not np.isfinite(centre[row]) or not np.isfinite(recent).any():
                continue
            scale = max(float(spread[row]), 0.01 * abs(float(centre[row])), 1e-12)
            z = abs(float(np.nanmedian(recent)) - float(centre[row])) / scale
            service = service_of_pod(pod)
            shifts[column][service] = max(shifts[column].get(service, 0.0), z)
    return shifts


def fault_signal(day: Day, fault: Fault) -> tuple[float, list[float]]:
    """(largest own |z|, percentile rank of the injected service on each column where it has a value)."""
    largest, ranks = 0.0, []
    for by_service in own_shifts(day, fault).values():
        own = by_service.get(fault.service)
        if own is None or len(by_service) < 2:
            continue
        largest = max(largest, own)
        ahead = sum(z > own for z in by_service.values())
        ties = sum(z == own for z in by_service.values()) - 1
        ranks.append((ahead + ties / 2) / (len(by_service) - 1))
    return largest, ranks


def signal_table(days: Sequence[Day]) -> str:
    lines = [
        "| system / fault type | n | own column beyond noise (|z| >= 3) | median largest own |z| "
        "| mean percentile rank of the injected service (0 first, 0.5 chance) |",
        "|---|---|---|---|---|",
    ]
    for day in days:
        by_kind: dict[str, list[tuple[float, list[float]]]] = {}
        for fault in day.faults:
            by_kind.setdefault(fault.kind, []).append(fault_signal(day, fault))
        for kind, rows in sorted(by_kind.items()):
            beyond = sum(largest >= CHANGE_Z for largest, _ in rows)
            median = float(np.median([largest for largest, _ in rows]))
            ranks = [r for _, rs in rows for r in rs]
            mean_rank = float(np.mean(ranks)) if ranks else float("nan")
            lines.append(f"| {day.system} {kind} | {len(rows)} | {beyond} | {median:.1f} | {mean_rank:.2f} |")
    return "\n".join(lines)


def comovement_precision(day: Day, column: str) -> tuple[float, float]:
    """(precision of the |true edges| most correlated service pairs, share of true pairs = chance)."""
    services = sorted(
        {service_of_pod(p) for p in day.pods} & ({*day.graph} | {c for v in day.graph.values() for c in v})
    )
    axis = next(iter(day.pods.values())).times
    changes = {}
    for pod, table in day.pods.items():
        service = service_of_pod(pod)
        if service in services:
            changes[service] = np.diff(np.interp(axis, table.times, np.nan_to_num(table.columns[column])))
    corr = np.corrcoef(np.array([changes[s] for s in services]))
    true = {frozenset((a, b)) for a, callees in day.graph.items() for b in callees if a != b}
    true = {e for e in true if e <= set(services)}
    pairs = sorted(
        ((corr[i, j], frozenset((services[i], services[j]))) for i in range(len(services)) for j in range(i)),
        key=lambda p: -p[0],
    )
    top = pairs[: len(true)]
    return sum(e in true for _, e in top) / len(true), len(true) / len(pairs)


def report(days: Sequence[Day]) -> str:
    lines = [signal_table(days), ""]
    for day in days:
        if not day.graph:
            continue
        lines.append(f"{day.system}: call graph from co-movement (per-minute changes over the day)")
        for column in COMOVEMENT_COLUMNS:
            precision, chance = comovement_precision(day, column)
            lines.append(f"- {column}: precision {precision:.2f} of the top pairs, chance {chance:.2f}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.rca_signal", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data", type=existing_dir, required=True, help="folder of Nezha days (e.g. ../shared/nezha)"
    )
    args = parser.parse_args(argv)
    with parser.input_errors():
        days = find_days(args.data)
    print(report(days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
