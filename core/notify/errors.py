"""What can go wrong delivering a notice.

PlatformError
├── DeliveryRefused    (permanent) the channel refused this message for good: a 5xx from the
│                      SMTP server for this recipient, a 4xx from the SMS gateway
└── TemporaryError
    └── DeliveryDeferred  the channel is away or asked to try later: retried with backoff
"""

from core.errors import PlatformError, TemporaryError


class DeliveryRefused(PlatformError):
    """The channel refused the message; trying again would not help."""


class DeliveryDeferred(TemporaryError):
    """The channel could not take the message now; the delivery job tries again later."""
