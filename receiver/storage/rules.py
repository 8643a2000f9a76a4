"""Scheduled-detection tables: rules added through the API, and per-series firing state.

Every function takes the sqlite-utils Database first; writes go through `Store.write` (one transaction).
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import sqlite_utils

from receiver.errors import RuleConflict, RuleNotFound


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


def delete_api_rule(db: sqlite_utils.Database, name: str) -> None:
    """Delete the rule and its firing state (call through Store.write: both go in one transaction)."""
    _existing(db, name)
    db.table("detection_rules").delete(name)
    db.table("detection_state").delete_where("rule = ?", [name])


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
