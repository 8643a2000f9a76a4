"""Write-back of diagnoses: Grafana annotations, Slack threads, PagerDuty events, a signed webhook."""

from receiver.delivery.errors import DeliveryError, PermanentDeliveryError, RetryableDeliveryError
from receiver.delivery.outbox import RetryPolicy
from receiver.delivery.protocol import Delivery, Sink
from receiver.delivery.service import DeliveryService
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
