"""Write-back of diagnoses: Grafana annotations, Slack threads, PagerDuty events, a signed webhook.

`DeliveryService` and `RetryPolicy` load on first use, so reading the settings (as the config loader does)
does not import the sinks and the Slack SDK when no destination is configured.
"""

from typing import Any

from receiver.delivery.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from receiver.delivery.protocol import Delivery, Sink
from receiver.delivery.settings import (
    GrafanaSettings,
    NoiseSettings,
    OutgoingWebhookSettings,
    PagerDutySettings,
    SlackRoute,
    SlackSettings,
)

__all__ = [
    "Delivery",
    "DeliveryError",
    "DeliveryService",
    "GrafanaSettings",
    "NoiseSettings",
    "OutgoingWebhookSettings",
    "PagerDutySettings",
    "PermanentDeliveryError",
    "RetryPolicy",
    "RetryableDeliveryError",
    "Sink",
    "SlackRoute",
    "SlackSettings",
]


def __getattr__(name: str) -> Any:
    if name == "DeliveryService":
        from receiver.delivery.service import DeliveryService

        return DeliveryService
    if name == "RetryPolicy":
        from receiver.delivery.outbox import RetryPolicy

        return RetryPolicy
    raise AttributeError(f"module 'receiver.delivery' has no attribute {name!r}")
