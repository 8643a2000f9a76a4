"""Scheduled-detection tables: rules added through the API, and per-series firing state.

Every function takes the sqlite-utils Database first; writes go through `Store.write` (one transaction).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping
from typing import Any

import sqlite_utils

from receiver.errors import RuleConflict, RuleNotFound
from receiver.storage.incidents import resolve_quiet_detector_incidents


def load_api_rules(db: sqlite_utils.Database) -> list[dict[str, object]]:
    return [json.loads(row["body"]) for row in db.table("detection_rules").rows_where(order_by="created_at")]


def insert_api_rule(db: sqlite_utils.Database, name: str, body: dict[str, object]) -> None:
    if db.table("detection_rules").count_where("name = ?", [name]):
        raise RuleConflict(f"a rule named {name!r} exists already")
    db.table("detection_rules").insert({"name": name, "body": json.dumps(body), "created_at": time.time()})


def _existing(db: sqlite_utils.Database, name: str) -> None:
    if not db.table("detection_rules").count_where("name = ?", [name]):
        raise RuleNotFound(f"no rule named {name!r}")


def replace_api_rule(db: sqlite_utils.Database, name: str, body: dict[str, object]) -> None:
    """Replace an API rule's fields; its firing state (cooldowns, open incidents) stays."""
    _existing(db, name)
    db.table("detection_rules").update(name, {"body": json.dumps(body)})


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
    drop those rules' firing state; the incidents' ids. Call through Store.write."""
    kept = {*configured, *api_rule_names(db)}
    firing = db.execute(
        "SELECT DISTINCT alertname FROM incidents WHERE status = 'firing' AND source = 'detector'"
    ).fetchall()
    stateful = db.execute("SELECT DISTINCT rule FROM detection_state").fetchall()
    gone = sorted({name for (name,) in [*firing, *stateful]} - kept)
    return _resolve_rules(db, gone, now) if gone else []


def _resolve_rules(db: sqlite_utils.Database, names: list[str], now: float) -> list[str]:
    """Resolve every firing incident of the rules `names` and drop their firing state (cooldowns)."""
    resolved = resolve_quiet_detector_incidents(
        db, evaluated_rules=names, active=(), opened_before=math.inf, now=now
    )
    for name in names:
        db.table("detection_state").delete_where("rule = ?", [name])
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
