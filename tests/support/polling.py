"""Waiting in tests for something that happens in the background (no fixed sleeps in assertions)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def eventually(condition: Callable[[], bool], within: float = 10.0, every: float = 0.02) -> None:
    """Poll `condition` every `every` seconds until it holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(every)
