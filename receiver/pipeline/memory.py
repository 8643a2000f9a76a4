"""Memory in the diagnose stage: recall similar judged incidents as precedent, reuse a confirmed
diagnosis when the evidence signature is the same, and remember each diagnosis for next time."""

from __future__ import annotations

import dataclasses
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlite_utils
import structlog

from analyst.diagnosis import Category, DiagnosisResult, Hypothesis
from analyst.evidence import Evidence, Precedent
from analyst.memory import EvidenceSignature, evidence_signature
from analyst.schema import diagnosis_from_dict
from receiver.models import Incident
from receiver.storage import memory as db_memory
from receiver.storage.database import Store
from receiver.storage.search_index import is_damage

log = structlog.get_logger("receiver.memory")

# Precedents handed to the analyst (most similar first); the LLM prompt trims further to its budget.
MAX_PRECEDENTS = 5
RECALL_LIMIT = 50
# A cause given by a judge is recalled without analysis, even when its series did not move now, only for
# a near twin (no two incidents with different true causes came this close in bench.feedback's stream).
RECALL_SIMILARITY = 0.8
RECALL_CONFIDENCE_SHARE = 0.6  # its confidence: similarity x this (the metrics do not show the cause)


@dataclass(frozen=True)
class Recall:
    """What memory knows about an incident before it is diagnosed."""

    signature: EvidenceSignature
    similar: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precedents(self) -> tuple[Precedent, ...]:
        judged = [row for row in self.similar if row.get("verdict")]
        return tuple(_precedent(row) for row in judged[:MAX_PRECEDENTS])

    def corrected_twin(self, evidence: Evidence) -> dict[str, Any] | None:
        """The closest near twin judged wrong with the true cause given, when that cause did not move now
        (a cause that moved is raised by the analyst instead)."""
        moved = {n.lower() for s in evidence.anomalous for n in (s.series_id, s.metric, s.component) if n}
        for row in self.similar:  # best first
            if row["similarity"] < RECALL_SIMILARITY:
                return None
            cause = row.get("actual_cause")
            if row.get("verdict") in ("wrong", "partly") and cause and cause.lower() not in moved:
                return row
        return None

    def confirmed_twin(self) -> dict[str, Any] | None:
        """The newest past incident with the same signature whose diagnosis was judged correct."""
        twins = [r for r in self.similar if r["same_signature"] and r.get("verdict") == "correct"]
        return max(twins, key=lambda r: r["created_at"]) if twins else None


def _precedent(row: dict[str, Any]) -> Precedent:
    return Precedent(
        incident_id=row["incident_id"],
        similarity=float(row["similarity"]),
        verdict=row["verdict"],
        category=row["category"] or "unknown",
        suspect=row["suspect"] or "",
        actual_category=row.get("actual_category"),
        actual_cause=row.get("actual_cause"),
        note=row.get("note"),
        seen_at=float(row["created_at"]),
    )


def alert_text(evidence: Evidence) -> str:
    alert = evidence.alert
    parts = [alert.alertname, *alert.labels.values(), *alert.annotations.values()]
    return " ".join(str(p) for p in parts)


def diagnosis_text(result: DiagnosisResult) -> str:
    primary = result.primary_hypothesis
    return " ".join([primary.title, primary.category.value, primary.suspect, result.executive_summary])


async def recall(store: Store, evidence: Evidence) -> Recall:
    """Similar past incidents. A damaged full-text index is rebuilt and searched again; if it cannot
    be, recall goes on by evidence signature alone (logged: `memory_text_search_unavailable`)."""
    signature = evidence_signature(evidence)
    similar, exclude = db_memory.similar_incidents, evidence.incident_id
    try:
        text = alert_text(evidence)
        found = await store.read_searching(similar, signature, text, exclude=exclude, limit=RECALL_LIMIT)
        return Recall(signature, found)
    except sqlite3.DatabaseError as exc:
        if not is_damage(exc):
            raise
        log.warning("memory_text_search_unavailable", incident_id=exclude, error=str(exc))
    # no words: the full-text index is not read
    return Recall(signature, await store.read(similar, signature, "", exclude=exclude, limit=RECALL_LIMIT))


def recall_line(similar: list[dict[str, Any]]) -> str | None:
    """ "seen 3 times since 2026-11-02; last confirmed cause: ..." (None for a first occurrence)."""
    if not similar:
        return None
    first = min(float(r["first_seen"] or r["created_at"]) for r in similar)
    day = datetime.fromtimestamp(first, UTC).strftime("%Y-%m-%d")
    times = "once" if len(similar) == 1 else f"{len(similar)} times"
    line = f"seen {times} since {day}"
    confirmed = [r for r in similar if r.get("confirmed_cause")]
    if confirmed:
        newest = max(confirmed, key=lambda r: r["created_at"])
        line += f"; last confirmed cause: {newest['confirmed_cause']} ({newest['incident_id']})"
    return line


async def reuse_confirmed(store: Store, memory: Recall, evidence: Evidence) -> DiagnosisResult | None:
    """Recall instead of analysis: the confirmed diagnosis of a past incident with the same evidence
    signature, or the cause a judge gave for a near twin; None when memory has neither."""
    twin = memory.confirmed_twin()
    if twin is None:
        corrected = memory.corrected_twin(evidence)
        return await _recalled_cause(store, corrected, evidence.incident_id) if corrected else None
    past = await _past_diagnosis(store, twin)
    if past is None:
        return None
    note = f"reused the confirmed diagnosis of {twin['incident_id']} (same evidence signature)"
    return _from_memory(past, evidence.incident_id, note)


async def _past_diagnosis(store: Store, row: dict[str, Any]) -> DiagnosisResult | None:
    diagnosis_id = row.get("diagnosis_id")
    body = await store.run(db_memory.diagnosis_body, int(diagnosis_id)) if diagnosis_id else None
    return diagnosis_from_dict(body) if body is not None else None


def _from_memory(result: DiagnosisResult, incident_id: str, note: str) -> DiagnosisResult:
    """A remembered diagnosis for this incident: backend `memory`, no analysis time, no tokens."""
    return dataclasses.replace(
        result,
        incident_id=incident_id,
        timestamp=time.time(),
        analysis_duration=0.0,
        backend="memory",
        tokens_in=0,
        tokens_out=0,
        cost_usd=0.0,
        cached=True,
        fallback_reason=None,
        notes=(note,),
    )


async def _recalled_cause(store: Store, twin: dict[str, Any], incident_id: str) -> DiagnosisResult | None:
    past = await _past_diagnosis(store, twin)
    if past is None:
        return None
    cause = str(twin["actual_cause"])
    category = twin.get("actual_category") or next(
        (h.category.value for h in past.alternative_hypotheses if h.suspect.lower() == cause.lower()),
        Category.UNKNOWN.value,
    )
    confidence = round(float(twin["similarity"]) * RECALL_CONFIDENCE_SHARE, 3)
    why = f"judged the cause of near-identical incident {twin['incident_id']}"
    primary = Hypothesis(
        title=f"Recalled cause: {cause}",
        category=Category(category),
        suspect=cause,
        confidence=confidence,
        supporting_evidence=(why + (f": {twin['note']}" if twin.get("note") else ""),),
        contradicting_evidence=("its series did not move in the metrics collected now",),
    )
    demoted = replace_confidence(
        past.primary_hypothesis, min(past.primary_hypothesis.confidence, 1 - confidence)
    )
    recalled = dataclasses.replace(
        past,
        primary_hypothesis=primary,
        alternative_hypotheses=(demoted, *(h for h in past.alternative_hypotheses if h.suspect != cause)),
        executive_summary=f"Recalled from feedback: {cause} ({why}); the collected metrics do not show it.",
        confidence_score=confidence,
    )
    similarity = float(twin["similarity"])
    note = f"recalled the cause given for {twin['incident_id']} (similarity {similarity:.2f})"
    return _from_memory(recalled, incident_id, note)


def replace_confidence(hypothesis: Hypothesis, confidence: float) -> Hypothesis:
    return dataclasses.replace(hypothesis, confidence=round(confidence, 3))


def remember(
    db: sqlite_utils.Database,
    incident: Incident,
    evidence: Evidence,
    result: DiagnosisResult,
    signature: EvidenceSignature,
    diagnosis_id: int,
) -> None:
    """Keep the diagnosis' signature and text for recall (inside the write that saves the diagnosis)."""
    primary = result.primary_hypothesis
    db_memory.save_signature(
        db,
        incident.id,
        signature,
        diagnosis_id=diagnosis_id,
        category=primary.category.value,
        suspect=primary.suspect,
        now=time.time(),
    )
    db_memory.index_text(db, incident.id, alert_text(evidence), diagnosis_text(result))
