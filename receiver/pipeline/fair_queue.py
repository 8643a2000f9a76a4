"""A bounded queue that takes items from its lanes in turn, so one busy lane cannot starve the others.

The pipeline's lanes are alert groups: an alert storm of 10,000 incidents in one group and a lone alert
of another group take turns, and the lone one is taken within one round of the lanes that are waiting,
whatever the storm's size. Pure (no I/O, no asyncio): the pipeline wraps it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

Lane = TypeVar("Lane", bound=Hashable)
Item = TypeVar("Item")


class FairQueue(Generic[Lane, Item]):
    """At most `maxsize` items in lanes: `take` serves the lanes round-robin, oldest first within one.

    When full, `put` makes room by dropping the newest item of the longest lane if the new item's lane
    would still be shorter than that one (longest queue drop): a storm fills the queue, a lone item of
    another lane still gets in. What is dropped or refused is returned to the caller, who keeps it
    elsewhere (the pipeline's incidents stay in SQLite for the sweeper).
    """

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be at least 1, not {maxsize}")
        self.maxsize = maxsize
        self._lanes: dict[Lane, deque[Item]] = {}  # lanes with items, in the order they are served
        self._size = 0

    def __len__(self) -> int:
        return self._size

    @property
    def lanes(self) -> int:
        """Lanes with an item waiting."""
        return len(self._lanes)

    def put(self, lane: Lane, item: Item) -> Item | None:
        """Add `item` at the end of `lane` (a new lane is served after the waiting ones).

        Returns None when it fitted; otherwise the item left out: `item` itself, or the newest item of
        the longest lane, dropped to make room for it.
        """
        left_out: Item | None = None
        if self._size >= self.maxsize:
            longest = max(self._lanes, key=lambda key: len(self._lanes[key]))
            if len(self._lanes.get(lane, ())) + 1 >= len(self._lanes[longest]):
                return item
            left_out = self._lanes[longest].pop()
            self._size -= 1
        self._lanes.setdefault(lane, deque()).append(item)
        self._size += 1
        return left_out

    def take(self) -> Item:
        """The oldest item of the next lane in turn; IndexError when empty."""
        if not self._lanes:
            raise IndexError("take from an empty FairQueue")
        lane = next(iter(self._lanes))
        waiting = self._lanes.pop(lane)
        item = waiting.popleft()
        self._size -= 1
        if waiting:
            self._lanes[lane] = waiting  # to the back of the round
        return item
