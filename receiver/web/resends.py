"""Identical re-sends: Alertmanager re-sends an unchanged group every `group_interval`/`repeat_interval`,
and each HA replica sends it too. The same bytes were validated and stored before, so a re-send is
answered from what was kept then, and stored as a reference to the first copy instead of a second body.
"""

from __future__ import annotations

import collections
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from receiver.payload import WebhookPayload
from receiver.storage.incidents import NotificationHead, alert_occurrences, alerts_by_status

DEFAULT_SIZE = 4096


@dataclass(frozen=True)
class Accepted:
    """A stored notification, as much of it as a re-send of the same bytes needs (not the payload)."""

    notification_id: int
    head: NotificationHead
    occurrences: tuple[tuple[str, str], ...]  # (occurrence id, alert status) per alert
    statuses: Mapping[str, int]
    truncated_alerts: int = 0  # alerts Alertmanager left out (max_alerts)


def accepted(
    notification_id: int, payload: WebhookPayload, occurrences: Sequence[tuple[str, str]] | None = None
) -> Accepted:
    """What to keep of a stored `payload`; `occurrences`: its `alert_occurrences`, when computed already."""
    head = NotificationHead.of(payload)
    alerts = tuple(alert_occurrences(payload) if occurrences is None else occurrences)
    return Accepted(notification_id, head, alerts, alerts_by_status(payload), payload.truncated_alerts)


class RecentBodies:
    """The last `size` distinct bodies stored, by SHA-256 digest (least recently seen forgotten first)."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.size = size
        self._seen: collections.OrderedDict[str, Accepted] = collections.OrderedDict()

    def get(self, digest: str) -> Accepted | None:
        found = self._seen.get(digest)
        if found is not None:
            self._seen.move_to_end(digest)
        return found

    def put(self, digest: str, stored: Accepted) -> None:
        self._seen[digest] = stored
        self._seen.move_to_end(digest)
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def clear(self) -> None:
        """Forget every body (after a prune deleted notifications: a remembered id may be gone)."""
        self._seen.clear()

    def __len__(self) -> int:
        return len(self._seen)
