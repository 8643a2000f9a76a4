"""Synthetic series with known, injected anomalies."""

from __future__ import annotations

import numpy as np
import pytest

T0 = 1_700_000_000.0
STEP = 60.0


@pytest.fixture
def grid() -> np.ndarray:
    return T0 + STEP * np.arange(1000)


@pytest.fixture
def noise() -> np.ndarray:
    return np.random.default_rng(7).normal(100.0, 2.0, size=1000)
