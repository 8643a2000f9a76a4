"""Write-back of diagnoses: Grafana annotations, Slack threads, PagerDuty events, a signed webhook.

`DeliveryService` and `RetryPolicy` load on first use, so reading the settings (as the config loader does)
does not import the sinks and the Slack SDK when no destination is configured.
"""

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
from receiver.lazy_exports import lazy_getattr

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


__getattr__ = lazy_getattr(
    __name__, {"DeliveryService": "receiver.delivery.service", "RetryPolicy": "receiver.delivery.outbox"}
)
