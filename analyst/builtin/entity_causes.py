"""From ranked components to hypotheses: the category and suspect follow from the component's evidence.

A component with a saturation shift (CPU, memory, disk) beyond noise that changed no later than its
strongest shift, or whose strongest shift is another non-symptom series (network, traffic), gets that
series' category and the series as suspect. One whose strongest shift is latency or errors, with its
resources quiet, is a failing service: `dependency.service` (or `dependency.database`) when it is not
the alerting component, `change.deployment` (a code or configuration change) when it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analyst.builtin.categories import MetricFamily, categorize_series, looks_like_database, metric_family
from analyst.builtin.entities import CHANGE_Z, SYMPTOM_KINDS, RankedEntity, SeriesKind, SeriesShift
from analyst.builtin.narrative import format_offset
from analyst.diagnosis import Category

# Entity score -> [0, 1] for the softmax confidences: z / (z + ENTITY_SCORE_HALF) (z = 10 gives 0.5).
ENTITY_SCORE_HALF = 10.0
MAX_LINES = 4


@dataclass(frozen=True)
class EntityCause:
    """A ranked component as a cause: its category, suspect and the score the confidences use."""

    entity: RankedEntity
    category: Category
    family: MetricFamily
    suspect: str
    score: float
    is_alert_component: bool


def cause_shift(entity: RankedEntity) -> SeriesShift:
    """The shift that names the category: the strongest saturation shift beyond noise that changed no
    later than the strongest shift (a saturated component explains its own latency and errors), else
    the strongest shift itself."""
    top = entity.strongest
    assert top is not None, "ranked entities always have a shift"
    for shift in entity.shifts:
        if shift.kind is SeriesKind.SATURATION and shift.z >= CHANGE_Z and _no_later(shift, top):
            return shift
    return top


def _no_later(shift: SeriesShift, other: SeriesShift) -> bool:
    return shift.onset is not None and (other.onset is None or shift.onset <= other.onset)


def entity_cause(entity: RankedEntity, alert_component: str | None) -> EntityCause:
    top = cause_shift(entity)
    family = metric_family(top.series.metric, top.series.labels)
    own = entity.name == alert_component
    if top.kind in SYMPTOM_KINDS:
        if own:
            category = Category.CHANGE_DEPLOYMENT
        elif looks_like_database(entity.name, top.series.labels):
            category = Category.DEPENDENCY_DATABASE
        else:
            category = Category.DEPENDENCY_SERVICE
        suspect = entity.name
    else:
        category = categorize_series(top.series.metric, top.series.labels)
        suspect = top.series.series_id
    return EntityCause(
        entity=entity,
        category=category,
        family=family,
        suspect=suspect,
        score=entity.score / (entity.score + ENTITY_SCORE_HALF),
        is_alert_component=own,
    )


def describe_shift(shift: SeriesShift) -> str:
    verb = "fell" if shift.peak < shift.baseline else "rose"
    return (
        f"{shift.series.series_id} {verb} from {shift.baseline:.4g} to {shift.peak:.4g} "
        f"(robust z={shift.z:.1f} against its own history; {shift.kind.value.replace('_', ' ')})"
    )


def supporting_lines(cause: EntityCause, alert_time: float) -> tuple[str, ...]:
    entity = cause.entity
    lines = [describe_shift(s) for s in entity.shifts[:MAX_LINES] if s.z >= CHANGE_Z]
    if entity.onset is not None:
        lines.append(f"{entity.name} first changed {format_offset(entity.onset - alert_time)}")
    quiet = [s for s in entity.shifts if s.kind is SeriesKind.SATURATION and s.z < CHANGE_Z]
    if cause.category in (Category.DEPENDENCY_SERVICE, Category.CHANGE_DEPLOYMENT) and quiet:
        lines.append(f"its resources stayed within their normal range ({quiet[0].series.metric})")
    return tuple(lines)


def contradicting_lines(cause: EntityCause, others: Sequence[EntityCause]) -> tuple[str, ...]:
    lines = []
    if cause.entity.explained_by:
        lines.append(
            f"its callees {', '.join(cause.entity.explained_by)} changed as strongly, so they may explain "
            "its latency and errors"
        )
    if not cause.entity.changed:
        lines.append(f"no series of {cause.entity.name} moved beyond its usual noise")
    own = cause.entity.score
    stronger = [o.entity.name for o in others if o is not cause and o.entity.score > own]
    close = [o.entity.name for o in others if o is not cause and 0.8 * own <= o.entity.score <= own]
    if stronger:
        lines.append(f"{', '.join(stronger[:3])} changed more strongly")
    if close:
        lines.append(f"{', '.join(close[:3])} changed almost as strongly")
    return tuple(lines)
