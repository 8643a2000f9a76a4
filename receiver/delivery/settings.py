"""Settings of the write-back destinations (grafana.*, slack.*, pagerduty.*, outgoing_webhook.*, noise.*)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrafanaSettings(_Section):
    url: str | None = None


class SlackSettings(_Section):
    token: str | None = None


class PagerDutySettings(_Section):
    routing_key: str | None = None


class OutgoingWebhookSettings(_Section):
    url: str | None = None


class NoiseSettings(_Section):
    severity_threshold: str = "info"
