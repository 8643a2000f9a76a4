"""The built-in diagnosis: ranked candidate causes -> hypotheses -> DiagnosisResult (pure, no I/O)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

from analyst.builtin import entity_causes as entity_narrative
from analyst.builtin import narrative
from analyst.builtin.calibration import (
    NO_EVIDENCE_CONFIDENCE,
    SELF_CAUSE_CEILING,
    confidences_from_scores,
)
from analyst.builtin.categories import SYMPTOM_FAMILIES, MetricFamily
from analyst.builtin.entities import RankedEntity, SeriesShift, rank_entities
from analyst.builtin.entity_causes import EntityCause, deployment_series, entity_cause, redeployed
from analyst.builtin.playbooks import Playbook, Playbooks, follow_up_actions
from analyst.builtin.precedent import weigh_entity_precedents, weigh_precedents
from analyst.builtin.ranking import RankedCause, alert_component, find_alert_series, rank_candidate_causes
from analyst.diagnosis import LIKELY_CONFIDENCE, AnalysisStep, Category, DiagnosisResult, Hypothesis
from analyst.evidence import Evidence, SeriesEvidence

DEFAULT_MAX_ALTERNATIVES = 4
# With series of at least this many components, the components are ranked (analyst.builtin.entities);
# with fewer, there is no "which component" question and the series themselves are ranked.
MIN_COMPARED_ENTITIES = 2
RESTORE_METRICS = (
    "The metrics could not be read: restore access to the metric source (see the evidence notes), then "
    "diagnose again; until then nothing here rests on metrics."
)


def diagnose_evidence(
    evidence: Evidence,
    playbooks: Playbooks,
    *,
    now: float | None = None,
    max_alternatives: int = DEFAULT_MAX_ALTERNATIVES,
) -> DiagnosisResult:
    """Explain the alert from its evidence: best cause first, then alternatives, with playbook steps."""
    started = time.perf_counter()
    timestamp = time.time() if now is None else now
    entities = rank_entities(evidence)
    if len(entities) >= MIN_COMPARED_ENTITIES and any(e.changed for e in entities):
        return _entity_result(evidence, entities, playbooks, timestamp, started, max_alternatives)
    ranked, precedent_notes = weigh_precedents(rank_candidate_causes(evidence), evidence.precedents)
    if not ranked or (_related_unread(evidence) and all(c.is_alert_series for c in ranked)):
        return _no_anomaly_result(evidence, playbooks, timestamp, started)

    leaders = _one_per_hypothesis(ranked)[: max_alternatives + 1]
    confidences = [
        min(conf, SELF_CAUSE_CEILING) if _only_a_symptom(cause) else conf
        for cause, conf in zip(leaders, confidences_from_scores([c.score for c in leaders]), strict=True)
    ]
    values = _placeholder_values(evidence, leaders[0])
    primary_playbook = playbooks.for_cause(leaders[0].category, leaders[0].family, values)
    hypotheses = [
        _hypothesis(cause, conf, playbooks, evidence)
        for cause, conf in zip(leaders, confidences, strict=True)
    ]
    steps = _analysis_steps(evidence, ranked, leaders, hypotheses, primary_playbook)
    return _diagnosis(
        evidence, hypotheses, steps, primary_playbook, timestamp, started, precedent_notes, leaders[0].series
    )


def _diagnosis(
    evidence: Evidence,
    hypotheses: Sequence[Hypothesis],
    steps: tuple[AnalysisStep, ...],
    playbook: Playbook,
    timestamp: float,
    started: float,
    notes: tuple[str, ...] = (),
    suspect: SeriesEvidence | None = None,
) -> DiagnosisResult:
    """The result for ranked hypotheses (primary first) with the primary's playbook; `suspect` is the
    primary's series."""
    primary = hypotheses[0]
    result = DiagnosisResult(
        incident_id=evidence.incident_id,
        timestamp=timestamp,
        primary_hypothesis=primary,
        alternative_hypotheses=tuple(hypotheses[1:]),
        executive_summary=_executive_summary(evidence, primary, hypotheses[1:]),
        detailed_analysis=steps,
        immediate_actions=playbook.immediate_actions,
        preventive_measures=playbook.preventive_measures,
        monitoring_recommendations=playbook.monitoring_recommendations,
        analysis_duration=time.perf_counter() - started,
        llm_model_used=None,
        confidence_score=primary.confidence,
        backend="builtin",
        notes=notes,
    )
    return _after_resolution(result, evidence, suspect)


def _after_resolution(
    result: DiagnosisResult, evidence: Evidence, suspect: SeriesEvidence | None
) -> DiagnosisResult:
    """For a resolved alert: the summary says how it recovered, as far as the evidence shows, and
    follow-ups replace the immediate actions (preventive measures and monitoring stay)."""
    if evidence.alert.status != "resolved":
        return result
    recovered = narrative.recovery(evidence, suspect)
    actions = follow_up_actions(result.primary_hypothesis, evidence.alert.alertname, recovered.suspect_back)
    if _unreadable(evidence):
        actions = (RESTORE_METRICS, *actions)
    follow_up = "The alert has resolved, so these are follow-ups rather than mitigations: " + " ".join(
        actions[:2]
    )
    steps = tuple(
        dataclasses.replace(step, findings=follow_up) if step.step == "recommendations" else step
        for step in result.detailed_analysis
    )
    return dataclasses.replace(
        result,
        executive_summary=f"{result.executive_summary} {recovered.text}",
        immediate_actions=actions,
        detailed_analysis=steps,
    )


def _only_a_symptom(cause: RankedCause) -> bool:
    """The cause is the alert's own series, or a symptom (latency, errors, PnL, an unclassified series) of
    the alerting component: its category is a guess from the symptom itself, whatever its rank, and its
    confidence is capped as the alert's own series' is (SELF_CAUSE_CEILING)."""
    return cause.is_alert_series or (
        cause.family in SYMPTOM_FAMILIES and cause.component is not None and cause.family_score < 0.5
    )


def _one_per_hypothesis(ranked: Sequence[RankedCause]) -> list[RankedCause]:
    """Best-ranked cause for each (category, suspect); the rest only add supporting evidence."""
    seen: set[tuple[Category, str]] = set()
    leaders = []
    for cause in ranked:
        key = (cause.category, cause.suspect)
        if key not in seen:
            seen.add(key)
            leaders.append(cause)
    return leaders


def _placeholder_values(evidence: Evidence, cause: RankedCause | None) -> dict[str, str]:
    alert_series = find_alert_series(evidence)
    component = (
        (cause.component if cause else None) or alert_component(evidence, alert_series) or "the service"
    )
    return {
        "suspect": narrative.readable_suspect(cause.suspect, cause.series) if cause else component,
        "component": component,
        "metric": cause.series.metric
        if cause
        else (alert_series.metric if alert_series else "the alert metric"),
        "alertname": evidence.alert.alertname,
    }


def _hypothesis(
    cause: RankedCause, confidence: float, playbooks: Playbooks, evidence: Evidence
) -> Hypothesis:
    playbook = playbooks.for_cause(cause.category, cause.family, _placeholder_values(evidence, cause))
    return Hypothesis(
        title=f"{playbook.title}: {narrative.readable_suspect(cause.suspect, cause.series)}",
        category=cause.category,
        suspect=cause.suspect,
        confidence=round(confidence, 3),
        supporting_evidence=narrative.supporting_lines(cause),
        contradicting_evidence=narrative.contradicting_lines(cause),
    )


def _executive_summary(evidence: Evidence, primary: Hypothesis, alternatives: Sequence[Hypothesis]) -> str:
    """The leading hypothesis in words that match its confidence, its key evidence and the first thing
    against it, the alternatives, and what the evidence could not show."""
    where = alert_component(evidence, find_alert_series(evidence))
    head = f"{evidence.alert.alertname} ({evidence.alert.status}{', on ' + where if where else ''})"
    if primary.confidence > LIKELY_CONFIDENCE:
        text = f"{head}: most likely {primary.title} (confidence {primary.confidence:.0%})."
    else:
        text = (
            f"{head}: no cause stands out; the leading candidate is {primary.title} "
            f"(confidence {primary.confidence:.0%})."
        )
    if primary.supporting_evidence:
        text += f" Key evidence: {primary.supporting_evidence[0]}."
    if primary.contradicting_evidence:
        text += f" Against it: {primary.contradicting_evidence[0]}."
    if alternatives:
        alts = ", ".join(f"{h.title} ({h.confidence:.0%})" for h in alternatives[:2])
        text += f" Alternatives: {alts}."
    if against := narrative.against_the_alert(evidence):
        text += f" {against}."
    return text + _unread_note(evidence)


def _unread_note(evidence: Evidence) -> str:
    """' 2 of 40 series could not be read (reason), so the evidence is incomplete.' or ''."""
    unread = [s for s in evidence.series if not _fetched(s)]
    if not unread:
        return ""
    reason = unread[0].unavailable_reason or "no data"
    return (
        f" {len(unread)} of {len(evidence.series)} series could not be read ({reason}), "
        "so the evidence is incomplete."
    )


def _analysis_steps(
    evidence: Evidence,
    ranked: Sequence[RankedCause],
    leaders: Sequence[RankedCause],
    hypotheses: Sequence[Hypothesis],
    playbook: Playbook,
) -> tuple[AnalysisStep, ...]:
    primary = hypotheses[0]
    formation = "; ".join(
        f"{h.category.value} -> {narrative.readable_suspect(h.suspect, c.series)}"
        for h, c in zip(hypotheses, leaders, strict=True)
    )
    evaluated = [(h.title, c, h.confidence) for h, c in zip(hypotheses, leaders, strict=True)]
    return (
        AnalysisStep("data_examination", narrative.data_examination(evidence)),
        AnalysisStep("pattern_recognition", narrative.pattern_recognition(evidence, ranked)),
        AnalysisStep(
            "hypothesis_formation",
            f"{_count(len(hypotheses), 'hypothesis', 'hypotheses')} from the anomalous series: {formation}.",
        ),
        AnalysisStep("evidence_evaluation", narrative.evidence_evaluation(evaluated)),
        AnalysisStep("root_cause_determination", _determination(primary)),
        AnalysisStep(
            "recommendations",
            f"From the {playbook.title!r} playbook: " + " ".join(playbook.immediate_actions[:2]),
        ),
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _determination(primary: Hypothesis) -> str:
    """The root-cause step: the leading hypothesis, its evidence and what speaks against it."""
    text = f"{primary.title} ranks first with confidence {primary.confidence:.0%}"
    if primary.supporting_evidence:
        text += ": " + "; ".join(primary.supporting_evidence[:4])
    if primary.contradicting_evidence:
        text += ". Against it: " + "; ".join(primary.contradicting_evidence)
    return text + "."


def _no_anomaly_result(
    evidence: Evidence, playbooks: Playbooks, timestamp: float, started: float
) -> DiagnosisResult:
    checked = narrative.data_examination(evidence)
    playbook = playbooks.for_cause(Category.UNKNOWN, MetricFamily.OTHER, _placeholder_values(evidence, None))
    unread, related_unread = _unreadable(evidence), _related_unread(evidence)
    if unread or related_unread:
        playbook = dataclasses.replace(
            playbook, immediate_actions=(RESTORE_METRICS, *playbook.immediate_actions)
        )
    if unread:
        title, against = (
            "Metric evidence unavailable",
            "no series could be read, so no cause could be looked for",
        )
        patterns = "No series could be read, so no change could be looked for."
    elif related_unread:
        title = "Cause not determined: related series unavailable"
        against = (
            "the series that could show a cause could not be read (the alert's own is no cause of itself)"
        )
        patterns = "Only the alert's own series could be read, so no change could be set before it."
    else:
        title = "No anomalous series found"
        against = "the alert fired, so something changed that the collected metrics do not show"
        patterns = "No series deviated from its baseline; there is no onset order to read."
    primary = Hypothesis(
        title=title,
        category=Category.UNKNOWN,
        suspect=alert_component(evidence, find_alert_series(evidence)) or evidence.alert.alertname,
        confidence=NO_EVIDENCE_CONFIDENCE,
        supporting_evidence=(checked,),
        contradicting_evidence=(against,),
    )
    steps = (
        AnalysisStep("data_examination", checked),
        AnalysisStep("pattern_recognition", patterns),
        AnalysisStep("hypothesis_formation", "No candidate causes: nothing to rank."),
        AnalysisStep("evidence_evaluation", "The evidence neither supports nor rules out any category."),
        AnalysisStep("root_cause_determination", "Undetermined from metrics alone (low confidence)."),
        AnalysisStep("recommendations", " ".join(playbook.immediate_actions[:2])),
    )
    result = DiagnosisResult(
        incident_id=evidence.incident_id,
        timestamp=timestamp,
        primary_hypothesis=primary,
        alternative_hypotheses=(),
        executive_summary=_no_anomaly_summary(evidence),
        detailed_analysis=steps,
        immediate_actions=playbook.immediate_actions,
        preventive_measures=playbook.preventive_measures,
        monitoring_recommendations=playbook.monitoring_recommendations,
        analysis_duration=time.perf_counter() - started,
        llm_model_used=None,
        confidence_score=NO_EVIDENCE_CONFIDENCE,
        backend="builtin",
    )
    return _after_resolution(result, evidence, None)


def _fetched(series: SeriesEvidence) -> bool:
    """Whether the series was read: judged, or read but not judgeable (a constant series, too few points).
    One that could not be read (the query failed, no samples) has no points."""
    return series.available or series.points > 0


def _unreadable(evidence: Evidence) -> bool:
    """There were series to read, and none could be read (the metric source was down or refused)."""
    return bool(evidence.series) and not any(_fetched(s) for s in evidence.series)


def _related_unread(evidence: Evidence) -> bool:
    """Series related to the alert were looked for, and none could be read (their lookup or every query
    for them failed): nothing could show what changed before the alert's own series."""
    related = [s for s in evidence.series if s.role == "related"]
    return bool(related) and not any(_fetched(s) for s in related)


def _no_anomaly_summary(evidence: Evidence) -> str:
    """Say plainly whether nothing changed, the metrics could not be read at all, or only the alert's own
    series could."""
    head = f"{evidence.alert.alertname} ({evidence.alert.status}): "
    tail = f"so the cause is undetermined (confidence {NO_EVIDENCE_CONFIDENCE:.0%})."
    if _unreadable(evidence):
        reason = "; ".join(evidence.notes) or "no series could be fetched"
        return f"{head}the metric evidence is unavailable ({reason}), {tail}"
    if _related_unread(evidence):
        unread = next(s for s in evidence.series if s.role == "related")
        reason = unread.unavailable_reason or "no data"
        return (
            f"{head}the series related to the alert could not be read ({reason}), and its own series alone "
            f"cannot say what changed before it, {tail}"
        )
    checked = sum(s.available for s in evidence.series)
    text = f"{head}none of the {checked} series checked ({_metric_list(evidence)}) is anomalous, {tail}"
    if against := narrative.against_the_alert(evidence):
        text += f" {against}."
    return text + _unread_note(evidence)


def _metric_list(evidence: Evidence, limit: int = 6) -> str:
    metrics = list(dict.fromkeys(s.metric for s in evidence.series))
    return ", ".join(metrics[:limit]) + (", ..." if len(metrics) > limit else "")


def _entity_result(
    evidence: Evidence,
    entities: Sequence[RankedEntity],
    playbooks: Playbooks,
    timestamp: float,
    started: float,
    max_alternatives: int,
) -> DiagnosisResult:
    """The diagnosis when components compete: one hypothesis per component, best first."""
    where = alert_component(evidence, find_alert_series(evidence))
    causes, notes = weigh_entity_precedents([entity_cause(e, where) for e in entities], evidence.precedents)
    causes = causes[: max_alternatives + 1]
    confidences = [
        min(conf, SELF_CAUSE_CEILING) if cause.downstream or cause.category is Category.UNKNOWN else conf
        for cause, conf in zip(causes, confidences_from_scores([c.score for c in causes]), strict=True)
    ]
    hypotheses = [
        _entity_hypothesis(evidence, cause, conf, causes, playbooks)
        for cause, conf in zip(causes, confidences, strict=True)
    ]
    primary = hypotheses[0]
    playbook = _entity_playbook(playbooks, evidence, causes[0])
    formation = "; ".join(
        f"{h.category.value} -> {narrative.readable_suspect(h.suspect, c.shift.series)}"
        for h, c in zip(hypotheses, causes, strict=True)
    )
    ranking = ", ".join(f"{e.name} ({e.score:.1f})" for e in entities[:10])
    steps = (
        AnalysisStep("data_examination", narrative.data_examination(evidence)),
        AnalysisStep(
            "pattern_recognition",
            f"Components by their strongest change against their own history (robust z, weighted by kind): "
            f"{ranking}.",
        ),
        AnalysisStep(
            "hypothesis_formation",
            f"{_count(len(hypotheses), 'hypothesis', 'hypotheses')}, one per component: {formation}.",
        ),
        AnalysisStep(
            "evidence_evaluation",
            "; ".join(f"{h.title}: confidence {h.confidence:.0%}" for h in hypotheses) + ".",
        ),
        AnalysisStep("root_cause_determination", _determination(primary)),
        AnalysisStep(
            "recommendations",
            f"From the {playbook.title!r} playbook: " + " ".join(playbook.immediate_actions[:2]),
        ),
    )
    return _diagnosis(
        evidence, hypotheses, steps, playbook, timestamp, started, notes, causes[0].shift.series
    )


def _entity_playbook(playbooks: Playbooks, evidence: Evidence, cause: EntityCause) -> Playbook:
    """The component's playbook, its `{metric}` the series that named its category; a change whose
    component restarted, or whose pods were replaced, before the alert takes the restart's steps."""
    family, metric = cause.family, cause.shift.series.metric
    if cause.category is Category.CHANGE_DEPLOYMENT:
        if restarts := _restarts_before_the_alert(evidence, cause):
            family, metric = MetricFamily.DEPLOYMENT, restarts[0].series.metric
        elif redeployed(cause.shift):  # its pods were replaced
            family = MetricFamily.DEPLOYMENT
    values = {
        "suspect": narrative.readable_suspect(cause.suspect, cause.shift.series),
        "component": cause.entity.name,
        "metric": metric,
        "alertname": evidence.alert.alertname,
    }
    return playbooks.for_cause(cause.category, family, values)


def _restarts_before_the_alert(evidence: Evidence, cause: EntityCause) -> list[SeriesShift]:
    return [
        s
        for s in deployment_series(cause.entity)
        if (onset := s.series.onset if s.onset is None else s.onset) is not None
        and not narrative.after_the_alert(onset - evidence.alert.starts_at)
    ]


def _entity_hypothesis(
    evidence: Evidence,
    cause: EntityCause,
    confidence: float,
    causes: Sequence[EntityCause],
    playbooks: Playbooks,
) -> Hypothesis:
    playbook = _entity_playbook(playbooks, evidence, cause)
    alert_series = find_alert_series(evidence)
    return Hypothesis(
        title=f"{playbook.title}: {'downstream of ' if cause.downstream else ''}{cause.entity.name}",
        category=cause.category,
        suspect=cause.suspect,
        confidence=round(confidence, 3),
        supporting_evidence=entity_narrative.supporting_lines(cause, evidence.alert.starts_at),
        contradicting_evidence=entity_narrative.contradicting_lines(
            cause, causes, evidence.alert.starts_at, alert_series.series_id if alert_series else None
        ),
    )
