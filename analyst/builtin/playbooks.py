"""Playbooks: immediate actions, preventive measures and monitoring per cause category, and the
follow-ups that replace the immediate actions once the alert has resolved.

Defaults ship in `analyst/playbooks/default.yaml`. A user YAML with the same shape overrides entries
field by field, or appends to them with `extend: true`. Keys are a category (`resource.cpu`) or a
category and metric family (`dependency.database:db_pool`), the latter applied before the former.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from analyst.builtin.categories import MetricFamily
from analyst.builtin.errors import PlaybookError
from analyst.builtin.narrative import readable_selector
from analyst.diagnosis import Category, Hypothesis

_LIST_FIELDS = ("immediate_actions", "preventive_measures", "monitoring_recommendations")


@dataclass(frozen=True)
class Playbook:
    title: str
    immediate_actions: tuple[str, ...] = ()
    preventive_measures: tuple[str, ...] = ()
    monitoring_recommendations: tuple[str, ...] = ()


@dataclass(frozen=True)
class Playbooks:
    """All playbook entries by key; `for_cause` picks and fills the ones that apply."""

    entries: Mapping[str, Playbook] = field(default_factory=dict)

    def for_cause(
        self, category: Category, family: MetricFamily | None, values: Mapping[str, str]
    ) -> Playbook:
        """Specific (`category:family`) steps first, then the category's; placeholders from `values`."""
        chosen = [
            p
            for p in (
                self.entries.get(f"{category}:{family}") if family else None,
                self.entries.get(str(category)),
            )
            if p is not None
        ]
        if not chosen:
            chosen = [self.entries.get(str(Category.UNKNOWN), Playbook(title="Undetermined cause"))]
        fill = _Placeholders(values)

        def merged(name: str) -> tuple[str, ...]:
            items = (line.format_map(fill) for p in chosen for line in getattr(p, name))
            return tuple(dict.fromkeys(items))

        return Playbook(
            title=chosen[0].title,
            immediate_actions=merged("immediate_actions"),
            preventive_measures=merged("preventive_measures"),
            monitoring_recommendations=merged("monitoring_recommendations"),
        )


class _Placeholders(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


class _EntryModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str | None = None
    extend: bool = False
    immediate_actions: list[str] | None = None
    preventive_measures: list[str] | None = None
    monitoring_recommendations: list[str] | None = None


class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    playbooks: dict[str, _EntryModel] = {}


def load_playbooks(path: str | None) -> Playbooks:
    """The shipped default playbooks, merged with the user's YAML file at `path` if given."""
    text = resources.files("analyst.playbooks").joinpath("default.yaml").read_text(encoding="utf-8")
    entries = _merge({}, _parse(text, "the default playbooks"))
    if path:
        try:
            user_text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise PlaybookError(f"cannot read playbooks file {path!r}: {exc}") from exc
        entries = _merge(entries, _parse(user_text, repr(path)))
    return Playbooks(entries=entries)


def _parse(text: str, source: str) -> dict[str, _EntryModel]:
    try:
        raw = yaml.safe_load(text) or {}
        model = _FileModel.model_validate(raw)
    except yaml.YAMLError as exc:
        raise PlaybookError(f"playbooks file {source} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        raise PlaybookError(
            f"playbooks file {source} must look like 'playbooks: {{category: {{...}}}}': {exc}"
        ) from exc
    for key in model.playbooks:
        _check_key(key, source)
    return model.playbooks


def _check_key(key: str, source: str) -> None:
    category, _, family = key.partition(":")
    categories = {c.value for c in Category}
    families = {f.value for f in MetricFamily}
    if category not in categories or (family and family not in families):
        raise PlaybookError(
            f"playbooks file {source}: unknown key {key!r}; use a category ({', '.join(sorted(categories))}) "
            f"optionally followed by ':' and a metric family ({', '.join(sorted(families))})"
        )


def _merge(base: dict[str, Playbook], updates: Mapping[str, _EntryModel]) -> dict[str, Playbook]:
    merged = dict(base)
    for key, entry in updates.items():
        old = merged.get(key, Playbook(title=key))
        lists: dict[str, tuple[str, ...]] = {}
        for name in _LIST_FIELDS:
            new = getattr(entry, name)
            current: tuple[str, ...] = getattr(old, name)
            if new is None:
                lists[name] = current
            else:
                lists[name] = (*current, *new) if entry.extend else tuple(new)
        merged[key] = Playbook(title=entry.title or old.title, **lists)
    return merged


def follow_up_actions(
    primary: Hypothesis, alertname: str, suspect_back: bool | None = None
) -> tuple[str, ...]:
    """What to do once `alertname` has resolved, instead of mitigating: confirm the recovery holds (or
    check the suspect first when the evidence shows it still off its baseline), confirm or refute the
    leading cause with its evidence, and review the incident if it recurs."""
    suspect = readable_selector(primary.suspect)
    if suspect_back is False:
        recovery = (
            f"{suspect} was still off its baseline when the evidence ends: check it before closing the "
            f"incident, as the cause may still be present and {alertname} fire again."
        )
    elif suspect_back:
        recovery = (
            f"Confirm the recovery holds: {suspect} is back within its usual range; check that it stays "
            f"there and that {alertname} does not fire again."
        )
    else:
        recovery = (
            f"Confirm the recovery holds: check that {suspect} is back at its baseline and stays there, "
            f"and that {alertname} does not fire again."
        )
    if primary.category is Category.UNKNOWN:
        cause = (
            "No cause stood out in the metrics: look at logs, traces and recent changes around the alert "
            "to find one."
        )
    else:
        cause = f"Confirm or refute the leading cause, {primary.title}"
        if primary.supporting_evidence:
            cause += f", with its evidence: {primary.supporting_evidence[0]}"
        if primary.contradicting_evidence:
            cause += f"; against it: {primary.contradicting_evidence[0]}"
        cause += "."
    review = f"If {alertname} recurs, open a post-incident review with this diagnosis and its evidence."
    return recovery, cause, review
