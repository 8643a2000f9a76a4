"""A bounded number of slots whose waiters are admitted one lane at a time, in turn.

The pipeline's analysis slots: its workers hold incidents of many alert groups, and when a storm's
incidents hold most workers, an asyncio.Semaphore would admit them first come, first served, so an
alert of another group that a worker took later would wait behind every one of them. Here a freed slot
goes to the oldest waiter of the next lane in turn (the lanes are alert groups, like `FairQueue`'s).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Hashable


class FairSlots:
    """At most `limit` holders at once; waiting lanes are served round-robin, oldest first in each."""

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        self._free = limit
        self._waiting: dict[Hashable, deque[asyncio.Future[None]]] = {}  # in the order they are served

    @property
    def waiting(self) -> int:
        """Waiters not yet admitted."""
        return sum(len(waiters) for waiters in self._waiting.values())

    @contextlib.asynccontextmanager
    async def hold(self, lane: Hashable) -> AsyncIterator[None]:
        """Hold a slot for the block, waiting in `lane` while none is free."""
        await self._acquire(lane)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, lane: Hashable) -> None:
        if self._free > 0 and not self._waiting:
            self._free -= 1
            return
        admitted: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(lane, deque()).append(admitted)
        try:
            await admitted
        except asyncio.CancelledError:
            if admitted.done() and not admitted.cancelled():
                self._release()  # admitted just as it was cancelled: the slot goes on
            else:
                self._forget(lane, admitted)
            raise

    def _release(self) -> None:
        """Hand the slot to the oldest waiter of the next lane in turn, or free it."""
        while self._waiting:
            lane = next(iter(self._waiting))
            waiters = self._waiting.pop(lane)
            admitted = waiters.popleft()
            if waiters:
                self._waiting[lane] = waiters  # to the back of the round
            if not admitted.done():
                admitted.set_result(None)
                return
        self._free += 1

    def _forget(self, lane: Hashable, admitted: asyncio.Future[None]) -> None:
        waiters = self._waiting.get(lane)
        if waiters is not None and admitted in waiters:
            waiters.remove(admitted)
            if not waiters:
                del self._waiting[lane]
