"""Compact, redacted, budgeted evidence summary for the LLM (ranking, statistics, timings; never raw points).

Token estimate: one token per 3 UTF-8 bytes. Tokenizers give ~4 bytes/token for English and ~3 for
JSON full of numbers and ids, so the estimate errs high and the budget holds for real tokenizers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from analyst.builtin.entities import rank_entities
from analyst.diagnosis import DiagnosisResult, Hypothesis
from analyst.evidence import Evidence, SeriesEvidence
from analyst.llm.redact import clean_mapping, clean_untrusted, redact_secrets
from analyst.llm.templates import SYSTEM_PROMPT, VERIFY_SYSTEM_PROMPT, focus_for_anomaly_type

BYTES_PER_TOKEN = 3
MAX_ALERT_LABELS = 16
MAX_ANNOTATIONS = 4
MAX_SERIES_LABELS = 4
MAX_UNAVAILABLE_LISTED = 5
MAX_TOPOLOGY_EDGES = 20
MAX_NOTES = 5
MAX_ENTITIES = 8
MAX_PRECEDENTS = 3  # judged similar past incidents in the prompt (most similar first)
OMITTED_LINE_RESERVE = 24
SERIES_RESERVE = 200  # shrink the fixed part until at least a few series fit
RESOLVED_INSTRUCTION = (
    "The alert has resolved (alert_ended_s_into_window): say when and after how long, and whether the "
    "suspect series are back near their baseline only where the series show it (one still off its "
    "baseline has not recovered); immediate_actions are then follow-ups (confirm the recovery holds, "
    "confirm or refute the leading cause with its named evidence, open a post-incident review if it "
    "recurs), not mitigations; preventive measures and monitoring stay."
)


@dataclass(frozen=True)
class Prompt:
    """A ready-to-send prompt and what the budget let into it."""

    system: str
    user: str
    estimated_tokens: int
    series_included: int
    series_omitted: int
    anomaly_type: str | None
    evidence_block: str


def estimate_tokens(text: str) -> int:
    """Conservative token count: ceil(UTF-8 bytes / 3)."""
    return math.ceil(len(text.encode("utf-8")) / BYTES_PER_TOKEN)


def build_diagnosis_prompt(
    evidence: Evidence,
    builtin: DiagnosisResult,
    *,
    budget: int,
    text_limit: int,
    extra_secrets: Iterable[str] = (),
) -> Prompt:
    """System + user prompt within `budget` tokens; the lowest-ranked series are dropped first."""
    secrets = tuple(extra_secrets)
    ranked = rank_series_for_prompt(evidence)
    anomaly_type = _leading_anomaly_type(ranked)
    head = f"Focus: {focus_for_anomaly_type(anomaly_type)}\n"
    if evidence.alert.status == "resolved":
        head += RESOLVED_INSTRUCTION + "\n"
    head += "<evidence>\n"
    tail = "</evidence>\nDiagnose this incident in six steps. Reply with the JSON object only."
    for limit, max_labels in ((text_limit, MAX_ALERT_LABELS), (text_limit // 2, 8), (32, 4)):
        fixed_lines = _fixed_lines(evidence, builtin, limit, max_labels, secrets)
        fixed_cost = estimate_tokens(SYSTEM_PROMPT + "\n" + head + tail + "".join(fixed_lines))
        if fixed_cost + OMITTED_LINE_RESERVE + SERIES_RESERVE <= budget:
            break
    remaining = budget - fixed_cost - OMITTED_LINE_RESERVE
    series_lines: list[str] = []
    for series in ranked:
        line = _line(_series_row(series, evidence, limit, secrets))
        cost = estimate_tokens(line)
        if cost > remaining:
            break
        series_lines.append(line)
        remaining -= cost
    while True:
        omitted = len(ranked) - len(series_lines)
        lines = fixed_lines[:3] + series_lines + fixed_lines[3:]
        if omitted:
            lines.append(_line({"omitted_series": omitted, "why": "token budget; lowest ranked dropped"}))
        block = redact_secrets("".join(lines), secrets)
        if not series_lines or estimate_tokens(SYSTEM_PROMPT + "\n" + head + block + tail) <= budget:
            break
        series_lines.pop()  # the final redaction pass made the text longer
    user = head + block + tail
    return Prompt(
        system=SYSTEM_PROMPT,
        user=user,
        estimated_tokens=estimate_tokens(SYSTEM_PROMPT + "\n" + user),
        series_included=len(series_lines),
        series_omitted=omitted,
        anomaly_type=anomaly_type,
        evidence_block=block,
    )


def build_verification_prompt(diagnosis_prompt: Prompt, hypotheses: list[Hypothesis]) -> tuple[str, str]:
    """(system, user) asking the model to re-score each hypothesis against the same evidence."""
    proposed = [
        {
            "index": i,
            "title": h.title,
            "category": h.category.value,
            "suspect": h.suspect,
            "confidence": h.confidence,
        }
        for i, h in enumerate(hypotheses)
    ]
    user = (
        "<evidence>\n"
        + diagnosis_prompt.evidence_block
        + "</evidence>\nProposed hypotheses:\n"
        + redact_secrets(_escape_fence(json.dumps(proposed, ensure_ascii=False)))
        + "\nReply with the JSON object only."
    )
    return VERIFY_SYSTEM_PROMPT, user


def rank_series_for_prompt(evidence: Evidence) -> list[SeriesEvidence]:
    """Alert series first, then anomalous by score, then other available series by |correlation|."""
    available = [s for s in evidence.series if s.available]

    def key(s: SeriesEvidence) -> tuple[int, int, float]:
        is_alert = s.series_id == evidence.alert_series_id or s.role == "alert"
        strength = s.score if s.anomalous else abs(s.correlation or 0.0)
        return (0 if is_alert else 1, 0 if s.anomalous else 1, -strength)

    return sorted(available, key=key)


def _fixed_lines(
    evidence: Evidence, builtin: DiagnosisResult, limit: int, max_labels: int, secrets: tuple[str, ...]
) -> list[str]:
    alert = evidence.alert
    alert_info: dict[str, Any] = {
        "alert": clean_untrusted(alert.alertname, limit, secrets),
        "status": alert.status,
        "severity": clean_untrusted(alert.severity, 32, secrets),
        "source": alert.source,
        "window_s": round(evidence.window_end - evidence.window_start),
        "alert_started_s_into_window": round(alert.starts_at - evidence.window_start),
        **_ended(evidence),
        "labels": clean_mapping(dict(alert.labels), limit, max_labels, secrets),
        "annotations": clean_mapping(dict(alert.annotations), limit * 2, MAX_ANNOTATIONS, secrets),
    }
    if alert.expr:
        alert_info["expr"] = clean_untrusted(alert.expr, limit * 2, secrets)
    if alert.active_since is not None:  # when its condition began: the rule's `for:` before it fired
        alert_info["condition_held_s_before_firing"] = round(alert.starts_at - alert.active_since)
    builtin_info: dict[str, Any] = {
        "builtin": [_hypothesis_summary(h, limit, secrets) for h in _hypotheses(builtin)],
        "builtin_confidence": round(builtin.confidence_score, 2),
    }
    entities = _entity_ranking(evidence, limit, secrets)
    if entities:
        builtin_info["components_by_change"] = entities
    lines = [_line(alert_info), _line(builtin_info), _line({"series_columns": SERIES_COLUMNS})]
    unavailable = [s for s in evidence.series if not s.available]
    if unavailable:
        lines.append(
            _line(
                {
                    "unavailable_series": len(unavailable),
                    "examples": [
                        clean_untrusted(s.series_id, limit // 2, secrets)
                        for s in unavailable[:MAX_UNAVAILABLE_LISTED]
                    ],
                }
            )
        )
    edges = [
        f"{clean_untrusted(caller, 48, secrets)}→{clean_untrusted(callee, 48, secrets)}"
        for caller, callees in sorted(evidence.topology.items())
        for callee in callees
    ]
    if edges:
        lines.append(_line({"calls": edges[:MAX_TOPOLOGY_EDGES]}))
    if evidence.notes:
        lines.append(
            _line({"notes": [clean_untrusted(n, limit, secrets) for n in evidence.notes[:MAX_NOTES]]})
        )
    if evidence.precedents:
        lines.append(_line({"precedents": _precedents(evidence, limit, secrets)}))
    return lines


def _ended(evidence: Evidence) -> dict[str, int]:
    """When a resolved alert ended, on the same clock as its start (nothing for a firing one)."""
    ends_at = evidence.alert.ends_at
    if evidence.alert.status != "resolved" or ends_at is None or not math.isfinite(ends_at):
        return {}
    return {"alert_ended_s_into_window": round(ends_at - evidence.window_start)}


def _precedents(evidence: Evidence, limit: int, secrets: tuple[str, ...]) -> list[dict[str, Any]]:
    """Judged similar incidents: what was diagnosed, the verdict, and the cause the judge gave."""
    rows = []
    for p in sorted(evidence.precedents, key=lambda p: -p.similarity)[:MAX_PRECEDENTS]:
        row: dict[str, Any] = {
            "similarity": round(p.similarity, 2),
            "diagnosed": f"{p.category} {clean_untrusted(p.suspect, limit // 2, secrets)}",
            "verdict": p.verdict,
        }
        cause, category = p.confirmed_cause
        if cause or category:
            row["confirmed"] = f"{category or ''} {clean_untrusted(cause or '', limit // 2, secrets)}".strip()
        if p.note:
            row["note"] = clean_untrusted(p.note, limit // 2, secrets)
        rows.append(row)
    return rows


SERIES_COLUMNS = ("id", "type", "dir", "mag", "base", "cur", "z", "p", "corr", "lag_s", "onset_s", "extra")


def _series_row(s: SeriesEvidence, evidence: Evidence, limit: int, secrets: tuple[str, ...]) -> list[Any]:
    """One series as a JSON array in SERIES_COLUMNS order (about half the bytes of a keyed object)."""
    row: list[Any] = [
        clean_untrusted(s.series_id, limit, secrets),
        s.anomaly_type or ("anomaly" if s.anomalous else None),
        s.direction,
        _round(s.magnitude),
        _round(s.baseline),
        _round(s.current),
        _round(s.z_score),
        _round(s.p_value),
        _round(s.correlation),
        round(s.lag_seconds) if s.lag_seconds is not None and math.isfinite(s.lag_seconds) else None,
        round(s.onset - evidence.alert.starts_at) if s.onset is not None else None,
    ]
    extra: dict[str, Any] = {}
    if s.role != "related":
        extra["role"] = s.role
    if s.recovered is not None and math.isfinite(s.recovered):
        extra["recovered_s"] = round(s.recovered - evidence.alert.starts_at)
    if s.component and s.component not in s.series_id:
        extra["component"] = clean_untrusted(s.component, 48, secrets)
    if s.metric and s.metric not in s.series_id:
        extra["metric"] = clean_untrusted(s.metric, limit // 2, secrets)
    extra_labels = {k: v for k, v in s.labels.items() if v not in s.series_id}
    if extra_labels:
        extra["labels"] = clean_mapping(extra_labels, limit // 3, MAX_SERIES_LABELS, secrets)
    if extra:
        row.append(extra)
    return row


def _entity_ranking(evidence: Evidence, limit: int, secrets: tuple[str, ...]) -> list[dict[str, Any]]:
    """The built-in component ranking: strongest change against own history, weighted by metric kind."""
    rows = []
    for entity in rank_entities(evidence)[:MAX_ENTITIES]:
        top = entity.strongest
        row: dict[str, Any] = {
            "component": clean_untrusted(entity.name, 48, secrets),
            "score": _round(entity.score),
        }
        if top is not None:
            row["strongest"] = clean_untrusted(top.series.series_id, limit, secrets)
            row["kind"] = top.kind.value
            if top.tied_by:  # it carries the alert's own label values (the book, the desk): counted double
                row["carries_alert_labels"] = clean_mapping(
                    dict(top.tied_by), limit // 3, MAX_SERIES_LABELS, secrets
                )
        if entity.onset is not None:
            row["onset_s"] = round(entity.onset - evidence.alert.starts_at)
        if entity.explained_by:
            row["explained_by"] = [clean_untrusted(c, 48, secrets) for c in entity.explained_by]
        rows.append(row)
    return rows


def _hypotheses(result: DiagnosisResult) -> list[Hypothesis]:
    return [result.primary_hypothesis, *result.alternative_hypotheses]


def _hypothesis_summary(h: Hypothesis, limit: int, secrets: tuple[str, ...]) -> dict[str, Any]:
    return {
        "title": clean_untrusted(h.title, limit, secrets),
        "category": h.category.value,
        "suspect": clean_untrusted(h.suspect, limit // 2, secrets),
        "confidence": round(h.confidence, 2),
        "support": [clean_untrusted(e, limit // 2, secrets) for e in h.supporting_evidence[:3]],
    }


def _leading_anomaly_type(ranked: list[SeriesEvidence]) -> str | None:
    return next((s.anomaly_type for s in ranked if s.anomalous and s.anomaly_type), None)


def _round(value: float | None) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.3g}")


def _line(data: dict[str, Any] | list[Any]) -> str:
    return _escape_fence(json.dumps(data, ensure_ascii=False, separators=(",", ":"))) + "\n"


def _escape_fence(text: str) -> str:
    """JSON-escape angle brackets so untrusted text cannot close the <evidence> fence."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e")
