"""A disturbed copy of Nezha days: how much `bench.rca`'s figures depend on the files being tidy.

Every pod is renamed with new hash suffixes (as after a redeploy; the fault list follows the renames)
and a share of each pod's minutes is deleted at random (seeded). The per-call latency files (`*_50.csv`,
read by `bench.rca --mesh`) lose the same share of their cells, each call's on its own (a sidecar's
missed scrape), from a second seeded generator, so the pods' draws stay those of earlier copies.
Entry-service files and the call graph are copied as they are.

    python -m bench.rca_disturb --data ../shared/nezha --out /tmp/nezha_disturbed [--missing 0.05] [--seed 7]
    python -m bench.rca --data /tmp/nezha_disturbed
"""

from __future__ import annotations

import csv
import json
import random
import shutil
from collections.abc import Sequence
from pathlib import Path

from bench.inputs import BenchArgumentParser, existing_dir, output_dir
from bench.rca_data import day_folders

POD_SUFFIX = "_metric.csv"
CALLS_SUFFIX = "_50.csv"
TIME_COLUMNS = ("time", "timestamp")


def renamed(pod: str, rnd: random.Random) -> str:
    """`cartservice-579f59597d-wc2lz` -> `cartservice-<random hex>-<random letters>` (same lengths)."""
    service, replica_set, instance = pod.rsplit("-", 2)
    hexes = "".join(rnd.choice("0123456789abcdef") for _ in replica_set)
    letters = "".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in instance)
    return f"{service}-{hexes}-{letters}"


def disturb_day(
    day: Path, out: Path, missing: float, rnd: random.Random, cells: random.Random | None = None
) -> dict[str, str]:
    """Write `day` disturbed under `out`; returns the pod renames. `cells` blanks the per-call files'
    cells (copied as they are without it)."""
    metric = out / day.name / "metric"
    metric.mkdir(parents=True, exist_ok=True)
    renames: dict[str, str] = {}
    for path in sorted((day / "metric").glob("*.csv")):
        if path.name.endswith(CALLS_SUFFIX) and cells is not None:
            _blank_call_cells(path, metric / path.name, missing, cells)
            continue
        if not path.name.endswith(POD_SUFFIX):
            shutil.copy(path, metric / path.name)
            continue
        pod = path.name.removesuffix(POD_SUFFIX)
        renames[pod] = renamed(pod, rnd)
        with path.open(newline="") as handle:
            header, *rows = list(csv.reader(handle))
        with (metric / f"{renames[pod]}{POD_SUFFIX}").open("w", newline="") as handle:
            csv.writer(handle).writerows([header, *(r for r in rows if rnd.random() >= missing)])
    for path in day.glob("*-fault_list.json"):
        faults = json.loads(path.read_text())
        for hour in faults.values():
            for fault in hour:
                fault["inject_pod"] = renames.get(fault["inject_pod"], fault["inject_pod"])
        (out / day.name / path.name).write_text(json.dumps(faults, indent=1))
    return renames


def _blank_call_cells(source: Path, target: Path, missing: float, cells: random.Random) -> None:
    """Copy a per-call latency file with each call's cell blanked at the rate `missing` (not its times)."""
    with source.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    calls = [i for i, name in enumerate(header) if name not in TIME_COLUMNS]
    for row in rows:
        for i in calls:
            if i < len(row) and cells.random() < missing:
                row[i] = ""
    with target.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])


def main(argv: Sequence[str] | None = None) -> None:
    parser = BenchArgumentParser(prog="python -m bench.rca_disturb", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=existing_dir, required=True, help="folder of Nezha days")
    parser.add_argument("--out", type=output_dir, required=True)
    parser.add_argument(
        "--missing", type=float, default=0.05, help="share of each pod's minutes (and per-call cells) deleted"
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    rnd, cells = random.Random(args.seed), random.Random(args.seed + 1)
    with parser.input_errors():
        days = day_folders(args.data)
    for day in days:
        renames = disturb_day(day, args.out, args.missing, rnd, cells)
        print(f"{day.name}: {len(renames)} pods renamed, {args.missing:.0%} of their minutes deleted")


if __name__ == "__main__":
    main()
