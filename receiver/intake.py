"""Webhooks in flight: the pipeline defers to intake, because Alertmanager is waiting for the acks."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class IntakeActivity:
    """Counts webhook requests in flight; `wait_quiet` returns when none are, or after `at_most` seconds."""

    def __init__(self) -> None:
        self._in_flight = 0
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
            if self._in_flight == 0:
                self._quiet.set()

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def wait_quiet(self, at_most: float) -> None:
        if self._in_flight and at_most > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), at_most)
