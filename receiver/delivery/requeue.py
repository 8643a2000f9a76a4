"""Which failed rows a reload sends again once a destination's credentials changed (`reconfigure`).

`rows_to_requeue` is pure: the rows of the alert groups that still fire in, the decisions out.
`requeue_rejected_credentials` reads those rows, decides, moves and queues them in one transaction. A queue
sends in id order and a reply waits for its parent, so each Slack thread is posted again before its replies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import sqlite_utils

from receiver.delivery import grafana
from receiver.storage import outbox as db_outbox
from receiver.storage.database import transaction
from receiver.storage.outbox import FAILED, SUPPRESSED, GroupRow

# The rows that announce an alert: in Slack the parent opening its thread, or the reply adding it to one;
# in Grafana the region annotation it is drawn with. The planner announces an alert again when its
# announcement failed (a Slack reply, a re-diagnosis' region), so one may have several.
ANNOUNCEMENTS = ("parent", "alert", grafana.CREATE)


@dataclass(frozen=True)
class Requeue:
    """What a reload sends again: the rows to queue (ids, oldest first), and the Slack replies that join
    their group's current thread instead of a superseded one (reply id -> the current thread's parent id)."""

    ids: list[int]
    moves: dict[int, int] = field(default_factory=dict)


def requeue_rejected_credentials(db: sqlite_utils.Database, destinations: Sequence[str], now: float) -> int:
    """Move and queue again what `rows_to_requeue` decides among the rows of `destinations`; how many rows."""
    if not destinations:
        return 0
    with transaction(db):
        decision = rows_to_requeue(db_outbox.rows_of_firing_groups(db, destinations))
        moved = db_outbox.move_to_thread(db, decision.moves, now)
        db_outbox.requeue(db, [moved.get(delivery_id, delivery_id) for delivery_id in decision.ids], now)
    return len(decision.ids)


def rows_to_requeue(rows: Sequence[GroupRow]) -> Requeue:
    """Every failed row still worth sending (its alert fires, or it is the parent of its group's open thread)
    that failed on refused credentials, or on a parent that did, with that parent; then the rows that failed
    depending on one queued again. An alert is announced once: only its newest announcement is sent again,
    and none while another is live. A group keeps one thread: a reply that waited on a superseded thread's
    parent (one not sent again for itself) moves to the group's current thread, whose parent is queued too
    if it was refused, and stays failed, as a reply whose thread is gone, when there is none to join."""
    by_id = {row.id: row for row in rows}
    repeats = _repeated_announcements(rows)
    current = {row.group_key: row for row in rows if row.kind == "parent" and row.open_thread}
    queued: set[int] = set()
    moves: dict[int, int] = {}
    for row in rows:
        if row.status != FAILED or not _worth_sending(row, repeats):
            continue
        chain = _failed_chain(row, by_id)
        if not chain[-1].rejected:
            continue
        if _superseded(chain[-1], repeats):
            thread = _joinable(current.get(row.group_key), repeats)
            if thread is None:
                continue
            moves[chain[-2].id] = thread.id
            chain = [*chain[:-1], thread]
        queued.update(link.id for link in chain if link.status == FAILED)
    added = queued
    while added:
        settled = queued | repeats
        added = {
            row.id
            for row in rows
            if row.status == FAILED and row.waited and row.depends_on in added and row.id not in settled
        }
        queued |= added
    return Requeue(sorted(queued), moves)


def _worth_sending(row: GroupRow, repeats: set[int]) -> bool:
    """Whether a failed row is sent again for itself: its alert fires, or it is its group's open thread's
    parent, and it repeats no announcement."""
    return row.id not in repeats and (row.firing or row.open_thread)


def _superseded(row: GroupRow, repeats: set[int]) -> bool:
    """A Slack parent of an older thread of its group that is not sent again for itself: posting it for
    a reply would open a second thread for the group."""
    return row.kind == "parent" and not _worth_sending(row, repeats)


def _joinable(parent: GroupRow | None, repeats: set[int]) -> GroupRow | None:
    """The group's current thread's parent if a moved reply can wait on it: live, or refused and sent
    again (one that failed for a reason of its own would fail the reply again)."""
    if parent is None or parent.status == SUPPRESSED:
        return None
    if parent.status != FAILED or (parent.rejected and parent.id not in repeats):
        return parent
    return None


def _repeated_announcements(rows: Sequence[GroupRow]) -> set[int]:
    """The failed announcements that sending again would repeat: all but an alert's newest, and all of an
    alert with a live (pending, in flight or sent) announcement."""
    announcements: dict[tuple[str, str], list[GroupRow]] = {}
    for row in rows:
        if row.kind in ANNOUNCEMENTS and row.status != SUPPRESSED:
            announcements.setdefault((row.incident_id, row.destination), []).append(row)
    repeats: set[int] = set()
    for rows_of_alert in announcements.values():
        older = sorted(rows_of_alert, key=lambda row: row.id)[:-1]
        live = any(row.status != FAILED for row in rows_of_alert)
        repeats.update(row.id for row in (rows_of_alert if live else older) if row.status == FAILED)
    return repeats


def _failed_chain(row: GroupRow, by_id: Mapping[int, GroupRow]) -> list[GroupRow]:
    """`row`, then the failed row it waited on, and so on up to one that failed for a reason of its own."""
    chain = [row]
    while chain[-1].waited and chain[-1].depends_on is not None:
        parent = by_id.get(chain[-1].depends_on)
        if parent is None or parent.status != FAILED:
            break
        chain.append(parent)
    return chain
