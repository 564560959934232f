"""The small contract every adapter implements, and the errors it may raise."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from bot.events import Event
from bot.messages import OutgoingMessage


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a platform can show, so the core renders choices, charts and files to fit."""

    buttons: bool = False
    images: bool = False
    files: bool = False
    max_text_length: int = 4000


@dataclass(frozen=True, slots=True)
class RawRequest:
    """An HTTP request as the adapter sees it: no web framework types cross this line."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    # For an adapter that answers several endpoints (Matrix's application-service API).
    method: str = "POST"
    path: str = ""


@dataclass(frozen=True, slots=True)
class Ack:
    """An immediate answer that is not an event (e.g. a URL verification challenge)."""

    status: int = 200
    body: Any = None


@dataclass(frozen=True, slots=True)
class Batch:
    """Several events from one request (a Matrix transaction), answered ``ack`` once all are stored.

    The platform retries the whole request when the answer is not a 2xx, so storing stays
    idempotent through the inbox's event-id key, not through the request's own id.
    """

    events: tuple[Event, ...]
    ack: Ack = Ack(200, {"ok": True})


@dataclass(frozen=True, slots=True)
class SentRef:
    """What the platform said it created, if anything."""

    message_id: str | None = None


class SignatureError(Exception):
    """The request is not provably from the platform: 401, or ``status`` (403: token refused)."""

    def __init__(self, reason: str, *, status: int = 401) -> None:
        super().__init__(reason)
        self.status = status


class PayloadError(Exception):
    """The request body is not a valid event (400); ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class DeliveryError(Exception):
    """Sending failed; ``retryable`` says whether the outbox should try again."""

    def __init__(self, reason: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after


class Sender(Protocol):
    name: str
    capabilities: Capabilities

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        """Deliver one message or raise ``DeliveryError``."""
        ...

    async def close(self) -> None: ...


class WebhookAdapter(Sender, Protocol):
    def verify(self, request: RawRequest, now: float) -> None:
        """Raise ``SignatureError`` unless the request is signed and fresh."""
        ...

    def parse(self, request: RawRequest) -> Event | Ack | Batch:
        """Turn a verified request into an Event (or a Batch of them), or raise ``PayloadError``."""
        ...


@runtime_checkable
class Preparing(Protocol):
    """An adapter with platform work to finish before a verified request is parsed (optional).

    E.g. Matrix joins the rooms it is invited to and learns which rooms are direct chats.
    """

    async def prepare(self, request: RawRequest) -> None:
        """Raise ``DeliveryError`` when it failed: the edge answers 503 and the platform retries."""
        ...
