"""Feedback on diagnoses: one judgement per (incident, user), every change kept in feedback_history.

The writers run inside `Store.write`'s transaction (raw SQL only); the readers through `Store.run`.
`record_feedback` checks, inside that transaction, that there is a diagnosis to judge, and raises
FeedbackRefused (a ReceiverError) when there is none.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Literal

import sqlite_utils

from receiver.errors import ReceiverError
from receiver.storage.database import fetch_all, fetch_one
from receiver.storage.incidents import latest_diagnosis_row
from receiver.storage.memory import index_notes

Verdict = Literal["correct", "wrong", "partly"]
DIAGNOSIS_ID_DIGITS = 18  # a diagnosis id written in ASCII digits: 18 stay within SQLite's INTEGER

VERDICTS: tuple[Verdict, ...] = ("correct", "wrong", "partly")
JUDGED_DIAGNOSIS_COLUMNS = "id, backend, category, confidence"  # what a judgement keeps of its diagnosis
JUDGED_FIELDS = ("verdict", "actual_category", "actual_cause", "note")
# Confidence bins of the calibration table: [0, 0.2), [0.2, 0.4), ... [0.8, 1].
CALIBRATION_BINS = 5
# A "partly" right diagnosis counts half in precision and calibration.
VERDICT_SCORE = {"correct": 1.0, "partly": 0.5, "wrong": 0.0}


@dataclass(frozen=True)
class Feedback:
    """One user's judgement of an incident's diagnosis: `diagnosis_id` names the one judged (the one the
    judge read); None judges the incident's newest."""

    who: str
    verdict: Verdict
    actual_category: str | None = None
    actual_cause: str | None = None
    note: str | None = None
    source: str = "api"
    diagnosis_id: int | None = None


@dataclass(frozen=True)
class FeedbackOutcome:
    """What `record_feedback` stored: `changes` maps field -> [old, new] (empty when nothing changed)."""

    feedback: dict[str, Any]
    changes: dict[str, list[Any]]
    created: bool
    diagnosis: dict[str, Any]  # the judged diagnosis: JUDGED_DIAGNOSIS_COLUMNS


class FeedbackRefused(ReceiverError):
    """A judgement that cannot be stored: `status` 404 (no such incident), 400 naming `diagnosis_id` (not
    one of the incident's diagnoses) or 409 (not diagnosed yet)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.field = field


def record_feedback(
    db: sqlite_utils.Database, incident_id: str, feedback: Feedback, now: float
) -> FeedbackOutcome:
    """Insert or update `feedback.who`'s judgement of diagnosis `feedback.diagnosis_id` (None: the
    incident's newest). Raises FeedbackRefused, writing nothing, when there is no such diagnosis to judge.

    Sending the same judgement twice changes nothing and adds no history; sending it again without a
    diagnosis id after the incident was re-diagnosed moves it to the new diagnosis (a change of
    `diagnosis_id`), while one pinned to the older diagnosis stays on it.
    """
    diagnosis = judged_diagnosis(db, incident_id, feedback.diagnosis_id)
    diagnosis_id = diagnosis["id"]
    old = fetch_one(db, "SELECT * FROM feedback WHERE incident_id=? AND who=?", (incident_id, feedback.who))
    new = asdict(feedback)
    before = {name: old[name] if old else None for name in JUDGED_FIELDS}
    changes = {name: [before[name], new[name]] for name in JUDGED_FIELDS if before[name] != new[name]}
    if old is not None and old["diagnosis_id"] != diagnosis_id:
        changes["diagnosis_id"] = [old["diagnosis_id"], diagnosis_id]
    if old is None:
        cur = db.conn.execute(
            "INSERT INTO feedback (incident_id, diagnosis_id, who, verdict, actual_category, actual_cause,"
            " note, source, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                incident_id,
                diagnosis_id,
                feedback.who,
                *(new[n] for n in JUDGED_FIELDS),
                feedback.source,
                now,
                now,
            ),
        )
        feedback_id = int(cur.lastrowid or 0)
    elif changes:
        feedback_id = int(old["id"])
        db.conn.execute(
            "UPDATE feedback SET diagnosis_id=?, verdict=?, actual_category=?, actual_cause=?, note=?,"
            " source=?, updated_at=? WHERE id=?",
            (diagnosis_id, *(new[n] for n in JUDGED_FIELDS), feedback.source, now, feedback_id),
        )
    else:
        feedback_id = int(old["id"])
    if changes:
        db.conn.execute(
            "INSERT INTO feedback_history (feedback_id, incident_id, who, at, source, changes)"
            " VALUES (?,?,?,?,?,?)",
            (feedback_id, incident_id, feedback.who, now, feedback.source, json.dumps(changes)),
        )
        index_notes(db, incident_id)
    row = fetch_one(db, "SELECT * FROM feedback WHERE id=?", (feedback_id,))
    assert row is not None
    return FeedbackOutcome(row, changes, old is None, diagnosis)


def judged_diagnosis(db: sqlite_utils.Database, incident_id: str, diagnosis_id: int | None) -> dict[str, Any]:
    """The diagnosis a judgement is about (`diagnosis_id`, or the incident's newest when None); raises
    FeedbackRefused when the incident is not stored, has no such diagnosis, or none yet."""
    if not incident_exists(db, incident_id):
        raise FeedbackRefused(404, f"incident {incident_id} is not stored (unknown, or pruned by retention)")
    if diagnosis_id is None:
        diagnosis = latest_diagnosis(db, incident_id)
        if diagnosis is None:
            raise FeedbackRefused(
                409, f"incident {incident_id} has no diagnosis yet: judge it once it is diagnosed"
            )
        return diagnosis
    diagnosis = incident_diagnosis(db, incident_id, diagnosis_id)
    if diagnosis is None:
        raise FeedbackRefused(
            400,
            f"diagnosis {diagnosis_id} is not stored for incident {incident_id}"
            " (another incident's, unknown, or pruned by retention)",
            "diagnosis_id",
        )
    return diagnosis


def latest_diagnosis(db: sqlite_utils.Database, incident_id: str) -> dict[str, Any] | None:
    """The incident's newest diagnosis (JUDGED_DIAGNOSIS_COLUMNS): the one a judgement is about."""
    return latest_diagnosis_row(db, incident_id, JUDGED_DIAGNOSIS_COLUMNS)


def incident_diagnosis(
    db: sqlite_utils.Database, incident_id: str, diagnosis_id: int
) -> dict[str, Any] | None:
    """Diagnosis `diagnosis_id` (JUDGED_DIAGNOSIS_COLUMNS) if it is one of the incident's."""
    return fetch_one(
        db,
        f"SELECT {JUDGED_DIAGNOSIS_COLUMNS} FROM diagnoses WHERE id=? AND incident_id=?",
        (diagnosis_id, incident_id),
    )


def incident_exists(db: sqlite_utils.Database, incident_id: str) -> bool:
    return fetch_one(db, "SELECT 1 AS one FROM incidents WHERE id=?", (incident_id,)) is not None


def incident_feedback(db: sqlite_utils.Database, incident_id: str) -> dict[str, Any]:
    """Current judgements (one per user, newest first) and the full history of changes."""
    current = fetch_all(
        db,
        "SELECT who, verdict, actual_category, actual_cause, note, source, created_at, updated_at,"
        " diagnosis_id FROM feedback WHERE incident_id=? ORDER BY updated_at DESC, id DESC",
        (incident_id,),
    )
    history = fetch_all(
        db,
        "SELECT who, at, source, changes FROM feedback_history WHERE incident_id=? ORDER BY id",
        (incident_id,),
    )
    for entry in history:
        entry["changes"] = json.loads(entry["changes"])
    return {"verdict": consensus_verdict(current), "current": current, "history": history}


def consensus_verdict(current: list[dict[str, Any]]) -> str | None:
    """The newest judgement decides (users correct each other); None when nobody judged."""
    return str(current[0]["verdict"]) if current else None


def accuracy(db: sqlite_utils.Database) -> dict[str, Any]:
    """Precision by category and by backend, and observed correctness per stated-confidence bin.

    Each judged diagnosis counts once, with its newest judgement.
    """
    rows = fetch_all(
        db,
        "SELECT d.category, d.backend, d.confidence, f.verdict FROM feedback f"
        " JOIN diagnoses d ON d.id = f.diagnosis_id"
        " WHERE f.id = (SELECT g.id FROM feedback g WHERE g.diagnosis_id = f.diagnosis_id"
        " ORDER BY g.updated_at DESC, g.id DESC LIMIT 1)",
    )
    diagnosed = fetch_one(db, "SELECT count(DISTINCT incident_id) AS n FROM diagnoses")
    return {
        "judged": len(rows),
        "diagnosed": int(diagnosed["n"]) if diagnosed else 0,
        "precision": _precision(rows),
        "by_category": _grouped(rows, "category"),
        "by_backend": _grouped(rows, "backend"),
        "calibration": _calibration(rows),
    }


def _precision(rows: list[dict[str, Any]]) -> float | None:
    if not rows:
        return None
    return round(sum(VERDICT_SCORE[r["verdict"]] for r in rows) / len(rows), 4)


def _grouped(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(str(row[key]), []).append(row)
    return [
        {
            key: name,
            "judged": len(members),
            **{verdict: sum(m["verdict"] == verdict for m in members) for verdict in VERDICTS},
            "precision": _precision(members),
        }
        for name, members in sorted(groups.items())
    ]


def _calibration(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    table = []
    for index in range(CALIBRATION_BINS):
        low, high = index / CALIBRATION_BINS, (index + 1) / CALIBRATION_BINS
        members = [
            r
            for r in rows
            if low <= float(r["confidence"] or 0.0) < high
            or (index == CALIBRATION_BINS - 1 and float(r["confidence"] or 0.0) >= high)
        ]
        stated = sum(float(r["confidence"] or 0.0) for r in members) / len(members) if members else None
        table.append(
            {
                "confidence_from": low,
                "confidence_to": high,
                "judged": len(members),
                "mean_stated": round(stated, 4) if stated is not None else None,
                "observed": _precision(members),
            }
        )
    return table


def remember_replay(db: sqlite_utils.Database, signature: str, now: float, keep_seconds: float) -> bool:
    """True the first time a Slack request signature is seen; old signatures are forgotten."""
    db.conn.execute("DELETE FROM slack_replays WHERE seen_at < ?", (now - keep_seconds,))
    cur = db.conn.execute(
        "INSERT OR IGNORE INTO slack_replays (signature, seen_at) VALUES (?, ?)", (signature, now)
    )
    return cur.rowcount == 1
