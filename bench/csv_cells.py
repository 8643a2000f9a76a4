"""Cells of the benchmark data's CSV files."""

from __future__ import annotations

import math


def number(cell: str | None) -> float:
    """A cell's value; NaN (a missed point) for an empty, non-numeric or infinite cell."""
    try:
        value = float((cell or "").strip())
    except ValueError:
        return math.nan
    return value if math.isfinite(value) else math.nan
