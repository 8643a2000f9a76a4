"""Precedent: judged past incidents that looked like this one move the ranking (pure).

A cause confirmed on a similar past incident is raised, but only when it is among the anomalous
candidates now (its evidence is present); a cause judged wrong is lowered. Both shifts scale with
the precedent's signature similarity, so a loose resemblance moves little.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from analyst.builtin.ranking import RankedCause
from analyst.evidence import Precedent

# Score shifts at similarity 1 (ranking scores are in [0, 1]); chosen on bench.feedback's development
# stream so that one confirmed precedent overturns a ranking, and one wrong judgement demotes it.
CONFIRMED_BOOST = 0.5
WRONG_PENALTY = 0.3
# A precedent that names only a category (no series or entity) raises every cause of that category less.
CATEGORY_ONLY_SHARE = 0.5


def _names(cause: RankedCause) -> set[str]:
    series = cause.series
    return {n.lower() for n in (cause.suspect, cause.component, series.series_id, series.metric) if n}


def _matches(cause: RankedCause, name: str | None, category: str | None) -> bool:
    if name:
        return name.lower() in _names(cause)
    return category is not None and cause.category.value == category


def _shift(cause: RankedCause, precedent: Precedent) -> tuple[float, str | None]:
    name, category = precedent.confirmed_cause
    if (name or category) and _matches(cause, name, category):
        share = 1.0 if name else CATEGORY_ONLY_SHARE
        boost = CONFIRMED_BOOST * share * precedent.similarity
        return boost, f"raised {cause.suspect}: confirmed cause of similar incident {precedent.incident_id}"
    wrong = precedent.verdict == "wrong" and _matches(cause, precedent.suspect, None)
    if wrong and cause.category.value == precedent.category:
        penalty = WRONG_PENALTY * precedent.similarity
        return -penalty, f"lowered {cause.suspect}: judged wrong on similar incident {precedent.incident_id}"
    return 0.0, None


def weigh_precedents(
    ranked: Sequence[RankedCause], precedents: Sequence[Precedent]
) -> tuple[list[RankedCause], tuple[str, ...]]:
    """The ranking with precedent shifts applied and re-sorted, and one note per shift."""
    if not precedents:
        return list(ranked), ()
    notes: list[str] = []
    weighed = []
    for cause in ranked:
        total = 0.0
        for precedent in precedents:
            shift, note = _shift(cause, precedent)
            total += shift
            if note and note not in notes:
                notes.append(note)
        weighed.append(dataclasses.replace(cause, score=cause.score + total) if total else cause)
    weighed.sort(key=lambda r: (-r.score, r.onset_offset if r.onset_offset is not None else float("inf")))
    return weighed, tuple(notes)
