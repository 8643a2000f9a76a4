"""Shared fixtures: webhook corpus (copied into tests/data with its licences) and the shared datasets."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import SHARED

DATA = Path(__file__).resolve().parent / "data"
WEBHOOKS = DATA / "webhooks"


@pytest.fixture
def webhook_corpus() -> Path:
    return WEBHOOKS


@pytest.fixture
def shared_dir() -> Path:
    """../shared (NAB, PetShop); tests that need it skip with the reason when it is absent."""
    if not SHARED.exists():
        pytest.skip(f"shared datasets not found at {SHARED} (set ALERT_ANALYST_SHARED)")
    return SHARED
