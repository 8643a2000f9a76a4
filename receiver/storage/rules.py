"""Scheduled-detection tables: rules added through the API, per-series firing state, and the outage
catch-up of rules whose cycles fail.

Every function takes the sqlite-utils Database first; writes go through `Store.write` (one transaction).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import sqlite_utils

from receiver.errors import RuleConflict, RuleNotFound
from receiver.storage.incidents import resolve_quiet_detector_incidents


def load_api_rules(db: sqlite_utils.Database) -> list[dict[str, object]]:
    return [json.loads(row["body"]) for row in db.table("detection_rules").rows_where(order_by="created_at")]


def insert_api_rule(db: sqlite_utils.Database, name: str, body: dict[str, object]) -> None:
    if api_rule_exists(db, name):
        raise RuleConflict(f"a rule named {name!r} exists already")
    db.table("detection_rules").insert({"name": name, "body": json.dumps(body), "created_at": time.time()})


def _existing(db: sqlite_utils.Database, name: str) -> None:
    if not api_rule_exists(db, name):
        raise RuleNotFound(f"no rule named {name!r}")


def replace_api_rule(db: sqlite_utils.Database, name: str, body: dict[str, object]) -> None:
    """Replace an API rule's fields; its firing state (cooldowns, open incidents) stays, its catch-up
    goes (the new definition has missed nothing)."""
    _existing(db, name)
    db.table("detection_rules").update(name, {"body": json.dumps(body)})
    clear_catch_up(db, [name])


def delete_api_rule(db: sqlite_utils.Database, name: str, now: float) -> list[str]:
    """Delete the rule and its firing state, and resolve the incidents it has firing (ending `now`); their
    ids (call through Store.write: all go in one transaction)."""
    _existing(db, name)
    db.table("detection_rules").delete(name)
    return _resolve_rules(db, [name], now)


def api_rule_exists(db: sqlite_utils.Database, name: str) -> bool:
    return bool(db.table("detection_rules").count_where("name = ?", [name]))


def api_rule_names(db: sqlite_utils.Database) -> list[str]:
    """Every stored API rule's name (also those that no longer validate)."""
    return [name for (name,) in db.execute("SELECT name FROM detection_rules").fetchall()]


def resolve_removed_rules(db: sqlite_utils.Database, *, configured: Iterable[str], now: float) -> list[str]:
    """Resolve (ending `now`) the firing detector incidents of rules neither `configured` nor stored any
    more (deleted, or gone from the configuration: no cycle evaluates them, so nothing else would), and
    drop those rules' firing state and catch-up; the incidents' ids. Call through Store.write."""
    kept = {*configured, *api_rule_names(db)}
    firing = db.execute(
        "SELECT DISTINCT alertname FROM incidents WHERE status = 'firing' AND source = 'detector'"
    ).fetchall()
    stateful = db.execute(
        "SELECT DISTINCT rule FROM detection_state UNION SELECT rule FROM detection_catch_up"
        " UNION SELECT rule FROM detection_seen"
    ).fetchall()
    gone = sorted({name for (name,) in [*firing, *stateful]} - kept)
    return _resolve_rules(db, gone, now) if gone else []


def _resolve_rules(db: sqlite_utils.Database, names: list[str], now: float) -> list[str]:
    """Resolve every firing incident of the rules `names`; drop their firing state (cooldowns) and
    catch-up."""
    resolved = resolve_quiet_detector_incidents(
        db, evaluated_rules=names, active=(), opened_before=math.inf, now=now
    )
    for name in names:
        db.table("detection_state").delete_where("rule = ?", [name])
        db.table("detection_seen").delete_where("rule = ?", [name])
    clear_catch_up(db, names)
    return resolved


def load_state(db: sqlite_utils.Database, fingerprint: str) -> dict[str, Any] | None:
    """When the (rule, series) `fingerprint` last opened an incident, or None."""
    rows = list(db.table("detection_state").rows_where("fingerprint = ?", [fingerprint]))
    return rows[0] if rows else None


def save_state(
    db: sqlite_utils.Database,
    *,
    fingerprint: str,
    rule: str,
    series_labels: Mapping[str, str],
    fired_at: float,
    onset: float,
    incident_id: str | None,
) -> None:
    db.table("detection_state").upsert(
        {
            "fingerprint": fingerprint,
            "rule": rule,
            "series": json.dumps(dict(series_labels), sort_keys=True),
            "last_fired_at": fired_at,
            "last_onset": onset,
            "incident_id": incident_id,
        },
        pk="fingerprint",
    )


def resume_catch_up(db: sqlite_utils.Database, definitions: Mapping[str, str]) -> dict[str, float]:
    """Per rule whose cycles failed, where the first failed cycle's window began: of the rules still
    defined as they were (`definitions`: name to definition). The rows of rules defined otherwise now are
    dropped (a changed rule has missed nothing); those of removed rules go with `resolve_removed_rules`.
    Call through Store.write."""
    return _resume(db, "detection_catch_up", "since", definitions)


def save_catch_up(db: sqlite_utils.Database, definitions: Mapping[str, str], since: float) -> None:
    """The rules `definitions` (name: definition) failed a cycle whose window began at `since`, and had
    not failed since their last evaluated one (any older row is of another definition: replaced)."""
    _save(db, "detection_catch_up", "since", definitions, since)


def clear_catch_up(db: sqlite_utils.Database, rules: Iterable[str]) -> None:
    """The rules were evaluated again (or changed, or removed): nothing left to catch up on."""
    db.conn.executemany("DELETE FROM detection_catch_up WHERE rule = ?", [(rule,) for rule in rules])


def save_seen(db: sqlite_utils.Database, definitions: Mapping[str, str], until: float) -> None:
    """The rules `definitions` (name: definition) were evaluated by a cycle that looked up to `until`."""
    _save(db, "detection_seen", "until", definitions, until)


def resume_seen(db: sqlite_utils.Database, definitions: Mapping[str, str]) -> dict[str, float]:
    """Per rule still defined as it was (`definitions`: name to definition), up to when a previous run's
    cycles evaluated it; the rows of rules defined otherwise now are dropped. Call through Store.write."""
    return _resume(db, "detection_seen", "until", definitions)


# The per-rule tables a restart resumes from, each keyed by rule with the rule's definition beside a time.
_RuleTable = Literal["detection_catch_up", "detection_seen"]


def _save(
    db: sqlite_utils.Database, table: _RuleTable, column: str, definitions: Mapping[str, str], at: float
) -> None:
    """`at` in `column` of `table` for each rule of `definitions` (name: definition), any older row
    replaced."""
    db.conn.executemany(
        f"INSERT OR REPLACE INTO {table} (rule, {column}, definition) VALUES (?, ?, ?)",
        [(rule, at, definition) for rule, definition in definitions.items()],
    )


def _resume(
    db: sqlite_utils.Database, table: _RuleTable, column: str, definitions: Mapping[str, str]
) -> dict[str, float]:
    """`column` of `table` per rule still defined as it was (`definitions`); the rows of rules defined
    otherwise now are dropped (those of removed rules go with `resolve_removed_rules`)."""
    rows = db.execute(f"SELECT rule, {column}, definition FROM {table}").fetchall()
    changed = [(rule,) for rule, _, definition in rows if definitions.get(rule, definition) != definition]
    db.conn.executemany(f"DELETE FROM {table} WHERE rule = ?", changed)
    return {rule: at for rule, at, definition in rows if definitions.get(rule) == definition}
