"""Re-rank captured Nezha evidence with the entity ranking alone: seconds, no Prometheus.

`python -m bench.rca --data ../shared/nezha --evidence-out FILE` keeps, per fault, the evidence the
`diagnose` path collected; this ranks each with `analyst.builtin.entities.rank_entities` (components
mapped to services as the benchmark maps suspects) and prints the benchmark's table. For developing
the ranking: its figures can differ from the full benchmark's by a fault or two, whose ranking also
holds the series hypotheses.

    python -m bench.rca_replay FILE
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from analyst.builtin.entities import rank_entities
from analyst.evidence import evidence_from_dict
from bench.inputs import BenchArgumentParser, existing_file
from bench.rca import Outcome, report, service_of_suspect
from bench.rca_data import Fault


def replay_row(row: Mapping[str, object]) -> Outcome:
    """One captured fault, ranked again by the current entity ranking."""
    evidence = evidence_from_dict(row["evidence"])  # type: ignore[arg-type]
    services = [str(s) for s in row["services"]]  # type: ignore[attr-defined]
    started = time.perf_counter()
    ranking: list[str] = []
    for entity in rank_entities(evidence):
        service = service_of_suspect(entity.name, services) or entity.name
        if service not in ranking:
            ranking.append(service)
    fault = Fault(str(row["day"]), float(row["at"]), str(row["pod"]), str(row["service"]), str(row["kind"]))  # type: ignore[arg-type]
    return Outcome(
        fault=fault,
        system=str(row["system"]),
        ranking=tuple(ranking),
        baseline=tuple(str(s) for s in row["baseline"]),  # type: ignore[attr-defined]
        seconds=0.0,
        analyst_seconds=time.perf_counter() - started,
        category="",
        alertname=str(row["alertname"]),
    )


def read_rows(path: Path) -> Iterator[dict[str, object]]:
    with path.open() as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def main(argv: Sequence[str] | None = None) -> int:
    parser = BenchArgumentParser(prog="python -m bench.rca_replay", description=__doc__.splitlines()[0])
    parser.add_argument(
        "evidence", type=existing_file, help="file written by `python -m bench.rca --evidence-out`"
    )
    args = parser.parse_args(argv)
    print(report([replay_row(row) for row in read_rows(args.evidence)]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
