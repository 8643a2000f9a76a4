"""Rank the anomalous series of an incident as candidate causes of its alert.

Each candidate gets five scores in [0, 1], combined with fixed weights:
topology (deepest anomalous component on an anomalous call path from the alert's component),
onset (what changed first, for candidates that move with the alert's series), strength (|z|),
correlation with the alert series, and a family prior
(resource, change and market signals are causes; latency and errors in the alert's own component
are effects). A candidate whose change was over (back within its usual range) before the alert's own series
began to change is a past episode rather than a cause of this one: its score is halved. "Before" allows a
minute, or the longest range window of the alert's expression (`rate(x[5m])` can lag its cause by 5m).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from analyst.builtin.categories import (
    FAMILY_CATEGORY,
    SYMPTOM_FAMILIES,
    MetricFamily,
    categorize_series,
    looks_like_database,
    metric_family,
)
from analyst.builtin.topology import CallGraph, component_of
from analyst.diagnosis import Category
from analyst.evidence import Evidence, SeriesEvidence

WEIGHTS = {"topology": 0.35, "onset": 0.15, "strength": 0.20, "correlation": 0.20, "family": 0.10}
NEUTRAL = 0.5
# An anomalous callee explains its caller only if its own deviation is at least this share as strong:
# a marginal blip below an extreme caller is more likely a side effect than the cause.
EXPLAINING_STRENGTH_RATIO = 1 / 3
# Below this |correlation| with the alert's series a candidate does not move with it (said "weak" in its
# evidence; the same 0.3 as the cross-correlation lead's floor).
WEAK_CORRELATION = 0.3
# Changes this close together count as simultaneous.
SIMULTANEOUS_SECONDS = 60.0
# A candidate that was back to normal before the alert's series changed keeps this share of its score.
ENDED_BEFORE_DISCOUNT = 0.5
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_RANGE = re.compile(rf"\[\s*({_DURATION})\s*(?::\s*(?:{_DURATION})?\s*)?\]")
_DURATION_PART = re.compile(r"(\d+)(ms|[smhdwy])")


@dataclass(frozen=True)
class RankedCause:
    """One candidate cause with the scores that placed it; `score` is their weighted sum."""

    series: SeriesEvidence
    component: str | None
    family: MetricFamily
    category: Category
    suspect: str
    score: float
    onset_offset: float | None
    lead_seconds: float | None
    strength: float
    onset_score: float
    correlation_score: float
    topology_score: float
    family_score: float
    topology_note: str
    explained_by: tuple[str, ...] = ()
    is_alert_series: bool = False
    ended_before: float | None = None  # seconds it was back to normal before the alert's series changed


def find_alert_series(evidence: Evidence) -> SeriesEvidence | None:
    """The alert's own series: by `alert_series_id`, else the first series with role `alert`."""
    if evidence.alert_series_id:
        for s in evidence.series:
            if s.series_id == evidence.alert_series_id:
                return s
    return next((s for s in evidence.series if s.role == "alert"), None)


def alert_component(evidence: Evidence, alert_series: SeriesEvidence | None) -> str | None:
    if alert_series is not None and component_of(alert_series):
        return component_of(alert_series)
    for key in ("component", "service", "app", "job"):
        if evidence.alert.labels.get(key):
            return evidence.alert.labels[key]
    return None


def rank_candidate_causes(evidence: Evidence) -> list[RankedCause]:
    """Anomalous series ranked best-first as causes of the alert (the alert series only if alone)."""
    evidence = dataclasses.replace(evidence, series=tuple(without_non_finite(s) for s in evidence.series))
    alert_series = find_alert_series(evidence)
    alert_id = alert_series.series_id if alert_series else None
    candidates = [s for s in evidence.series if s.anomalous and s.available and s.series_id != alert_id]
    if not candidates and alert_series is not None and alert_series.anomalous:
        candidates = [alert_series]
    if not candidates:
        return []
    context = _RankingContext(evidence, alert_series, candidates)
    ranked = [context.rank(s) for s in candidates]
    ranked.sort(key=lambda r: (-r.score, r.onset_offset if r.onset_offset is not None else float("inf")))
    return ranked


class _RankingContext:
    """What every candidate is scored against: the alert, the call graph and the other candidates."""

    def __init__(
        self, evidence: Evidence, alert_series: SeriesEvidence | None, candidates: Sequence[SeriesEvidence]
    ) -> None:
        self.evidence = evidence
        self.alert_series = alert_series
        self.alert_component = alert_component(evidence, alert_series)
        self.graph = CallGraph.from_evidence(evidence.topology, evidence.series)
        self.observed = {c for s in evidence.series if s.available and (c := component_of(s))}
        self.anomalous = {c for s in evidence.series if s.anomalous and (c := component_of(s))}
        self.component_z, self.component_onset = _component_strength_and_onset(evidence.series)
        if self.alert_component:
            self.anomalous.add(self.alert_component)
            self.observed.add(self.alert_component)
        self.alert_change = alert_series.onset if alert_series is not None else None
        self.ended_tolerance = max(
            SIMULTANEOUS_SECONDS,
            longest_range_seconds(alert_series.query if alert_series is not None else ""),
            longest_range_seconds(evidence.alert.expr or ""),
        )
        self.alert_onset = self.alert_change if self.alert_change is not None else evidence.alert.starts_at
        self.leads = {s.series_id: self._lead(s) for s in candidates}
        # who came first is judged among the candidates that move with the alert's series
        self.related_leads = sorted(
            {lead for s in candidates if (lead := self.leads[s.series_id]) is not None and not _unrelated(s)},
            reverse=True,
        )
        self.on_path: dict[str, int] = {}
        self.reachable: dict[str, int] = {}
        if self.graph and self.alert_component:
            self.on_path = self.graph.anomalous_paths_from(
                self.alert_component, self.anomalous, self.observed
            )
            self.reachable = self.graph.distances_from(self.alert_component)

    def _lead(self, series: SeriesEvidence) -> float | None:
        if series.lag_seconds is not None:
            return series.lag_seconds
        if series.onset is not None:
            return self.alert_onset - series.onset
        return None

    def rank(self, series: SeriesEvidence) -> RankedCause:
        component = component_of(series)
        family = metric_family(series.metric, series.labels)
        is_alert = self.alert_series is not None and series.series_id == self.alert_series.series_id
        category, suspect = self._category_and_suspect(series, component, family, is_alert)
        topology_score, note, explained_by = self._topology(component)
        scores = {
            "topology": topology_score,
            "onset": self._onset_score(series),
            "strength": strength_of(series),
            "correlation": abs(c) if (c := finite(series.correlation)) is not None else NEUTRAL,
            "family": self._family_score(series, component, family, is_alert),
        }
        ended_before = None if is_alert else self._ended_before(series)
        discount = ENDED_BEFORE_DISCOUNT if ended_before is not None else 1.0
        return RankedCause(
            series=series,
            component=component,
            family=family,
            category=category,
            suspect=suspect,
            score=discount * sum(WEIGHTS[k] * v for k, v in scores.items()),
            onset_offset=None if series.onset is None else series.onset - self.evidence.alert.starts_at,
            lead_seconds=self.leads.get(series.series_id),
            strength=scores["strength"],
            onset_score=scores["onset"],
            correlation_score=scores["correlation"],
            topology_score=topology_score,
            family_score=scores["family"],
            topology_note=note,
            explained_by=explained_by,
            is_alert_series=is_alert,
            ended_before=ended_before,
        )

    def _ended_before(self, series: SeriesEvidence) -> float | None:
        """How long `series` had been back to normal when the alert's series began to change, if that is
        more than the tolerance (None otherwise, or when either time is unknown)."""
        if series.recovered is None or self.alert_change is None:
            return None
        gap = self.alert_change - series.recovered
        return gap if gap > self.ended_tolerance else None

    def _category_and_suspect(
        self, series: SeriesEvidence, component: str | None, family: MetricFamily, is_alert: bool
    ) -> tuple[Category, str]:
        remote = component is not None and component != self.alert_component and not is_alert
        if family in SYMPTOM_FAMILIES and remote and family is not MetricFamily.PNL:
            if looks_like_database(component, series.labels):
                return Category.DEPENDENCY_DATABASE, str(component)
            return Category.DEPENDENCY_SERVICE, str(component)
        if family is MetricFamily.REQUESTS and series.direction == "down":
            return Category.UNKNOWN, series.series_id
        if is_alert and family in SYMPTOM_FAMILIES:
            return Category.UNKNOWN, series.series_id
        category = categorize_series(series.metric, series.labels)
        if category is Category.UNKNOWN:
            category = FAMILY_CATEGORY[family]
        return category, series.series_id

    def _topology(self, component: str | None) -> tuple[float, str, tuple[str, ...]]:
        if not self.graph or component is None or self.alert_component is None:
            return NEUTRAL, "no call graph covers this series", ()
        if component not in self.graph and self.alert_component not in self.graph:
            return NEUTRAL, "no call graph covers this series", ()
        explained = self._explaining_callees(component)
        if component == self.alert_component:
            if explained:
                return (
                    0.4,
                    f"in the alerting component, whose callees {', '.join(explained)} are anomalous",
                    explained,
                )
            return 0.6, "in the alerting component, none of whose callees is anomalous", ()
        if component not in self.reachable:
            return 0.1, f"not called (directly or indirectly) by {self.alert_component}", ()
        if explained:
            return (
                0.3,
                f"its callees {', '.join(explained)} are anomalous too, so they may explain it",
                explained,
            )
        twin = self._instrumented_twin(component)
        if twin is not None:
            return (
                0.45,
                f"has no known dependencies and changed together with its sibling {twin}: probably another "
                f"view (load balancer, endpoint, client) of {twin}",
                (twin,),
            )
        if component in self.on_path:
            hops = self.on_path[component]
            return (
                1.0,
                f"deepest anomalous component on an anomalous call path from {self.alert_component} "
                f"({hops} hop{'s' if hops != 1 else ''})",
                (),
            )
        hops = self.reachable[component]
        return (
            0.6,
            f"called by {self.alert_component} ({hops} hop{'s' if hops != 1 else ''}) "
            "through components that look normal",
            (),
        )

    def _explaining_callees(self, component: str) -> tuple[str, ...]:
        """Anomalous (effective) callees whose deviation is strong enough to account for this one's."""
        own = self.component_z.get(component)
        return tuple(
            sorted(
                c
                for c in self.graph.effective_callees(component, self.observed) & self.anomalous
                if own is None
                or c not in self.component_z
                or self.component_z[c] >= EXPLAINING_STRENGTH_RATIO * own
            )
        )

    def _instrumented_twin(self, component: str) -> str | None:
        """For a leaf (no known callees): an anomalous sibling with callees that changed at the same time.

        The leaf is then most likely the caller's view of that sibling (e.g. its load balancer), not a cause.
        """
        if self.graph.callees(component) or component not in self.component_onset:
            return None
        onset = self.component_onset[component]
        twins = sorted(
            s
            for s in self.graph.siblings(component)
            if s != self.alert_component
            and self.graph.callees(s)
            and s in self.component_onset
            and abs(self.component_onset[s] - onset) <= SIMULTANEOUS_SECONDS
        )
        return twins[0] if twins else None

    def _onset_score(self, series: SeriesEvidence) -> float:
        """Rank of the candidate's lead among the leads of the candidates that move with the alert's series,
        and whether it leads at all. One that does not (|correlation| < WEAK_CORRELATION) neither competes
        nor gains from having come first: precedence without association is no evidence of cause (it scores
        at most NEUTRAL)."""
        lead = self.leads.get(series.series_id)
        if lead is None:
            return NEUTRAL
        if _unrelated(series):
            return min(self._precedence(lead, sorted({*self.related_leads, lead}, reverse=True)), NEUTRAL)
        return self._precedence(lead, self.related_leads)

    @staticmethod
    def _precedence(lead: float, known: Sequence[float]) -> float:
        rank_score = 1.0 if len(known) == 1 else 1.0 - known.index(lead) / (len(known) - 1)
        sign_score = 1.0 if lead > 0 else (0.5 if lead == 0 else 0.0)
        return 0.7 * rank_score + 0.3 * sign_score

    def _family_score(
        self, series: SeriesEvidence, component: str | None, family: MetricFamily, is_alert: bool
    ) -> float:
        if is_alert:
            return 0.2
        if family is MetricFamily.REQUESTS and series.direction == "down":
            return 0.4
        if family not in SYMPTOM_FAMILIES:
            return 1.0
        if component is not None and component != self.alert_component:
            return 0.8
        return 0.3


def _unrelated(series: SeriesEvidence) -> bool:
    """The series does not move with the alert's (|correlation| known and below WEAK_CORRELATION)."""
    correlation = finite(series.correlation)
    return correlation is not None and abs(correlation) < WEAK_CORRELATION


def longest_range_seconds(query: str) -> float:
    """The longest range window of a PromQL expression's range selectors and subqueries, in seconds
    (`rate(x[5m])` 300, `max_over_time(y[1h:1m])` 3,600; 0 without any)."""
    return max(
        (
            sum(int(n) * _DURATION_UNITS[u] for n, u in _DURATION_PART.findall(m.group(1)))
            for m in _RANGE.finditer(query)
        ),
        default=0.0,
    )


def _component_strength_and_onset(
    series: Sequence[SeriesEvidence],
) -> tuple[dict[str, float], dict[str, float]]:
    """Per component: the largest |z| and the earliest onset among its anomalous series."""
    strength: dict[str, float] = {}
    onset: dict[str, float] = {}
    for s in series:
        component = component_of(s)
        if not (s.anomalous and component):
            continue
        z = abs(s.z_score) if s.z_score is not None else s.score
        strength[component] = max(strength.get(component, 0.0), z)
        if s.onset is not None:
            onset[component] = min(onset.get(component, s.onset), s.onset)
    return strength, onset


_OPTIONAL_FLOATS = (
    "onset",
    "recovered",
    "magnitude",
    "baseline",
    "current",
    "z_score",
    "p_value",
    "correlation",
    "lag_seconds",
)


def without_non_finite(series: SeriesEvidence) -> SeriesEvidence:
    """The series with NaN/infinite optional numbers treated as unknown (None) and a non-finite score as 0."""
    changes: dict[str, float | None] = {
        name: None for name in _OPTIONAL_FLOATS if finite(getattr(series, name)) is None
    }
    if not math.isfinite(series.score):
        changes["score"] = 0.0
    return dataclasses.replace(series, **changes) if changes else series  # type: ignore[arg-type]


def finite(value: float | None) -> float | None:
    """The value, or None when missing, NaN or infinite (detectors may emit those)."""
    return value if value is not None and math.isfinite(value) else None


def strength_of(series: SeriesEvidence) -> float:
    """|z| squashed to [0, 1) (z = 3 gives 0.5); the detector score stands in when z is unknown."""
    z_score, score = finite(series.z_score), finite(series.score) or 0.0
    if z_score is not None:
        z = abs(z_score)
    elif score > 1.0:
        z = score
    else:
        return max(0.0, min(1.0, score)) if score else NEUTRAL
    return z / (z + 3.0)
