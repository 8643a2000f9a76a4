"""Detection rules: conversion to the detectors' `DetectionRule`, and API-added rules in SQLite."""

from __future__ import annotations

import json
import re
import time
from typing import TYPE_CHECKING

import sqlite_utils

from detectors import AnomalyType, DetectionRule, DetectorError
from receiver.errors import ReceiverError

if TYPE_CHECKING:
    from receiver.scheduled.settings import RuleSettings


class RuleConflict(ReceiverError):
    """The rule exists already, or is read-only (defined in the configuration file)."""


class RuleNotFound(ReceiverError):
    """No rule has that name."""


def to_detection_rule(rule: RuleSettings) -> DetectionRule:
    """The detectors' rule for `rule`; a ValueError naming the field when a value is out of range."""
    try:
        anomaly_type = AnomalyType(rule.anomaly_type)
    except ValueError:
        names = ", ".join(t.value for t in AnomalyType)
        raise ValueError(f"anomaly_type={rule.anomaly_type!r}: use one of {names}") from None
    kwargs: dict[str, object] = {}
    if rule.severity_thresholds is not None:
        kwargs["severity_thresholds"] = dict(rule.severity_thresholds)
    try:
        return DetectionRule(
            name=rule.name,
            method=rule.method,
            anomaly_type=anomaly_type,
            metric=rule.metric,
            query=rule.query,
            threshold=rule.threshold,
            window_size=rule.window_size,
            min_samples=rule.min_samples,
            direction=rule.direction,
            contamination=rule.contamination,
            penalty=rule.penalty,
            **kwargs,  # type: ignore[arg-type]
        )
    except DetectorError as exc:
        raise ValueError(str(exc).replace("DetectionRule.", "")) from None


def field_of(message: str) -> str | None:
    """The rule field a validation message is about (`threshold=...: must be ...` → `threshold`)."""
    match = re.match(r"\s*(?:Value error, )?([a-z_]+)(?:=| has | must)", message)
    return match.group(1) if match else None


def load_api_rules(db: sqlite_utils.Database) -> list[dict[str, object]]:
    return [json.loads(row["body"]) for row in db.table("detection_rules").rows_where(order_by="created_at")]


def insert_api_rule(db: sqlite_utils.Database, name: str, body: dict[str, object]) -> None:
    if db.table("detection_rules").count_where("name = ?", [name]):
        raise RuleConflict(f"a rule named {name!r} exists already")
    db.table("detection_rules").insert({"name": name, "body": json.dumps(body), "created_at": time.time()})


def delete_api_rule(db: sqlite_utils.Database, name: str) -> None:
    if not db.table("detection_rules").count_where("name = ?", [name]):
        raise RuleNotFound(f"no rule named {name!r}")
    db.table("detection_rules").delete(name)
    db.table("detection_state").delete_where("rule = ?", [name])
