"""Settings of scheduled secondary detection (detection.*)."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from detectors import DEFAULT_METHOD

RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleSettings(_Section):
    """One detection rule: a PromQL `query` plus the detectors' `DetectionRule` fields.

    `severity` and `labels` are copied onto the incident a finding opens.
    """

    name: str
    query: str = Field(min_length=1)
    method: str = DEFAULT_METHOD
    anomaly_type: str = "SPIKE"
    metric: str | None = None
    threshold: float = 3.0
    window_size: int = 60
    severity_thresholds: dict[str, float] | None = None
    min_samples: int = 10
    direction: Literal["up", "down", "both"] = "both"
    contamination: float = 0.1
    penalty: float = 10.0
    severity: str = "warning"
    labels: dict[str, str] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError("must start with a letter or _ and use only letters, digits, _ . : - (max 128)")
        return value

    @model_validator(mode="after")
    def _check_detector_fields(self) -> RuleSettings:
        from receiver.detection.rules import to_detection_rule

        to_detection_rule(self)
        return self


class DetectionSettings(_Section):
    enabled: bool = True
    interval_seconds: float = Field(default=300.0, gt=0)
    lookback_seconds: float = Field(default=86400.0, gt=0)
    step_seconds: float | None = Field(
        default=None, gt=0, description="None picks max(60 s, lookback / 1440)."
    )
    cooldown_seconds: float = Field(default=3600.0, ge=0)
    freshness_seconds: float | None = Field(
        default=None, gt=0, description="Only anomalies newer than this open incidents; None: 2 x interval."
    )
    max_concurrency: int = Field(default=8, ge=1, le=256, description="Rule queries in flight at once.")
    workers: int = Field(default=2, ge=1, le=64, description="Threads (or processes) running detect_batch.")
    pool: Literal["thread", "process"] = Field(
        default="thread", description="process: detection in worker processes (uses every core, no GIL)."
    )
    rules: list[RuleSettings] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> DetectionSettings:
        seen: set[str] = set()
        for rule in self.rules:
            if rule.name in seen:
                raise ValueError(f"detection.rules: duplicate rule name {rule.name!r}")
            seen.add(rule.name)
        return self

    @property
    def effective_freshness(self) -> float:
        return self.freshness_seconds or 2 * self.interval_seconds
