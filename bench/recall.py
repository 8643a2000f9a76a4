"""Memory lookup benchmark: what one recall of similar past incidents costs over a long history, with the
full-text words that most remembered incidents share left out (the receiver's way) against every word
searched (the way before), in the same run and on the same database.

    python -m bench.recall [--incidents 20000] [--lookups 200] [--seed 1]

The history is `--incidents` remembered incidents (signature, alert text, diagnosis text) made from the
corpus payloads of tests/data/webhooks, every alert labelled with its own number as `bench.soak
--distinct-labels` does; an alert of the corpus recurs in proportion to its share of the corpus (one
payload holds 31 of its 45 alerts, so most of the history shares that alert's words). Each lookup is a new
alert of the same mix through `receiver.storage.memory.similar_incidents`, as the pipeline's recall makes
it. Printed: how long filling the history took (each incident indexed as the pipeline indexes it), lookup
time median and p95 each way, how often the two ways found the same top ten, and the mean signature
similarity of what each found.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import sqlite_utils

from analyst.memory import EvidenceSignature, alert_identity, similarity
from bench.inputs import BenchArgumentParser
from receiver.storage import memory
from receiver.storage.migrations import migrate

CORPUS = Path(__file__).resolve().parents[1] / "tests" / "data" / "webhooks"
CATEGORIES = ("resource.cpu", "resource.memory", "dependency.service", "network", "capacity")
CHUNK = 1000  # incidents written per transaction


@dataclass(frozen=True)
class Alert:
    alertname: str
    labels: dict[str, str]
    annotations: dict[str, str]


def corpus_alerts() -> list[Alert]:
    """Every alert of the corpus payloads, once per occurrence in a payload."""
    alerts = []
    for path in sorted(CORPUS.glob("*.json")):
        for alert in json.loads(path.read_text()).get("alerts", []):
            labels = {str(k): str(v) for k, v in alert.get("labels", {}).items()}
            annotations = {str(k): str(v) for k, v in alert.get("annotations", {}).items()}
            alerts.append(Alert(labels.get("alertname", ""), labels, annotations))
    return alerts


def remembered(alert: Alert, number: int, rng: random.Random) -> tuple[EvidenceSignature, str, str, str]:
    """(signature, alert text, diagnosis text, category) of occurrence `number` of `alert`."""
    labels = {**alert.labels, "bench_incident": str(number)}
    category = rng.choice(CATEGORIES)
    suspect = labels.get("service") or labels.get("instance") or labels.get("job") or alert.alertname
    moved = tuple(
        sorted({f"{suspect}|{rng.choice(('latency', 'errors', 'cpu', 'memory'))}|up" for _ in "ab"})
    )
    signature = EvidenceSignature(alert.alertname, alert_identity(alert.alertname, labels), moved)
    text = " ".join([alert.alertname, *labels.values(), *alert.annotations.values()])
    diagnosis = f"{category} on {suspect} {category} {suspect}: {alert.annotations.get('summary', '')}"
    return signature, text, diagnosis, category


def fill(db: sqlite_utils.Database, alerts: list[Alert], incidents: int, rng: random.Random) -> None:
    for start in range(0, incidents, CHUNK):
        with db.conn:
            for n in range(start, min(start + CHUNK, incidents)):
                signature, text, diagnosis, category = remembered(rng.choice(alerts), n, rng)
                incident_id = f"inc-{n}"
                db.conn.execute(
                    "INSERT INTO incidents (id, alertname, stage, first_seen) VALUES (?, ?, 'done', ?)",
                    (incident_id, signature.alertname, float(n)),
                )
                memory.save_signature(
                    db, incident_id, signature, diagnosis_id=None, category=category, suspect="", now=float(n)
                )
                memory.index_text(db, incident_id, text, diagnosis)


def every_word() -> AbstractContextManager[object]:
    """The search before: every word of the alert's text, however many incidents share it."""
    return mock.patch.object(memory, "telling_words", lambda db, words, newest: words)


def timed_lookups(
    db: sqlite_utils.Database, lookups: list[tuple[EvidenceSignature, str]]
) -> tuple[list[float], list[list[str]], list[float]]:
    """Each lookup's seconds, the incidents it found, and their mean signature similarity to it."""
    seconds, found, alike = [], [], []
    for signature, text in lookups:
        started = time.perf_counter()
        rows = memory.similar_incidents(db, signature, text, exclude="new")
        seconds.append(time.perf_counter() - started)
        found.append([row["incident_id"] for row in rows])
        pasts = [EvidenceSignature(r["alertname"] or "", r["alert_key"], tuple(r["moved"])) for r in rows]
        if pasts:
            alike.append(statistics.mean(similarity(signature, past) for past in pasts))
    return seconds, found, alike


def _mean(values: list[float]) -> str:
    return f"{statistics.mean(values):.3f}" if values else "(nothing found)"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(name: str, seconds: list[float]) -> str:
    return (
        f"  {name:<28} median {statistics.median(seconds) * 1000:7.2f} ms,"
        f" p95 {percentile(seconds, 0.95) * 1000:7.2f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = BenchArgumentParser(
        prog="python -m bench.recall",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--incidents", type=int, default=20_000, help="remembered incidents")
    parser.add_argument("--lookups", type=int, default=200, help="recalls timed each way")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if args.incidents < 1 or args.lookups < 1:
        parser.error("--incidents and --lookups must be at least 1")
    rng = random.Random(args.seed)
    alerts = corpus_alerts()
    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite_utils.Database(Path(tmp) / "recall.db")
        migrate(db)
        started = time.perf_counter()
        fill(db, alerts, args.incidents, rng)
        print(
            f"{args.incidents} remembered incidents of {len(alerts)} corpus alerts"
            f" ({len({a.alertname for a in alerts})} alertnames), filled in"
            f" {time.perf_counter() - started:.1f} s; {args.lookups} lookups each way"
        )
        lookups = []
        for n in range(args.lookups):
            signature, text, _, _ = remembered(rng.choice(alerts), args.incidents + n, rng)
            lookups.append((signature, text))
        runs: list[tuple[str, Callable[[], AbstractContextManager[object]]]] = [
            ("common words left out", nullcontext),
            ("every word (before)", every_word),
        ]
        results = {}
        for name, context in runs:
            with context():
                timed_lookups(db, lookups[: min(10, len(lookups))])  # warm the page cache
                results[name] = timed_lookups(db, lookups)
            print(report(name, results[name][0]), flush=True)
        (_, now, now_alike), (_, before, before_alike) = results.values()
        print(
            f"  what they found: the same top ten in {sum(a == b for a, b in zip(now, before, strict=True))}"
            f" of {len(now)} lookups; signature similarity of the top ten, mean"
            f" {_mean(now_alike)} against {_mean(before_alike)}"
            " (equals are ordered newest first; the common words' bm25 scores had ordered them before)"
        )
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
