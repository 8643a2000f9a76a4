"""The plug-in point for write-back destinations: one `Sink` per destination."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import sqlite_utils

from receiver.storage.outbox import Delivery


class Sink(Protocol):
    """Sends outbox rows to one destination.

    `send` returns the result to store (e.g. Slack `ts`, Grafana annotation `id`) or raises
    RetryableDeliveryError / PermanentDeliveryError. `recover` runs before resending a row that a crash
    left in flight: it returns the result if the earlier request did reach the destination, None if it
    is safe to send again, or raises OutcomeUnknownError (the row then fails rather than risk a
    duplicate). `record_result` runs on the database thread in
    the transaction that marks the row sent.
    """

    destination: str

    async def send(self, delivery: Delivery) -> dict[str, Any]: ...

    async def recover(self, delivery: Delivery) -> dict[str, Any] | None: ...

    def record_result(
        self, db: sqlite_utils.Database, delivery: Delivery, result: Mapping[str, Any]
    ) -> None: ...
