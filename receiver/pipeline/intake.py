"""Webhooks in flight: background work defers to intake, because Alertmanager is waiting for the acks."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator

SETTLE_SECONDS = 0.02


class IntakeActivity:
    """Counts webhook requests in flight and when the last one ended.

    `wait_quiet` returns once no webhook is in flight and none has been for `settle` seconds (a gap
    between two requests of a burst is not quiet), or after `at_most` seconds whatever happens.
    """

    def __init__(self, settle: float = SETTLE_SECONDS) -> None:
        self.settle = settle
        self._in_flight = 0
        self._last_done = 0.0
        self._quiet = asyncio.Event()
        self._quiet.set()

    @contextlib.contextmanager
    def receiving(self) -> Iterator[None]:
        self._in_flight += 1
        self._quiet.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            self._last_done = time.monotonic()
            if self._in_flight == 0:
                self._quiet.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def wait_quiet(self, at_most: float) -> None:
        deadline = time.monotonic() + at_most
        while (remaining := deadline - time.monotonic()) > 0:
            if self._in_flight:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._quiet.wait(), remaining)
                continue
            idle = time.monotonic() - self._last_done
            if idle >= self.settle:
                return
            await asyncio.sleep(min(self.settle - idle, remaining))
