"""Where the shared datasets live: $ALERT_ANALYST_SHARED, ../shared beside the checkout, or /work/shared."""

from __future__ import annotations

import os
from pathlib import Path


def shared_root() -> Path:
    candidates = [
        os.environ.get("ALERT_ANALYST_SHARED"),
        Path(__file__).resolve().parents[3] / "shared",
        "/work/shared",
    ]
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            return Path(candidate)
    return Path(candidates[1])  # type: ignore[arg-type]


SHARED = shared_root()
