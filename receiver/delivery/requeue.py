"""Which failed rows a reload sends again once a destination's credentials changed (`reconfigure`).

`rows_to_requeue` is pure: the rows of the alert groups that still fire in, the ids to queue again out.
`requeue_rejected_credentials` reads those rows, decides and queues them in one transaction. A queue sends
in id order and a reply waits for its parent, so each Slack thread is posted again before its replies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import sqlite_utils

from receiver.delivery import grafana
from receiver.storage import outbox as db_outbox
from receiver.storage.database import transaction
from receiver.storage.outbox import FAILED, SUPPRESSED, GroupRow

# The rows that announce an alert: in Slack the parent opening its thread, or the reply adding it to one;
# in Grafana the region annotation it is drawn with. The planner announces an alert again when its
# announcement failed (a Slack reply, a re-diagnosis' region), so one may have several.
ANNOUNCEMENTS = ("parent", "alert", grafana.CREATE)


def requeue_rejected_credentials(db: sqlite_utils.Database, destinations: Sequence[str], now: float) -> int:
    """Queue again what `rows_to_requeue` picks among the rows of `destinations`; how many rows."""
    if not destinations:
        return 0
    with transaction(db):
        delivery_ids = rows_to_requeue(db_outbox.rows_of_firing_groups(db, destinations))
        db_outbox.requeue(db, delivery_ids, now)
    return len(delivery_ids)


def rows_to_requeue(rows: Sequence[GroupRow]) -> list[int]:
    """Every failed row still worth sending (its alert fires, or it is the parent of its group's open thread)
    that failed on refused credentials, or on a parent that did, with that parent (an older thread's too);
    then the rows that failed depending on one queued again. An alert is announced once: only its newest
    announcement is sent again, and none while another is live."""
    by_id = {row.id: row for row in rows}
    repeats = _repeated_announcements(rows)
    queued: set[int] = set()
    for row in rows:
        if row.status == FAILED and row.id not in repeats and (row.firing or row.open_thread):
            chain = _failed_chain(row, by_id)
            if chain[-1].rejected:
                queued.update(link.id for link in chain)
    added = queued
    while added:
        settled = queued | repeats
        added = {
            row.id
            for row in rows
            if row.status == FAILED and row.waited and row.depends_on in added and row.id not in settled
        }
        queued |= added
    return sorted(queued)


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
