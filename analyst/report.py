"""Plain-text rendering of a DiagnosisResult (what `alert-analyst diagnose --format text` prints)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterable
from datetime import UTC, datetime

from analyst.diagnosis import LIKELY_CONFIDENCE, DiagnosisResult, Hypothesis
from analyst.evidence import Evidence

WIDTH = 100
_STEP_TITLES = {
    "data_examination": "1. Data examination",
    "pattern_recognition": "2. Pattern recognition",
    "hypothesis_formation": "3. Hypothesis formation",
    "evidence_evaluation": "4. Evidence evaluation",
    "root_cause_determination": "5. Root-cause determination",
    "recommendations": "6. Recommendations",
}


def render_text_report(result: DiagnosisResult, evidence: Evidence | None = None) -> str:
    """A readable report: alert header, summary, primary cause, alternatives, the six steps, actions
    (follow-ups once the alert has resolved), and what the analyst and the evidence collection noted."""
    lines: list[str] = []
    lines += _header(result, evidence)
    lines += _section("Summary", _wrap(result.executive_summary))
    primary = result.primary_hypothesis
    heading = (
        "Most likely cause"
        if primary.confidence > LIKELY_CONFIDENCE
        else "Leading hypothesis (low confidence)"
    )
    lines += _section(heading, _hypothesis_lines(primary))
    if result.alternative_hypotheses:
        alternatives: list[str] = []
        for number, hypothesis in enumerate(result.alternative_hypotheses, start=1):
            alternatives += _hypothesis_lines(hypothesis, prefix=f"{number}. ")
        lines += _section("Alternatives", alternatives)
    steps: list[str] = []
    for step in result.detailed_analysis:
        steps.append(_STEP_TITLES.get(step.step, step.step))
        steps += _wrap(step.findings, indent="   ")
    lines += _section("Analysis", steps)
    resolved = evidence is not None and evidence.alert.status == "resolved"
    lines += _section(
        "Follow-up actions" if resolved else "Immediate actions", _bullets(result.immediate_actions)
    )
    lines += _section("Preventive measures", _bullets(result.preventive_measures))
    lines += _section("Monitoring", _bullets(result.monitoring_recommendations))
    if result.notes:
        lines += _section("Notes", _bullets(result.notes))
    if evidence is not None and evidence.notes:
        lines += _section("Evidence notes", _bullets(evidence.notes))
    return "\n".join(lines).rstrip() + "\n"


def _header(result: DiagnosisResult, evidence: Evidence | None) -> list[str]:
    lines = []
    if evidence is not None:
        alert = evidence.alert
        labels = ", ".join(f"{k}={v}" for k, v in sorted(alert.labels.items()) if k != "alertname")
        lines.append(f"ALERT {alert.alertname} [{alert.status}, {alert.severity}]")
        if labels:
            lines += _wrap(f"labels: {labels}")
        lines.append(f"started: {_time(alert.starts_at)}")
    backend = result.backend + (f" ({result.llm_model_used})" if result.llm_model_used else "")
    lines.append(f"incident: {result.incident_id}   analysed: {_time(result.timestamp)}   by: {backend}")
    lines.append(
        f"confidence: {result.confidence_score:.0%}   took: {result.analysis_duration * 1000:.0f} ms"
        + ("   (cached)" if result.cached else "")
    )
    if result.fallback_reason:
        lines += _wrap(f"fallback: {result.fallback_reason}")
    lines.append("=" * WIDTH)
    return lines


def _hypothesis_lines(hypothesis: Hypothesis, prefix: str = "") -> list[str]:
    lines = [
        f"{prefix}{hypothesis.title}",
        f"{' ' * len(prefix)}category: {hypothesis.category.value}   suspect: {hypothesis.suspect}"
        f"   confidence: {hypothesis.confidence:.0%}",
    ]
    indent = " " * len(prefix)
    lines += [indent + line for line in _bullets(hypothesis.supporting_evidence, mark="+")]
    lines += [indent + line for line in _bullets(hypothesis.contradicting_evidence, mark="-")]
    return lines


def _section(title: str, body: list[str]) -> list[str]:
    return ["", title.upper(), *body] if body else []


def _bullets(items: Iterable[str], mark: str = "*") -> list[str]:
    lines: list[str] = []
    for item in items:
        wrapped = textwrap.wrap(item, WIDTH - 2) or [""]
        lines.append(f"{mark} {wrapped[0]}")
        lines += [f"  {rest}" for rest in wrapped[1:]]
    return lines


def _wrap(text: str, indent: str = "") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent) or [indent]


def _time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
