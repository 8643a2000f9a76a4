"""Retention: delete what ended before a cut, in bounded batches through the Store's single writer.

An incident goes once it is resolved (or superseded) before the cut and nothing keeps it:
- operator feedback on it (the learned memory keeps the incident, its diagnosis and evidence);
- another incident still using its evidence by reference (`evidence_of`): it goes with the next prune
  after the referrer;
- delivery work not finished (an outbox row pending or in flight), or a Slack thread it opened that is
  still open (replies depend on the parent message's row);
- pipeline work left (a stage to run, a resolution to deliver).
Firing incidents are never pruned. With the incident go its stage results, diagnoses, signature,
full-text rows, delivery rows, noise decision, Grafana annotation and recent-analysis entry; a Slack
thread row goes once no incident of its group is left. A `superseded_by` link may then point nowhere.

A notification (webhook body) goes once it is older than the cut, no kept incident was created by it,
and no kept re-send refers to it through `same_as`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import sqlite_utils

from receiver.storage.database import Store

# Incidents per transaction: an ack queued behind a batch waits for it (10-30 ms here, 2 shared cores). Under
# 50 webhooks/s (`python -m bench.retention`) 100 kept ack p99 at 59-84 ms during a bulk prune; 200 gave
# 84-114 ms; 27-41 ms without pruning.
INCIDENT_BATCH = 100
# Notifications (and full-text rows) per transaction: cheaper rows, larger batches.
ROW_BATCH = 1000
# Full-text rows read per step of the walk for orphans (on the reader connection: no write lock held).
TEXT_SCAN = 20_000

# An incident's end for retention: when it ended, or when it was last heard of if later (a resolution
# replayed today of an alert that ended long ago is not deleted a minute after it arrives). The
# expression idx_incidents_resolved_end indexes.
_END = "max(coalesce(ends_at, last_seen), last_seen)"
EXPIRED_INCIDENTS_SQL = (
    f"SELECT {_END}, id, rowid, group_key FROM incidents i INDEXED BY idx_incidents_resolved_end"
    f" WHERE status = 'resolved' AND {_END} < ? AND {_END} >= ? AND ({_END} > ? OR id > ?)"
    " AND stage = 'done' AND resolve_pending = 0"
    " AND NOT EXISTS (SELECT 1 FROM feedback f WHERE f.incident_id = i.id)"
    " AND NOT EXISTS (SELECT 1 FROM incidents r WHERE r.evidence_of = i.id)"
    " AND NOT EXISTS (SELECT 1 FROM delivery_outbox o WHERE o.incident_id = i.id"
    "  AND o.status IN ('pending', 'in_flight'))"
    " AND NOT EXISTS (SELECT 1 FROM slack_threads t WHERE t.incident_id = i.id AND t.resolved_at IS NULL)"
    f" ORDER BY {_END}, id LIMIT ?"
)
# Rows keyed by incident id that go with their incident (children first: foreign keys are on).
INCIDENT_ROWS = (
    "stage_results",
    "diagnoses",
    "incident_signatures",
    "delivery_outbox",
    "delivery_group_members",
    "delivery_decisions",
    "grafana_annotations",
    "recent_analyses",
    "incident_text_rows",
)


Cursor = TypeVar("Cursor")


@dataclass(frozen=True)
class PruneBatch(Generic[Cursor]):
    """What one transaction deleted (table -> rows) and where the next one starts (None: done)."""

    deleted: Mapping[str, int]
    resume_after: Cursor | None = None


def _marks(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


def _delete_in(db: sqlite_utils.Database, table: str, column: str, values: Sequence[object]) -> int:
    if not values:
        return 0
    sql = f"DELETE FROM {table} WHERE {column} IN ({_marks(values)})"
    return int(db.conn.execute(sql, list(values)).rowcount)


def prune_incident_batch(
    db: sqlite_utils.Database, cut: float, after: tuple[float, str], limit: int = INCIDENT_BATCH
) -> PruneBatch[tuple[float, str]]:
    """Delete up to `limit` expired incidents ordered by end after `after` (end, id), with their rows."""
    rows = db.conn.execute(EXPIRED_INCIDENTS_SQL, (cut, after[0], *after, limit)).fetchall()
    if not rows:
        return PruneBatch({})
    ids = [r[1] for r in rows]
    deleted = {table: _delete_in(db, table, "incident_id", ids) for table in INCIDENT_ROWS}
    deleted["incident_search"] = _delete_in(db, "incident_search", "rowid", [r[2] for r in rows])
    deleted["incidents"] = _delete_in(db, "incidents", "id", ids)
    groups = sorted({r[3] for r in rows if r[3]})
    deleted["slack_threads"] = (
        int(
            db.conn.execute(
                f"DELETE FROM slack_threads WHERE group_key IN ({_marks(groups)}) AND NOT EXISTS"
                " (SELECT 1 FROM incidents i WHERE i.group_key = slack_threads.group_key)",
                groups,
            ).rowcount
        )
        if groups
        else 0
    )
    last = rows[-1]
    return PruneBatch(deleted, (last[0], last[1]) if len(rows) == limit else None)


def prune_notification_batch(
    db: sqlite_utils.Database, cut: float, after_id: int, limit: int = ROW_BATCH
) -> PruneBatch[int]:
    """Delete, among the next `limit` notifications after `after_id`, those received before `cut` that no
    incident was created from and no kept re-send refers to.

    Ids follow arrival, so the walk stops at the first one received after the cut rather than reading
    the rest of the table (nothing is indexed by time)."""
    rows = db.conn.execute(
        "SELECT id, received_at >= ?, pending = 0"
        " AND NOT EXISTS (SELECT 1 FROM incidents i WHERE i.notification_id = n.id)"
        " FROM notifications n WHERE id > ? ORDER BY id LIMIT ?",
        (cut, after_id, limit),
    ).fetchall()
    newer = next((index for index, row in enumerate(rows) if row[1]), None)
    walked = rows if newer is None else rows[:newer]
    candidates = [row[0] for row in walked if row[2]]
    referenced = {
        r[0]
        for r in db.conn.execute(
            f"SELECT same_as FROM notifications WHERE same_as IN ({_marks(candidates)})"
            f" AND id NOT IN ({_marks(candidates)})",
            [*candidates, *candidates],
        )
    }
    gone = [n for n in candidates if n not in referenced]
    deleted = {"notifications": _delete_in(db, "notifications", "id", gone)}
    more = newer is None and len(rows) == limit
    return PruneBatch(deleted, walked[-1][0] if more else None)


def orphan_text_rows(
    db: sqlite_utils.Database, after_rowid: int, limit: int = TEXT_SCAN
) -> tuple[list[int], int | None]:
    """Rowids of full-text memory rows (`incident_text`) among the next `limit` whose incident is gone,
    and where the walk goes on (None: done). Read-only: run it on the reader connection.

    Its incident id is an unindexed FTS5 column, so orphans are found by walking the table in rowid
    order rather than by a lookup per pruned incident."""
    rows = db.conn.execute(
        "SELECT t.rowid, EXISTS (SELECT 1 FROM incidents i WHERE i.id = t.incident_id) FROM incident_text t"
        " WHERE t.rowid > ? ORDER BY t.rowid LIMIT ?",
        (after_rowid, limit),
    ).fetchall()
    return [r[0] for r in rows if not r[1]], rows[-1][0] if len(rows) == limit else None


def delete_text_rows(db: sqlite_utils.Database, rowids: Sequence[int]) -> PruneBatch[None]:
    return PruneBatch({"incident_text": _delete_in(db, "incident_text", "rowid", rowids)})


def prune_small_tables(db: sqlite_utils.Database, cut: float) -> PruneBatch[None]:
    """Scheduled-detection state last fired before the cut, Slack replay signatures seen before it, and
    the workbench's on-demand results made before it."""
    return PruneBatch(
        {
            "detection_state": int(
                db.conn.execute("DELETE FROM detection_state WHERE last_fired_at < ?", (cut,)).rowcount
            ),
            "slack_replays": int(
                db.conn.execute("DELETE FROM slack_replays WHERE seen_at < ?", (cut,)).rowcount
            ),
            "ondemand_results": int(
                db.conn.execute("DELETE FROM ondemand_results WHERE created_at < ?", (cut,)).rowcount
            ),
        }
    )


async def prune_before(
    store: Store, cut: float, *, incident_batch: int = INCIDENT_BATCH, row_batch: int = ROW_BATCH
) -> AsyncIterator[Mapping[str, int]]:
    """Prune everything that ended before `cut`, one write per batch, yielding what each batch deleted
    (between two batches the caller may pause; queued webhook writes run in between)."""
    after: tuple[float, str] | None = (float("-inf"), "")
    pruned_incidents = 0
    while after is not None:
        incidents = await store.write(prune_incident_batch, cut, after, incident_batch)
        pruned_incidents += incidents.deleted.get("incidents", 0)
        yield incidents.deleted
        after = incidents.resume_after
    after_id: int | None = 0
    while after_id is not None:
        notifications = await store.write(prune_notification_batch, cut, after_id, row_batch)
        yield notifications.deleted
        after_id = notifications.resume_after
    after_rowid: int | None = 0 if pruned_incidents else None
    while after_rowid is not None:
        orphans, after_rowid = await store.read(orphan_text_rows, after_rowid)
        for start in range(0, len(orphans), row_batch):
            yield (await store.write(delete_text_rows, orphans[start : start + row_batch])).deleted
    yield (await store.write(prune_small_tables, cut)).deleted
