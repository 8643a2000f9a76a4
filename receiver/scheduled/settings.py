"""Settings of scheduled secondary detection (detection.*)."""

from __future__ import annotations

import math
import re
from typing import Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from detectors import AnomalyType, DetectionRule, InvalidRuleError
from receiver.errors import InvalidRuleField
from receiver.settings_base import Section

RULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$")
_DEFAULTS = DetectionRule("defaults")  # the detectors' defaults: a rule that leaves a field out gets these
MAX_WINDOW_POINTS = 10_080  # a week of one-minute points: the most a rule's window or min_samples may ask


class RuleSettings(Section):
    """One detection rule: a PromQL `query` plus the detectors' `DetectionRule` fields.

    `severity` and `labels` are copied onto the incident a finding opens.
    """

    name: str
    query: str = Field(min_length=1)
    method: str = _DEFAULTS.method
    anomaly_type: str = _DEFAULTS.anomaly_type.value
    metric: str | None = None
    threshold: float = _DEFAULTS.threshold
    window_size: int = Field(default=_DEFAULTS.window_size, le=MAX_WINDOW_POINTS)
    severity_thresholds: dict[str, float] | None = None
    min_samples: int = Field(default=_DEFAULTS.min_samples, le=MAX_WINDOW_POINTS)
    direction: Literal["up", "down", "both"] = _DEFAULTS.direction
    contamination: float = _DEFAULTS.contamination
    penalty: float = _DEFAULTS.penalty
    severity: str = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    # Materiality, beside significance: an anomaly opens an incident only if its value moved from the
    # detector's baseline by at least this much, in the series' own units / as a fraction of the baseline.
    min_delta: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    min_change: float = Field(default=0.0, ge=0, allow_inf_nan=False)
    # A hole in a series' data (a restart, a ratio that is 0/0 at night) is a note on the rule's status;
    # true: it opens a DATA_GAP incident per series, like an anomaly.
    alert_on_gaps: bool = False

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not RULE_NAME.match(value):
            raise ValueError("must start with a letter or _ and use only letters, digits, _ . : - (max 128)")
        return value

    @model_validator(mode="after")
    def _check_detector_fields(self) -> RuleSettings:
        to_detection_rule(self)
        return self


def rule_error(exc: ValidationError) -> tuple[str | None, str]:
    """(field, message) of the first problem pydantic found in a rule: the field's dotted path, or the one
    an InvalidRuleField named from the model's own check (None when neither says)."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first.get("loc", ()))
    cause = first.get("ctx", {}).get("error")
    return loc or (cause.field if isinstance(cause, InvalidRuleField) else None), str(
        first.get("msg", "invalid")
    )


def to_detection_rule(rule: RuleSettings) -> DetectionRule:
    """The detectors' rule for `rule`; an InvalidRuleField naming the field when a value is out of range."""
    try:
        anomaly_type = AnomalyType(rule.anomaly_type)
    except ValueError:
        names = ", ".join(t.value for t in AnomalyType)
        raise InvalidRuleField(
            f"anomaly_type={rule.anomaly_type!r}: use one of {names}", "anomaly_type"
        ) from None
    kwargs: dict[str, object] = {}
    if rule.severity_thresholds is not None:
        kwargs["severity_thresholds"] = dict(rule.severity_thresholds)
    try:
        return DetectionRule(
            name=rule.name,
            method=rule.method,
            anomaly_type=anomaly_type,
            metric=rule.metric,
            query=rule.query,
            threshold=rule.threshold,
            window_size=rule.window_size,
            min_samples=rule.min_samples,
            direction=rule.direction,
            contamination=rule.contamination,
            penalty=rule.penalty,
            **kwargs,  # type: ignore[arg-type]
        )
    except InvalidRuleError as exc:
        raise InvalidRuleField(str(exc).replace("DetectionRule.", ""), exc.field) from None


class DetectionSettings(Section):
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

    @model_validator(mode="after")
    def _rules_can_fire(self) -> DetectionSettings:
        for rule in self.rules:
            problem = unreachable_min_samples(rule, self.lookback_points)
            if problem is not None:
                raise ValueError(f"detection.rules: rule {rule.name!r}: {problem}")
        return self

    @property
    def effective_freshness(self) -> float:
        return self.freshness_seconds or 2 * self.interval_seconds

    @property
    def effective_step(self) -> float:
        return self.step_seconds or default_step(self.lookback_seconds)

    @property
    def lookback_points(self) -> int:
        """The most points a cycle's grid holds."""
        return grid_points(self.lookback_seconds, self.effective_step)


def default_step(lookback: float) -> float:
    """The query step when none is set: 1,440 points per lookback, at least a minute."""
    return float(max(60, math.ceil(lookback / 1440)))


def grid_points(lookback: float, step: float) -> int:
    """The most points a grid over `lookback` at `step` holds once its ends are snapped to the step."""
    return math.ceil(lookback / step) + 1


def unreachable_min_samples(rule: RuleSettings, points: int) -> str | None:
    """Why `rule` can never fire on grids of at most `points` points (its min_samples is more), or None."""
    if rule.min_samples <= points:
        return None
    return (
        f"min_samples={rule.min_samples} is more than the {points} points the lookback holds at its step:"
        " no series could be judged; lower it, or give the lookback more points (a shorter step)"
    )
