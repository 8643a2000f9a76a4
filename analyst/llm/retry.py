"""Backoff delays for the analyst's own retry loop (the SDKs run with max_retries=0)."""

from __future__ import annotations

import random


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Exponential backoff with full jitter in [base*2^(attempt-1)/2, base*2^(attempt-1)], capped."""
    ceiling = min(base * 2 ** (attempt - 1), cap)
    return ceiling * random.uniform(0.5, 1.0)
