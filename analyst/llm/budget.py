"""A bound on LLM diagnoses per hour (llm.max_calls_per_hour), so an alert storm's cost is bounded.

In-process state: a restart starts an empty window. Not locked: `try_start` checks and records without
awaiting, so concurrent diagnoses on one event loop cannot both take the last place.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

WINDOW_SECONDS = 3600.0


class CallBudget:
    """Starts of LLM diagnoses in the last hour (a sliding window), at most `limit` (0: no bound)."""

    def __init__(self, limit: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self._clock = clock
        self._starts: deque[float] = deque()
        self.refused = 0  # diagnoses refused since the bound was last reached; 0 while calls go through

    def try_start(self) -> bool:
        """Record one diagnosis start and return True, or return False (nothing recorded) at the bound."""
        now = self._clock()
        while self._starts and now - self._starts[0] >= WINDOW_SECONDS:
            self._starts.popleft()
        if self.limit and len(self._starts) >= self.limit:
            self.refused += 1
            return False
        self.refused = 0
        if self.limit:
            self._starts.append(now)
        return True

    def in_window(self) -> int:
        """Diagnoses started within the window (as of the last `try_start`)."""
        return len(self._starts)

    def reason(self) -> str:
        """The fallback reason of a diagnosis refused at the bound."""
        return (
            f"LLM budget spent: {self.in_window()} diagnoses in the last hour"
            f" (llm.max_calls_per_hour={self.limit}); the built-in analyst answered"
        )
