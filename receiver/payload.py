"""Alertmanager webhook payload (version 4): typed models and validation with field-level errors."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from receiver.errors import PayloadError

SUPPORTED_VERSION = "4"
GO_ZERO_TIME_YEAR = 1


def parse_timestamp(value: str) -> float:
    """RFC 3339 with any precision or offset (as Alertmanager and other senders write it) to Unix seconds."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    head, dot, rest = text.partition(".")
    if dot:  # trim fractional digits beyond microseconds (Go writes nanoseconds)
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        raise ValueError("timestamp needs a UTC offset or Z")
    if parsed.year <= GO_ZERO_TIME_YEAR:
        return 0.0
    return parsed.timestamp()


class WebhookAlert(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: float = Field(alias="startsAt")
    ends_at: float | None = Field(default=None, alias="endsAt")
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @field_validator("annotations", mode="before")
    @classmethod
    def _null_annotations(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("starts_at", mode="before")
    @classmethod
    def _starts(cls, value: Any) -> float:
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 string")
        seconds = parse_timestamp(value)
        if seconds == 0.0:
            raise ValueError("must be a real time, not the zero time")
        return seconds

    @field_validator("ends_at", mode="before")
    @classmethod
    def _ends(cls, value: Any) -> float | None:
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise ValueError("must be an RFC 3339 string")
        return parse_timestamp(value) or None

    @property
    def alertname(self) -> str:
        return self.labels.get("alertname", "")

    def effective_fingerprint(self) -> str:
        """Alertmanager's fingerprint, or (for senders that omit it) a stable hash of the label set."""
        if self.fingerprint:
            return self.fingerprint
        canonical = json.dumps(self.labels, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


class WebhookPayload(BaseModel):
    model_config = ConfigDict(extra="ignore")

    version: str = SUPPORTED_VERSION
    group_key: str = Field(default="", alias="groupKey")
    truncated_alerts: int = Field(default=0, alias="truncatedAlerts", ge=0)
    status: Literal["firing", "resolved"]
    receiver: str = ""
    group_labels: dict[str, str] = Field(default_factory=dict, alias="groupLabels")
    common_labels: dict[str, str] = Field(default_factory=dict, alias="commonLabels")
    common_annotations: dict[str, str] = Field(default_factory=dict, alias="commonAnnotations")
    external_url: str = Field(default="", alias="externalURL")
    alerts: list[WebhookAlert] = Field(min_length=1)

    @field_validator("group_labels", "common_labels", "common_annotations", mode="before")
    @classmethod
    def _null_maps(cls, value: Any) -> Any:
        return {} if value is None else value

    def effective_group_key(self) -> str:
        if self.group_key:
            return self.group_key
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.group_labels.items()))
        return f"{{}}:{{{inner}}}"

    def alert_status(self, alert: WebhookAlert) -> Literal["firing", "resolved"]:
        return alert.status or self.status


def _field_path(loc: tuple[int | str, ...]) -> str:
    aliases = {"starts_at": "startsAt", "ends_at": "endsAt", "generator_url": "generatorURL"}
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts[-1] = f"{parts[-1]}[{part}]" if parts else f"[{part}]"
        else:
            parts.append(aliases.get(part, part))
    return ".".join(parts)


def parse_webhook(body: bytes) -> WebhookPayload:
    """Decode and validate a webhook body; raise PayloadError(400 or 422) naming the offending field.

    The common case goes straight through pydantic's JSON parser; anything it rejects is decoded again
    step by step so that the error names the right problem (JSON, version or field).
    """
    try:
        payload = WebhookPayload.model_validate_json(body)
    except ValueError:
        return _parse_with_diagnostics(body)
    if payload.version != SUPPORTED_VERSION:
        raise _unsupported_version(payload.version)
    return payload


def _unsupported_version(version: object) -> PayloadError:
    return PayloadError(
        422,
        f"unsupported payload version {version!r}: only Alertmanager webhook version "
        f"{SUPPORTED_VERSION} is accepted (Grafana contact points: use an Alertmanager-compatible "
        "receiver)",
        field="version",
    )


def _parse_with_diagnostics(body: bytes) -> WebhookPayload:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PayloadError(400, f"malformed JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise PayloadError(400, "the body must be a JSON object", field="(root)")
    version = data.get("version", SUPPORTED_VERSION)
    if str(version) != SUPPORTED_VERSION:
        raise _unsupported_version(version)
    try:
        return WebhookPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first["loc"]))
        raise PayloadError(400, f"{field}: {first['msg']}", field=field) from exc
