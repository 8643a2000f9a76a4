"""Precedent: judged past incidents that looked like this one move the ranking (pure).

A cause confirmed on a similar past incident is raised, but only when it is among the anomalous
candidates now (its evidence is present); a cause judged wrong is lowered. Both shifts scale with
the precedent's signature similarity, so a loose resemblance moves little.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TypeVar

from analyst.builtin.entity_causes import EntityCause
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


def _matches(names: set[str], own_category: str, name: str | None, category: str | None) -> bool:
    if name:
        return name.lower() in names
    return category is not None and own_category == category


def precedent_shift(
    names: set[str], category: str, label: str, precedents: Sequence[Precedent]
) -> tuple[float, tuple[str, ...]]:
    """Score shift, in units of a top ranking score, for a candidate known by `names` (lower case) with
    `category`, and a note per precedent that moved it. Usable for any ranked candidate (series or entity)."""
    total = 0.0
    notes: list[str] = []
    for precedent in precedents:
        name, confirmed_category = precedent.confirmed_cause
        named = bool(name) and _matches(names, category, name, None)
        judged_wrong = (
            precedent.verdict == "wrong"
            and _matches(names, category, precedent.suspect, None)
            and category == precedent.category
        )
        # The suspect judged wrong stays lowered when the judge gave only its (right) category.
        if named or (not name and not judged_wrong and _matches(names, category, None, confirmed_category)):
            share = 1.0 if name else CATEGORY_ONLY_SHARE
            total += CONFIRMED_BOOST * share * precedent.similarity
            notes.append(f"raised {label}: confirmed cause of similar incident {precedent.incident_id}")
        elif judged_wrong:
            total -= WRONG_PENALTY * precedent.similarity
            notes.append(f"lowered {label}: judged wrong on similar incident {precedent.incident_id}")
    return total, tuple(notes)


def weigh_precedents(
    ranked: Sequence[RankedCause], precedents: Sequence[Precedent]
) -> tuple[list[RankedCause], tuple[str, ...]]:
    """The ranking with precedent shifts applied and re-sorted, and one note per shift."""
    if not precedents:
        return list(ranked), ()
    weighed, notes = _shifted(
        ranked, lambda c: precedent_shift(_names(c), c.category.value, c.suspect, precedents)
    )
    weighed.sort(key=lambda r: (-r.score, r.onset_offset if r.onset_offset is not None else float("inf")))
    return weighed, notes


def weigh_entity_precedents(
    causes: Sequence[EntityCause], precedents: Sequence[Precedent]
) -> tuple[list[EntityCause], tuple[str, ...]]:
    """The same for the component ranking, whose scores are not in [0, 1]: shifts are in units of the top
    component's score."""
    if not precedents or not causes:
        return list(causes), ()
    top = max(c.score for c in causes)

    def shift(cause: EntityCause) -> tuple[float, tuple[str, ...]]:
        names = {n.lower() for n in (cause.entity.name, cause.suspect) if n}
        amount, moved = precedent_shift(names, cause.category.value, cause.entity.name, precedents)
        return top * amount, moved

    weighed, notes = _shifted(causes, shift)
    weighed.sort(key=lambda c: -c.score)
    return weighed, notes


Scored = TypeVar("Scored", RankedCause, EntityCause)


def _shifted(
    candidates: Sequence[Scored], shift_of: Callable[[Scored], tuple[float, tuple[str, ...]]]
) -> tuple[list[Scored], tuple[str, ...]]:
    """Each candidate's score moved by its shift (unsorted), and the notes of every shift, once each."""
    notes: list[str] = []
    out = []
    for candidate in candidates:
        shift, moved = shift_of(candidate)
        notes += [note for note in moved if note not in notes]
        out.append(dataclasses.replace(candidate, score=candidate.score + shift) if shift else candidate)
    return out, tuple(notes)
