"""Alertmanager webhook payload (version 4): typed models and validation with field-level errors."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from receiver.errors import PayloadError
from receiver.times import GO_ZERO_TIME_YEAR, in_time_range, unix_seconds

SUPPORTED_VERSION = "4"


class WebhookAlert(BaseModel):
    """One alert. Times are parsed natively by pydantic (RFC 3339, any precision, truncated to µs exactly
    like `parse_timestamp`); senders' nulls and empty strings are normalised on the slow path."""

    model_config = ConfigDict(extra="ignore")

    status: Literal["firing", "resolved"] | None = None
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts: AwareDatetime = Field(alias="startsAt", strict=True)  # strict: a string, not Unix seconds
    ends: AwareDatetime | None = Field(default=None, alias="endsAt", strict=True)
    generator_url: str = Field(default="", alias="generatorURL")
    fingerprint: str = ""

    @property
    def starts_at(self) -> float:
        return unix_seconds(self.starts)

    @property
    def ends_at(self) -> float | None:
        """None for a missing end or Go's zero time (what Alertmanager sends while an alert fires)."""
        if self.ends is None or self.ends.year <= GO_ZERO_TIME_YEAR:
            return None
        return unix_seconds(self.ends)

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

    def effective_group_key(self) -> str:
        if self.group_key:
            return self.group_key
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.group_labels.items()))
        return f"{{}}:{{{inner}}}"

    def alert_status(self, alert: WebhookAlert) -> Literal["firing", "resolved"]:
        return alert.status or self.status


def _field_path(loc: tuple[int | str, ...]) -> str:
    aliases = {"starts": "startsAt", "ends": "endsAt", "generator_url": "generatorURL"}
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
    _check_times(payload.alerts)
    return payload


def parse_alert(data: Mapping[str, Any]) -> WebhookAlert:
    """Validate one alert object (nulls normalised as in webhooks); raises ValidationError or PayloadError."""
    alert = WebhookAlert.model_validate_json(json.dumps(_normalised_alert(data)))
    _check_times([alert])
    return alert


def _check_times(alerts: list[WebhookAlert]) -> None:
    """A start must be a real time, and both times must fall in the years 1..9999 in UTC, what every
    reader of the stored Unix seconds can show (an end in the year 1 is Go's zero time: still firing)."""
    for i, alert in enumerate(alerts):
        for name, seconds in (("startsAt", alert.starts_at), ("endsAt", alert.ends_at)):
            if seconds is not None and not in_time_range(seconds):
                field = f"alerts[{i}].{name}"
                message = f"{field}: out of range: use a time between the years 1 and 9999 UTC"
                raise PayloadError(400, message, field=field)
        if alert.starts.year <= GO_ZERO_TIME_YEAR:
            field = f"alerts[{i}].startsAt"
            raise PayloadError(400, f"{field}: must be a real time, not the zero time", field=field)


def _normalised_alert(data: Any) -> Any:
    """Senders write null for empty maps and "" for no end time; the model wants {} and None."""
    if not isinstance(data, dict):
        return data
    fixed = dict(data)
    if fixed.get("annotations", {}) is None:
        fixed["annotations"] = {}
    if fixed.get("endsAt") == "":
        fixed["endsAt"] = None
    return fixed


def _normalised(data: dict[str, Any]) -> dict[str, Any]:
    fixed = dict(data)
    for key in ("groupLabels", "commonLabels", "commonAnnotations"):
        if key in fixed and fixed[key] is None:
            fixed[key] = {}
    if isinstance(fixed.get("alerts"), list):
        fixed["alerts"] = [_normalised_alert(a) for a in fixed["alerts"]]
    return fixed


def _unsupported_version(version: object) -> PayloadError:
    return PayloadError(
        422,
        f"unsupported payload version {version!r}: only Alertmanager webhook version "
        f"{SUPPORTED_VERSION} is accepted (Grafana contact points: use an Alertmanager-compatible "
        "receiver)",
        field="version",
    )


def decode_utf8_json(body: bytes, what: str = "the body") -> Any:
    """The JSON value in `body`, UTF-8 only (RFC 8259: json.loads(bytes) would also take UTF-16 and UTF-32,
    which a stored UTF-8 copy of the body cannot give back); PayloadError(400) for bytes that are not
    UTF-8, malformed JSON and nesting past Python's limit. The one JSON decoding of every request body."""
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"{what} is not UTF-8 (byte {exc.start}: {exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise PayloadError(400, f"malformed JSON: {exc}") from exc
    except RecursionError as exc:
        raise PayloadError(400, "JSON nested too deeply") from exc


def decode_payload_object(body: bytes, what: str = "the body") -> dict[str, Any]:
    """The JSON object in `body`, before any field is validated: UTF-8 JSON, an object, and a `version` (if
    any) of 4. Raises PayloadError (400, or 422 for another version) saying what is wrong with `what`.
    Shared by the webhook and `alert-analyst diagnose --alert FILE`."""
    data = decode_utf8_json(body, what)
    if not isinstance(data, dict):
        raise PayloadError(400, f"{what} must be a JSON object", field="(root)")
    version = data.get("version", SUPPORTED_VERSION)
    if str(version) != SUPPORTED_VERSION:
        raise _unsupported_version(version)
    return data


def _parse_with_diagnostics(body: bytes) -> WebhookPayload:
    data = decode_payload_object(body)
    try:
        # through JSON again: strict times accept RFC 3339 strings only in JSON mode
        payload = WebhookPayload.model_validate_json(json.dumps(_normalised(data)))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _field_path(tuple(first["loc"]))
        raise PayloadError(400, f"{field}: {first['msg']}", field=field) from exc
    _check_times(payload.alerts)
    return payload
