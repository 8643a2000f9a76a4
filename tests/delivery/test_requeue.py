"""`rows_to_requeue`, the pure choice of what a reload sends again after refused credentials: a reply that
waited on a superseded Slack thread moves to its group's current thread instead of reopening the old one."""

from __future__ import annotations

from typing import Any

from receiver.delivery.requeue import Requeue, rows_to_requeue
from receiver.storage.outbox import FAILED, SENT, GroupRow

REFUSED = "refused"  # failed on refused credentials


def row(row_id: int, kind: str, incident: str, status: str = FAILED, **fields: Any) -> GroupRow:
    """A Slack row of the group "g"; `status` REFUSED is a failure on refused credentials."""
    flags = {"rejected": status == REFUSED, "waited": False, "firing": False, "open_thread": False}
    return GroupRow(
        id=row_id,
        incident_id=incident,
        group_key="g",
        destination="slack",
        kind=kind,
        status=FAILED if status == REFUSED else status,
        depends_on=fields.pop("depends_on", None),
        **{**flags, **fields},
    )


def waiting_replies() -> list[GroupRow]:
    """The resolved first alert's refused parent, the second alert's reply and diagnosis that waited on it."""
    return [
        row(1, "parent", "inc-1", REFUSED),
        row(2, "alert", "inc-2", depends_on=1, waited=True, firing=True),
        row(3, "diagnosis", "inc-2", depends_on=1, waited=True, firing=True),
    ]


def test_the_replies_move_to_the_current_thread_queued_with_its_refused_parent() -> None:
    current = row(4, "parent", "inc-3", REFUSED, firing=True, open_thread=True)

    assert rows_to_requeue([*waiting_replies(), current]) == Requeue([2, 3, 4], {2: 4, 3: 4})


def test_the_replies_move_to_a_current_thread_that_was_sent() -> None:
    current = row(4, "parent", "inc-3", SENT, firing=True, open_thread=True)

    assert rows_to_requeue([*waiting_replies(), current]) == Requeue([2, 3], {2: 4, 3: 4})


def test_without_a_current_thread_to_join_the_replies_stay_failed() -> None:
    broken = row(4, "parent", "inc-3", firing=True, open_thread=True)  # failed for a reason of its own

    assert rows_to_requeue(waiting_replies()) == Requeue([])
    assert rows_to_requeue([*waiting_replies(), broken]) == Requeue([])


def test_an_older_thread_whose_alert_fires_is_sent_again_with_its_replies() -> None:
    _, *replies = waiting_replies()
    current = row(4, "parent", "inc-3", REFUSED, firing=True, open_thread=True)

    decision = rows_to_requeue([row(1, "parent", "inc-1", REFUSED, firing=True), *replies, current])

    assert decision == Requeue([1, 2, 3, 4])
