"""Tables of scheduled detection: rules and their state (created by the storage migrations)."""

from __future__ import annotations

import sqlite_utils


def migrate_detection(db: sqlite_utils.Database) -> None:
    """Create the detection tables (called once by the versioned migrations).

    `detection_rules`: rules added through the API (config-file rules are not stored).
    `detection_state`: per (rule, series) fingerprint, when it last opened an incident.
    """
    db.table("detection_rules").create({"name": str, "body": str, "created_at": float}, pk="name")
    db.table("detection_state").create(
        {
            "fingerprint": str,
            "rule": str,
            "series": str,
            "last_fired_at": float,
            "last_onset": float,
            "incident_id": str,
        },
        pk="fingerprint",
    )
    db.table("detection_state").create_index(["rule"])


def migrate_catch_up(db: sqlite_utils.Database) -> None:
    """Create `detection_catch_up`: per rule whose cycles are failing (a backend down), where the first
    failed cycle's window began and which definition of the rule failed, so a restart during the outage
    still has the next cycle that answers look back over all of it."""
    db.table("detection_catch_up").create({"rule": str, "since": float, "definition": str}, pk="rule")


def migrate_seen(db: sqlite_utils.Database) -> None:
    """Create `detection_seen`: per rule, up to when its last evaluated cycle looked and which definition
    it evaluated, so the first cycle after a restart looks back over the time the service was down."""
    db.table("detection_seen").create({"rule": str, "until": float, "definition": str}, pk="rule")
