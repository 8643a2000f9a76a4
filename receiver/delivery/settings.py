"""Settings of the write-back destinations (grafana.*, slack.*, pagerduty.*, outgoing_webhook.*, noise.*).

A destination whose required key (`grafana.url`, `slack.token`/`slack.webhook_url`,
`pagerduty.routing_key`, `outgoing_webhook.url`) is absent is disabled. Every secret can be given
inline (SecretStr) or as `<key>_file` (read and stripped when used).

Sections loaded by `load_settings` also compare the contents of their secret files (`note_secret_files`), so a
reload after a token was rotated inside its `token_file` sees that destination as changed.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from receiver.delivery.severity import PagerDutySeverity
from receiver.settings_base import Section, read_secret_file


class _Section(Section):
    """Equal when their keys are and, once `note_secret_files` ran on both, their secret files' contents."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    _secret_files_digest: str | None = PrivateAttr(default=None)  # compared by pydantic's __eq__

    def note_secret_files(self) -> None:
        """Keep a SHA-256 of the contents of the section's secret files (`token_file`...), never the secrets:
        the same file with a new token then makes unequal settings, as a new inline token does."""
        fields = type(self).model_fields
        keys = [f"{name}_file" for name in fields if f"{name}_file" in fields]
        contents = [(key, read_secret_file(path)) for key in keys if (path := getattr(self, key)) is not None]
        if contents:
            self._secret_files_digest = hashlib.sha256(json.dumps(contents).encode()).hexdigest()


def _read_secret(value: SecretStr | None, path: Path | None) -> str | None:
    if value is not None:
        return value.get_secret_value()
    if path is not None:
        return read_secret_file(path)
    return None


def _exclusive(section: str, key: str, value: object, path: object) -> None:
    if value is not None and path is not None:
        raise ValueError(f"{section}.{key} and {section}.{key}_file are mutually exclusive; set one")


class GrafanaSettings(_Section):
    """Region annotations through POST /api/annotations (service-account token or basic auth)."""

    url: str | None = None
    token: SecretStr | None = None
    token_file: Path | None = None
    username: str | None = None
    password: SecretStr | None = None
    password_file: Path | None = None
    org_id: int | None = None
    verify_dashboards: bool = True
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check_auth(self) -> GrafanaSettings:
        _exclusive("grafana", "token", self.token, self.token_file)
        _exclusive("grafana", "password", self.password, self.password_file)
        has_token = self.token is not None or self.token_file is not None
        if has_token and self.username is not None:
            raise ValueError("grafana.token and grafana.username (basic auth) are mutually exclusive")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def token_value(self) -> str | None:
        return _read_secret(self.token, self.token_file)

    def password_value(self) -> str | None:
        return _read_secret(self.password, self.password_file)


class SlackRoute(_Section):
    """Send alerts whose labels all match (`re.fullmatch`, so plain values match literally) to `channel`."""

    matchers: dict[str, str]
    channel: str

    @field_validator("matchers")
    @classmethod
    def _compile(cls, matchers: dict[str, str]) -> dict[str, str]:
        for label, pattern in matchers.items():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"slack.routes matcher {label}={pattern!r} is not a valid regex: {exc}"
                ) from exc
        return matchers

    def matches(self, labels: Mapping[str, str]) -> bool:
        return all(re.fullmatch(p, labels.get(label, "")) is not None for label, p in self.matchers.items())


class SlackSettings(_Section):
    """Threads per alert group through the Web API (`token`), or incoming-webhook mode (`webhook_url`)."""

    token: SecretStr | None = None
    token_file: Path | None = None
    channel: str | None = None
    routes: list[SlackRoute] = Field(default_factory=list)
    api_url: str = "https://slack.com/api/"
    webhook_url: SecretStr | None = None
    webhook_url_file: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)
    signing_secret: SecretStr | None = None
    signing_secret_file: Path | None = None

    @model_validator(mode="after")
    def _check(self) -> SlackSettings:
        _exclusive("slack", "token", self.token, self.token_file)
        _exclusive("slack", "signing_secret", self.signing_secret, self.signing_secret_file)
        _exclusive("slack", "webhook_url", self.webhook_url, self.webhook_url_file)
        has_token = self.token is not None or self.token_file is not None
        if has_token and not self.channel and not self.routes:
            raise ValueError("slack.token is set but neither slack.channel nor slack.routes: set a channel")
        return self

    @property
    def uses_web_api(self) -> bool:
        return self.token is not None or self.token_file is not None

    @property
    def enabled(self) -> bool:
        return self.uses_web_api or self.webhook_url is not None or self.webhook_url_file is not None

    def token_value(self) -> str | None:
        return _read_secret(self.token, self.token_file)

    def webhook_url_value(self) -> str | None:
        return _read_secret(self.webhook_url, self.webhook_url_file)

    def signing_secret_value(self) -> str | None:
        """The Slack app's signing secret: `/slack/interactions` answers only requests signed with it."""
        return _read_secret(self.signing_secret, self.signing_secret_file)

    def channel_for(self, labels: Mapping[str, str]) -> str:
        """First matching route's channel, else `channel`."""
        for route in self.routes:
            if route.matches(labels):
                return route.channel
        return self.channel or ""


class PagerDutySettings(_Section):
    """Events API v2: trigger for diagnoses at or above `min_severity`, resolve once none of the group's
    alerts at or above it still fires."""

    routing_key: SecretStr | None = None
    routing_key_file: Path | None = None
    url: str = "https://events.pagerduty.com/v2/enqueue"
    min_severity: PagerDutySeverity = "critical"
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> PagerDutySettings:
        _exclusive("pagerduty", "routing_key", self.routing_key, self.routing_key_file)
        return self

    @property
    def enabled(self) -> bool:
        return self.routing_key is not None or self.routing_key_file is not None

    def routing_key_value(self) -> str | None:
        return _read_secret(self.routing_key, self.routing_key_file)


class OutgoingWebhookSettings(_Section):
    """POST each diagnosis as JSON, signed with HMAC-SHA256 when `secret` is set."""

    url: str | None = None
    secret: SecretStr | None = None
    secret_file: Path | None = None
    timeout_seconds: float = Field(default=10.0, gt=0)

    @model_validator(mode="after")
    def _check(self) -> OutgoingWebhookSettings:
        _exclusive("outgoing_webhook", "secret", self.secret, self.secret_file)
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def secret_value(self) -> str | None:
        return _read_secret(self.secret, self.secret_file)


class NoiseSettings(_Section):
    """Suppress notifications below a severity, above a per-alertname hourly budget, or repeated too soon."""

    severity_threshold: Literal["info", "warning", "error", "critical"] = "info"
    max_alerts_per_hour: int | None = Field(default=None, ge=1)
    cooldown_minutes: float = Field(default=0.0, ge=0)
