"""Sweeper benchmark: what picking the next incidents to analyse costs at a large backlog.

    python -m bench.sweep [--waiting 10000,100000] [--groups 1,10,1000,100000] [--limit 1000] [--repeat 5]
                          [--finished 50000]

The pipeline's sweeper refills its queue from SQLite (`receiver.storage.incidents.work_ids`, the alert
groups in turn) every `pipeline.sweep_interval_seconds` while the queue has room. Per backlog
(incidents waiting, spread over `--groups` groups with a few large ones, beside `--finished` finished
incidents) it prints the best of `--repeat` picks of `--limit` incidents, in milliseconds, against two
baselines measured in the same run on the same file: the window the sweeper ran before (every waiting
row numbered within its group) and the oldest-first pick of the pipeline before fair scheduling.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import sqlite_utils

from bench.inputs import BenchArgumentParser
from receiver.logs import configure_logging
from receiver.storage import incidents as db_incidents
from receiver.storage.database import open_database

WINDOW_SQL = (  # the sweeper's pick before: every waiting row numbered within its group
    "SELECT id, group_key FROM (SELECT id, group_key, first_seen,"
    " ROW_NUMBER() OVER (PARTITION BY group_key ORDER BY first_seen, rowid) AS turn"
    f" FROM incidents INDEXED BY idx_incidents_work WHERE {db_incidents.WAITING})"
    " ORDER BY turn, first_seen LIMIT ?"
)
FIFO_SQL = (  # before fair scheduling: the oldest first, whatever their group
    f"SELECT id, group_key FROM incidents WHERE {db_incidents.WAITING} ORDER BY first_seen LIMIT ?"
)
Pick = Callable[[sqlite_utils.Database, int], object]


def backlog(path: Path, waiting: int, groups: int, finished: int, seed: int = 0) -> sqlite_utils.Database:
    """A migrated database with `waiting` incidents to analyse over `groups` alert groups (Pareto-sized)
    after `finished` finished ones, labelled as a real incident is."""
    db = open_database(path)
    rnd = random.Random(seed)
    weights = [rnd.paretovariate(1.0) for _ in range(groups)]
    keys = rnd.choices(range(groups), weights, k=waiting)
    labels = '{"alertname":"InstanceDown","instance":"10.0.0.1:9100","job":"node","severity":"critical"}'
    rows = [(f"done-{n}", "g-old", float(n), "done", 0, labels) for n in range(finished)]
    rows += [(f"w-{n}", f"g-{key}", float(finished + n), "collect", 0, labels) for n, key in enumerate(keys)]
    with db.conn:
        db.conn.executemany(
            "INSERT INTO incidents (id, group_key, first_seen, stage, resolve_pending, labels)"
            " VALUES (?,?,?,?,?,?)",
            rows,
        )
    db.conn.execute("ANALYZE")
    return db


def best_ms(pick: Pick, db: sqlite_utils.Database, limit: int, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        pick(db, limit)
        best = min(best, time.perf_counter() - started)
    return 1000 * best


def query(sql: str) -> Pick:
    return lambda db, limit: db.conn.execute(sql, (limit,)).fetchall()


def counts(text: str) -> list[int]:
    """A comma-separated list of whole numbers (argparse type)."""
    try:
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of whole numbers: {text!r}") from None


def main(argv: list[str] | None = None) -> int:
    parser = BenchArgumentParser(
        prog="python -m bench.sweep",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--waiting", type=counts, default=[10_000, 100_000], help="incidents waiting")
    parser.add_argument("--groups", type=counts, default=[1, 10, 1000, 100_000], help="alert groups")
    parser.add_argument("--limit", type=int, default=1000, help="incidents per pick (the queue's room)")
    parser.add_argument("--repeat", type=int, default=5, help="picks per figure (the best is printed)")
    parser.add_argument("--finished", type=int, default=50_000, help="finished incidents beside them")
    args = parser.parse_args(argv)
    if args.limit < 1 or args.repeat < 1 or min(args.waiting + args.groups) < 1 or args.finished < 0:
        parser.error("--limit, --repeat, --waiting and --groups must be at least 1, --finished at least 0")
    configure_logging("warning", "console")
    picks: dict[str, Pick] = {
        "work_ids": db_incidents.work_ids,
        "window (before)": query(WINDOW_SQL),
        "oldest first": query(FIFO_SQL),
    }
    print(
        f"one pick of {args.limit} incidents, ms (best of {args.repeat}), beside {args.finished:,} finished"
    )
    print(f"{'waiting':>9} {'groups':>8}" + "".join(f"{name:>17}" for name in picks))
    with tempfile.TemporaryDirectory() as tmp:
        for waiting in args.waiting:
            for groups in args.groups:
                db = backlog(Path(tmp) / f"{waiting}-{groups}.sqlite", waiting, groups, args.finished)
                try:
                    figures = [best_ms(pick, db, args.limit, args.repeat) for pick in picks.values()]
                finally:
                    db.conn.close()
                print(f"{waiting:>9,} {groups:>8,}" + "".join(f"{ms:>17.1f}" for ms in figures), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
