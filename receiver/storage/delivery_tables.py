"""Tables of the delivery outbox (created by the storage migrations).

- `delivery_outbox`: one row per request to a destination, with its retry state.
- `delivery_group_members`: incidents per alert group, to know when a whole group has resolved.
- `delivery_decisions`: the noise-control verdict per incident (made once, reused for every event).
- `slack_threads`: the parent message of each alert group's thread (survives restarts).
- `grafana_annotations`: the Grafana annotation id of each incident, to close the region on resolve.
"""

from __future__ import annotations

import sqlite_utils

DDL = """
CREATE TABLE delivery_outbox (
    id INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL,
    group_key TEXT,
    destination TEXT NOT NULL,
    queue TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    depends_on INTEGER,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL,
    last_error TEXT,
    result TEXT,
    similarity_key TEXT,
    reconcile INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    sent_at REAL
);
CREATE INDEX idx_delivery_outbox_queue ON delivery_outbox (queue, status, id);
CREATE INDEX idx_delivery_outbox_status ON delivery_outbox (status);
CREATE INDEX idx_delivery_outbox_incident ON delivery_outbox (incident_id);
CREATE INDEX idx_delivery_outbox_group ON delivery_outbox (group_key, destination);
CREATE INDEX idx_delivery_outbox_similarity ON delivery_outbox (similarity_key);
CREATE TABLE delivery_group_members (
    incident_id TEXT PRIMARY KEY,
    group_key TEXT,
    status TEXT NOT NULL,
    starts_at REAL NOT NULL,
    ends_at REAL
);
CREATE INDEX idx_delivery_group_members_group ON delivery_group_members (group_key);
CREATE TABLE delivery_decisions (
    incident_id TEXT PRIMARY KEY,
    alertname TEXT NOT NULL,
    decided_at REAL NOT NULL,
    suppressed_reason TEXT
);
CREATE INDEX idx_delivery_decisions_alertname ON delivery_decisions (alertname, decided_at);
CREATE TABLE slack_threads (
    group_key TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    parent_delivery_id INTEGER NOT NULL,
    channel_id TEXT,
    ts TEXT,
    alertname TEXT,
    severity TEXT,
    summary TEXT,
    opened_at REAL,
    resolved_at REAL
);
CREATE TABLE grafana_annotations (
    incident_id TEXT PRIMARY KEY,
    delivery_id INTEGER NOT NULL,
    annotation_id INTEGER NOT NULL,
    updated_at REAL NOT NULL
);
"""


def migrate_delivery(db: sqlite_utils.Database) -> None:
    """Create the delivery tables (called once by the versioned migrations, inside their transaction)."""
    for statement in DDL.split(";"):
        if statement.strip():
            db.conn.execute(statement)


def migrate_credentials_rejected(db: sqlite_utils.Database) -> None:
    """A failed row says whether the destination refused the credentials: a reload that changes that
    destination's settings queues it again (`receiver.delivery.requeue`)."""
    db.execute("ALTER TABLE delivery_outbox ADD COLUMN credentials_rejected INTEGER NOT NULL DEFAULT 0")
