"""From ranked components to hypotheses: the category and suspect follow from the component's evidence.

A component with a saturation shift (CPU, memory, disk) beyond noise that changed no later than its
strongest shift, or whose strongest shift is another non-symptom series (network, traffic), gets that
series' category and the series as suspect. Of several such saturation shifts, one whose resource
reached its limit (a utilisation series at 90 % or more) names the category: a pod at 100 % of its CPU
is throttled, one whose memory rose to 70 % is not short of memory, however far each moved.
A component whose callers' view of their calls to it rose while its own view of the same calls rose by
less than half as much lost the time on the way: `network`. Otherwise one whose strongest shift is
latency or errors, with its resources quiet, is a failing service: `dependency.service` (or
`dependency.database`) when it is not the alerting component, `change.deployment` (a code or
configuration change) when it is. One whose strongest shift is its outbound latency (its wait on what it
calls) only shows where the wait was seen: the slow dependency is downstream of it (`waits_downstream`),
`dependency.service` whichever component it is, and its confidence is capped as a symptom's is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from analyst.builtin.calls import call_ends, called_peer, callee_view, measured_by_caller
from analyst.builtin.categories import (
    NETWORK_FAMILIES,
    MetricFamily,
    categorize_series,
    looks_like_database,
    metric_family,
)
from analyst.builtin.entities import (
    CHANGE_Z,
    HOST_LABELS,
    ONSET_MARGIN_SECONDS,
    SYMPTOM_KINDS,
    TARGET_UP,
    RankedEntity,
    SeriesKind,
    SeriesShift,
)
from analyst.builtin.limits import left_of
from analyst.builtin.narrative import (
    after_the_alert,
    format_duration,
    format_offset,
    readable_id,
    short_of_limit,
)
from analyst.builtin.units import format_change, format_value
from analyst.diagnosis import Category

# Entity score -> [0, 1] for the softmax confidences: z / (z + ENTITY_SCORE_HALF) (z = 10 gives 0.5).
ENTITY_SCORE_HALF = 10.0
MAX_LINES = 4
# A call whose callee saw less than this share of the time its caller's view added lost most of it on the
# way (the majority, not a fitted constant).
ON_THE_WAY_SHARE = 0.5
# Categories a resource at its limit names (what "saturation" in their titles claims).
_RESOURCE_CATEGORIES = (
    Category.RESOURCE_CPU,
    Category.RESOURCE_MEMORY,
    Category.RESOURCE_DISK,
    Category.RESOURCE_LIMITS,
)
# Categories inferred from a component's symptoms (and what did not move), not named by one series.
_INFERRED_CATEGORIES = (Category.DEPENDENCY_SERVICE, Category.DEPENDENCY_DATABASE, Category.CHANGE_DEPLOYMENT)
# Components whose changes began this much apart changed one before the other (onset estimates are rough).
_EARLIER_SECONDS = 60.0


@dataclass(frozen=True)
class EntityCause:
    """A ranked component as a cause: its category, the shift that names it, its suspect and the score the
    confidences use."""

    entity: RankedEntity
    shift: SeriesShift
    category: Category
    family: MetricFamily
    suspect: str
    score: float
    is_alert_component: bool

    @property
    def downstream(self) -> bool:
        """The component is named by its wait on what it calls (`waits_downstream`)."""
        return waits_downstream(self.shift)


def waits_downstream(shift: SeriesShift) -> bool:
    """The shift is a component's outbound latency, the time it waited on its callees (not a caller's view
    of calls to it): where a slow dependency was seen, which names no cause of the component's own. Unless
    it began as the component's pods were replaced (`redeployed`): a new version that waits longer on the
    same callees is a change of its own."""
    return shift.kind is SeriesKind.OUTBOUND_LATENCY and not redeployed(shift)


def is_node(entity: RankedEntity) -> bool:
    """Whether the component is a node (a machine): its series name it as their node (node_exporter's,
    `receiver.evidence.context.on_node`)."""
    return any(s.series.labels.get(key) == entity.name for s in entity.shifts for key in HOST_LABELS)


def cause_shift(entity: RankedEntity) -> SeriesShift:
    """The shift that names the category: the strongest saturation shift beyond noise that changed no
    later than the strongest shift (a saturated component explains its own latency and errors),
    preferring one whose resource reached its limit (`SeriesShift.at_limit`); else the strongest shift
    itself. A component that stopped answering or restarted (availability) is explained only by a resource
    at its limit; a market driver (volatility, volume, funding) by nothing: nothing in the system moves the
    market, so the market-data workload's own busy CPU does not explain the volume it reports. A node's use
    short of its limit is its pods' load (`entities._nodes_use_as_load`), which explains nothing: a
    NIC's errors are not the softirq time they cost."""
    top = entity.strongest
    assert top is not None, "ranked entities always have a shift"
    if top.kind is SeriesKind.MARKET:
        return top
    node = is_node(entity)
    saturated = [
        s
        for s in entity.shifts
        if s.kind is SeriesKind.SATURATION
        and s.z >= CHANGE_Z
        and _no_later(s, top)
        and (s.at_limit or not node)
    ]
    limited = min(
        (s for s in saturated if s.at_limit),
        key=lambda s: s.onset if s.onset is not None else math.inf,
        default=None,
    )  # the first to run out: a pool of threads all blocked fills the connections queued for them
    if top.kind is SeriesKind.AVAILABILITY:
        return limited or top
    return limited or (saturated[0] if saturated else top)


def _no_later(shift: SeriesShift, other: SeriesShift) -> bool:
    return shift.onset is not None and (other.onset is None or shift.onset <= other.onset)


def entity_cause(entity: RankedEntity, alert_component: str | None) -> EntityCause:
    top = cause_shift(entity)
    family = metric_family(top.series.metric, top.series.labels)
    own = entity.name == alert_component
    if top.kind in SYMPTOM_KINDS and family in NETWORK_FAMILIES:  # the path's own: a round trip, a lookup
        category = Category.NETWORK
        suspect = top.series.series_id
    elif top.kind in SYMPTOM_KINDS and is_node(entity):  # a machine's own: its clock's error, its disk's
        category = categorize_series(top.series.metric, top.series.labels)
        category = Category.UNKNOWN if category in _INFERRED_CATEGORIES else category  # it serves no calls
        suspect = top.series.series_id
    elif top.kind in SYMPTOM_KINDS:
        if delayed_on_the_way(entity, top):
            category = Category.NETWORK
        elif waits_downstream(top):  # its wait on its callees: a dependency of it, whichever it is
            category = Category.DEPENDENCY_SERVICE
        elif own or redeployed(top):
            category = Category.CHANGE_DEPLOYMENT
        elif looks_like_database(entity.name, top.series.labels):
            category = Category.DEPENDENCY_DATABASE
        else:
            category = Category.DEPENDENCY_SERVICE
        suspect = entity.name
    elif top.kind is SeriesKind.AVAILABILITY:  # the component stopped answering: it is the suspect
        category = categorize_series(top.series.metric, top.series.labels)
        suspect = entity.name
    else:
        category = categorize_series(top.series.metric, top.series.labels)
        suspect = top.series.series_id
    return EntityCause(
        entity=entity,
        shift=top,
        category=category,
        family=family,
        suspect=suspect,
        score=entity.score / (entity.score + ENTITY_SCORE_HALF),
        is_alert_component=own,
    )


def delayed_on_the_way(entity: RankedEntity, top: SeriesShift) -> bool:
    """The component's strongest shift is a caller's view of its calls to it, and the callee's own view of
    the same calls rose by less than half as much: most of the added time was spent between the two, on
    the network (or in the callee's proxy). Without the callee's view nothing tells the two apart."""
    if not measured_by_caller(top.series.labels):
        return False
    inside = _inside_views(entity, top)
    added = top.peak - top.baseline
    return bool(inside) and added > 0 and all(s.peak - s.baseline < ON_THE_WAY_SHARE * added for s in inside)


def _inside_views(entity: RankedEntity, outside: SeriesShift) -> list[SeriesShift]:
    """The component's own (callee-side) views of the calls `outside` times from the caller's side."""
    caller, _ = call_ends(outside.series.labels)
    return [s for s in entity.shifts if callee_view(s.series.labels, caller)]


def redeployed(shift: SeriesShift) -> bool:
    """The shift is that of a pod that replaced others (`with_predecessors`), and it began with it: the
    new pods behave differently from the ones they replaced (a new version, or new configuration)."""
    return (
        shift.replaced_at is not None
        and shift.onset is not None
        and shift.onset <= shift.replaced_at + ONSET_MARGIN_SECONDS
    )


def went_down(shift: SeriesShift) -> bool:
    """The shift is a scrape target's `up` (or an exporter's `*_up`) falling: the component stopped
    answering."""
    return bool(TARGET_UP.search(shift.series.metric.lower())) and shift.peak < shift.baseline


def describe_shift(shift: SeriesShift) -> str:
    series = shift.series
    verb = "fell" if shift.peak < shift.baseline else "rose"
    in_use = " in use" if left_of(series.metric) is not None else ""  # what is left fell: the rest is used
    limit = f", {shift.share:.0%} of its limit{in_use}" if shift.at_limit else ""
    history = "against its own history"
    if shift.replaced_at is not None:
        history = "against the history of the pods it replaced"
    kind = "" if shift.kind is SeriesKind.OTHER else f"; {shift.kind.value.replace('_', ' ')}"
    if shift.resized is not None:  # its values are shares of a size that changed
        first, last = (format_value(series.metric, v) for v in shift.resized)
        return (
            f"{readable_id(series)} {verb} from {shift.baseline:.0%} to {shift.peak:.0%} of its limit, "
            f"which changed from {first} to {last} (robust z={shift.z:.1f} {history}{kind})"
        )
    before, after = format_change(series.metric, shift.baseline, shift.peak, series.query)
    return (
        f"{readable_id(series)} {verb} from {before} to {after}{limit} "
        f"(robust z={shift.z:.1f} {history}{kind})"
    )


def supporting_lines(cause: EntityCause, alert_time: float) -> tuple[str, ...]:
    """What moved (the shift that names the category first), when the component changed, and, for a
    failing service, that its resources stayed quiet."""
    entity = cause.entity
    shifts = [cause.shift, *(s for s in entity.shifts if s is not cause.shift)]
    described = [s for s in shifts[:MAX_LINES] if s.z >= CHANGE_Z]
    lines = [describe_shift(s) for s in described]
    lines += _restarts(entity, {s.series.series_id for s in described}, alert_time)
    if entity.onset is not None and not after_the_alert(entity.onset - alert_time):
        lines.append(f"{entity.name} first changed {format_offset(entity.onset - alert_time)}")
    if cause.shift.tied_by:
        carried = ", ".join(f'{k}="{v}"' for k, v in cause.shift.tied_by)
        lines.append(f"{cause.shift.series.metric} carries the alert's {carried}: tied to what fired")
    if cause.category is Category.NETWORK and (inside := _inside_views(entity, cause.shift)):
        own = max(inside, key=lambda s: s.peak - s.baseline)
        before, after = format_change(own.series.metric, own.baseline, own.peak, own.series.query)
        lines.append(
            f"{entity.name}'s own view of the same calls went from {before} to {after} "
            "only: the time was lost on the way (network, or its proxy)"
        )
    if went_down(cause.shift):
        fell_to = format_value(cause.shift.series.metric, cause.shift.peak, cause.shift.series.query)
        lines.append(
            f"{entity.name} stopped answering ({cause.shift.series.metric} fell to {fell_to}): "
            "what it would have reported since is missing, so its quiet series say nothing of that time"
        )
    if cause.shift.kind is SeriesKind.AVAILABILITY:  # it stopped or restarted: a scrape's quiet says little
        if cause.category is Category.RESOURCE_MEMORY:
            lines.append(
                f"{entity.name}'s container was killed for memory: a spike between two scrapes does not "
                "show in its memory series"
            )
        return tuple(lines)
    if cause.downstream:
        peer = called_peer(cause.shift.series.labels)
        lines.append(
            f"{entity.name}'s strongest change is its wait on what it calls (outbound latency"
            + (f", its calls to {peer}" if peer else "")
            + "): the time was lost downstream of it, in a dependency or on the way to one"
        )
        served = [s for s in entity.shifts if s.kind is SeriesKind.LATENCY]
        if served and all(s.z < CHANGE_Z for s in served):
            lines.append(
                f"its own latency as its callers see it ({served[0].series.metric}) stayed within its "
                "usual noise"
            )
    resources = [s for s in entity.shifts if s.kind is SeriesKind.SATURATION]
    quiet = [s for s in resources if s.z < CHANGE_Z]
    if cause.category in (Category.DEPENDENCY_SERVICE, Category.CHANGE_DEPLOYMENT) and quiet:
        if len(quiet) == len(resources):
            lines.append(f"its resources stayed within their normal range ({quiet[0].series.metric})")
        else:
            moved = ", ".join(dict.fromkeys(s.series.metric for s in resources if s.z >= CHANGE_Z))
            lines.append(
                f"of its resources only {moved} moved, and not before {cause.shift.series.metric} did"
            )
    return tuple(lines)


def deployment_series(entity: RankedEntity) -> list[SeriesShift]:
    """The component's restart or rollout series that changed: by the robust z, or by the detector (a
    restart steps a `process_start_time_seconds` whose flat history leaves the robust z nothing to
    measure)."""
    return [
        s
        for s in entity.shifts
        if metric_family(s.series.metric, s.series.labels) is MetricFamily.DEPLOYMENT
        and (s.z >= CHANGE_Z or s.series.anomalous)
    ]


def _restarts(entity: RankedEntity, described: set[str], alert_time: float) -> list[str]:
    """A line for each restart or rollout series the detector saw change that the shifts do not show."""
    return [
        f"{readable_id(s.series)} changed {format_offset(s.series.onset - alert_time)}: "
        f"{entity.name} restarted or was redeployed"
        for s in deployment_series(entity)
        if s.series.series_id not in described and s.series.anomalous and s.series.onset is not None
    ]


def contradicting_lines(
    cause: EntityCause, others: Sequence[EntityCause], alert_time: float, alert_series_id: str | None
) -> tuple[str, ...]:
    """What speaks against the component: it only restates the alert, it changed after the alert or after
    others, its callees explain it, it did not change, others changed more, or what names its category
    did not show a resource at its limit."""
    lines = []
    entity, shift = cause.entity, cause.shift
    if shift.series.series_id == alert_series_id and shift.kind not in SYMPTOM_KINDS:
        lines.append(
            f"{shift.series.metric} is the alert's own series: this restates what fired the alert rather "
            "than explaining it"
        )
    if cause.category is Category.CHANGE_DEPLOYMENT and not (deployment_series(entity) or redeployed(shift)):
        lines.append(
            f"no restart or rollout of {entity.name} was seen: the change is inferred from its own "
            f"{shift.series.metric} moving while its resources did not"
        )
    if cause.downstream:
        lines.append(
            f"an outbound latency shows where a slow dependency was seen, not what it is: nothing of "
            f"{entity.name}'s own names a cause"
        )
    if entity.onset is not None and after_the_alert(entity.onset - alert_time):
        lines.append(
            f"{entity.name} first changed {format_offset(entity.onset - alert_time)}: after the alert fired, "
            "so more likely an effect than its cause"
        )
    if earlier := _changed_earlier(cause, others):
        lines.append(_earlier_line(entity.name, earlier))
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
    if entity.changed and shift.z < CHANGE_Z and cause.category not in _INFERRED_CATEGORIES:
        lines.append(
            f"{readable_id(shift.series)}, which names this category, stayed within its usual noise "
            f"(robust z={shift.z:.1f})"
        )
    limit = short_of_limit(shift.series.metric, shift.share, "peaked at")
    if entity.changed and cause.category in _RESOURCE_CATEGORIES and limit:
        lines.append(limit)
    return tuple(lines)


def _earlier_line(name: str, earlier: Sequence[tuple[str, str]]) -> str:
    if len(earlier) == 1:
        other, how_much = earlier[0]
        return f"{other} changed {how_much} before {name} did"
    listed = ", ".join(f"{other} ({how_much} earlier)" for other, how_much in earlier[:3])
    return f"changed before {name} did: {listed}"


def _changed_earlier(cause: EntityCause, others: Sequence[EntityCause]) -> list[tuple[str, str]]:
    """The other ranked components that changed beyond noise clearly before this one (how much earlier)."""
    onset = cause.entity.onset
    if onset is None:
        return []
    earlier = sorted(
        (o.entity.onset, o.entity.name)
        for o in others
        if o is not cause
        and o.entity.changed
        and o.entity.onset is not None
        and o.entity.onset < onset - _EARLIER_SECONDS
    )
    return [(name, format_duration(onset - when)) for when, name in earlier]
