"""Write-back of diagnoses: Grafana annotations, Slack threads, PagerDuty events, a signed webhook.

The package root holds only the light parts (settings, errors, the `Sink` protocol, the retry policy);
import `DeliveryService` from `receiver.delivery.service`, which loads the sinks and the Slack SDK.
"""

from receiver.delivery.errors import (
    CredentialsRejectedError,
    DeliveryError,
    PermanentDeliveryError,
    RetryableDeliveryError,
)
from receiver.delivery.outbox import RetryPolicy
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
    "CredentialsRejectedError",
    "Delivery",
    "DeliveryError",
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
