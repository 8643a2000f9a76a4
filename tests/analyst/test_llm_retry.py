"""Retry-After parsing and backoff bounds for the analyst's own retry loop."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from analyst.llm.retry import backoff_delay
from analyst.retry_after import retry_after_seconds


def test_retry_after_ms_wins_over_seconds() -> None:
    assert retry_after_seconds({"retry-after-ms": "250", "retry-after": "9"}) == 0.25


def test_retry_after_in_seconds() -> None:
    assert retry_after_seconds({"retry-after": "1.5"}) == 1.5


def test_retry_after_as_http_date() -> None:
    delay = retry_after_seconds({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert delay is not None and 25 <= delay <= 31


@pytest.mark.parametrize("headers", [{}, {"retry-after": "soon"}])
def test_missing_or_garbled_retry_after_is_none(headers: dict[str, str]) -> None:
    assert retry_after_seconds(headers) is None


def test_backoff_grows_exponentially_and_is_capped() -> None:
    assert 0.5 <= backoff_delay(1, base=1.0, cap=8.0) <= 1.0
    assert 2.0 <= backoff_delay(3, base=1.0, cap=8.0) <= 4.0
    assert backoff_delay(10, base=1.0, cap=8.0) <= 8.0
