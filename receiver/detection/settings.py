"""Settings of scheduled secondary detection (detection.*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class DetectionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    interval_seconds: float = 300.0
