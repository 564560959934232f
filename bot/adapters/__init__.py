"""One module per chat platform; each turns requests into Events and messages into calls."""

from bot.adapters.base import (
    Ack,
    Capabilities,
    DeliveryError,
    PayloadError,
    RawRequest,
    Sender,
    SentRef,
    SignatureError,
    WebhookAdapter,
)

__all__ = [
    "Ack",
    "Capabilities",
    "DeliveryError",
    "PayloadError",
    "RawRequest",
    "Sender",
    "SentRef",
    "SignatureError",
    "WebhookAdapter",
]
