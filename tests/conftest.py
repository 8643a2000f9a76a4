"""Shared fixtures: webhook corpus (copied into tests/data with its licences) and the shared datasets."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog

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


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """configure_logging binds the test's captured stderr: put the previous set-up back afterwards. For
    every test: the CLI's commands configure logging as they start, and a test may run one in-process."""
    saved, root = structlog.get_config(), logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    structlog.configure(**saved)
    root.handlers, root.level = handlers, level
