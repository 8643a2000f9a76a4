"""A resolved alert's recovery, checked at resolution: is the firing diagnosis' suspect back at its baseline?

The diagnosis is made while the alert fires; at resolution the evidence is fetched again (its window then
ends at endsAt) and the suspect's series is found in it by series id. What that evidence shows becomes one
sentence and the follow-ups that replace the firing-time mitigations in the closing messages. An incident
closed because its alert fired again is not checked (`fired_again`).
"""

from __future__ import annotations

from dataclasses import dataclass

from analyst.builtin import narrative
from analyst.builtin.entities import rank_entities
from analyst.builtin.entity_causes import cause_shift
from analyst.builtin.playbooks import follow_up_actions
from analyst.diagnosis import DiagnosisResult, Hypothesis
from analyst.evidence import Evidence


@dataclass(frozen=True)
class RecoveryCheck:
    """What the resolution's messages say of the recovery: `text` (one sentence; why, when `checked` is
    False) and the follow-ups; `suspect_back` is None when the evidence does not say."""

    text: str
    follow_ups: tuple[str, ...]
    suspect_back: bool | None = None
    checked: bool = True


def suspect_series_id(suspect: str, firing: Evidence) -> str | None:
    """The series the firing diagnosis' suspect stands for: the series itself, or, for a component, the
    series that named its cause (`cause_shift`); None when the suspect is neither (an LLM's own words)."""
    if any(s.series_id == suspect for s in firing.series):
        return suspect
    entity = next((e for e in rank_entities(firing) if e.name == suspect and e.shifts), None)
    return cause_shift(entity).series.series_id if entity is not None else None


def check_recovery(diagnosis: DiagnosisResult, firing: Evidence, resolved: Evidence) -> RecoveryCheck:
    """The recovery of `diagnosis`' primary suspect (found in the `firing` evidence it was made from) in the
    evidence fetched at resolution (`resolved`, its window ending at endsAt)."""
    primary = diagnosis.primary_hypothesis
    alertname = resolved.alert.alertname
    wanted = suspect_series_id(primary.suspect, firing)
    if wanted is None:
        return not_checked(
            primary, alertname, f"the suspect {primary.suspect} is not a series of the evidence"
        )
    if not any(s.available for s in resolved.series):
        why = "no series could be read at resolution"
        return not_checked(primary, alertname, ": ".join((why, *resolved.notes[:1])))
    series = next((s for s in resolved.series if s.series_id == wanted), None)
    if series is None:
        why = f"{wanted} was not among the series fetched at resolution"
        return not_checked(primary, alertname, "; ".join((why, *resolved.notes[:1])))
    if not series.available:
        return not_checked(primary, alertname, f"{wanted} could not be read: {series.unavailable_reason}")
    recovered = narrative.recovery(resolved, series)
    follow_ups = follow_up_actions(primary, alertname, recovered.suspect_back)
    return RecoveryCheck(recovered.text, follow_ups, recovered.suspect_back)


def fired_again(primary: Hypothesis, alertname: str, newer: str) -> RecoveryCheck:
    """The incident was closed because its alert fired again, as incident `newer`: it did not recover, so
    nothing is checked and the follow-ups send the reader to the newer incident."""
    follow = (
        f"Follow {alertname} in incident {newer}: it fired again, and that incident's resolution will say"
        " whether it recovered."
    )
    cause = follow_up_actions(primary, alertname)[1]
    text = f"not checked: {alertname} fired again, as incident {newer}."
    return RecoveryCheck(text, (follow, cause), None, checked=False)


def not_checked(primary: Hypothesis, alertname: str, reason: str) -> RecoveryCheck:
    """The recovery could not be checked, and why (one line); the follow-ups ask to check it instead."""
    line = " ".join(reason.split())
    return RecoveryCheck(f"not checked: {line}.", follow_up_actions(primary, alertname), None, checked=False)
