"""dxbot relay protocol v1 (docs/relay-protocol.md): the path for LoGoチャット and gateways."""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.adapters.base import (
    Capabilities,
    DeliveryError,
    PayloadError,
    RawRequest,
    SentRef,
    SignatureError,
)
from bot.adapters.payload import get_object as _object
from bot.adapters.payload import get_string as _string
from bot.adapters.payload import load_object as _load_object
from bot.events import Conversation, Event, EventType, User
from bot.messages import OutgoingMessage

SIGNATURE_HEADER = "X-DXBot-Signature"
TIMESTAMP_HEADER = "X-DXBot-Request-Timestamp"
MAX_ID_LENGTH = 255
MAX_RETRY_AFTER = 86_400.0  # a day; anything longer is a platform bug, not a plan


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The v1 signature of ``body`` sent at ``timestamp`` (unix seconds as text)."""
    base = b"v1:" + timestamp.encode("ascii") + b":" + body
    return "v1=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


class RelayAdapter:
    """Inbound JSON webhooks and outbound ``POST /messages`` to a relay gateway."""

    name = "relay"

    def __init__(
        self,
        secret: str,
        *,
        previous_secret: str | None = None,
        outbound_url: str | None = None,
        outbound_token: str | None = None,
        buttons: bool = True,
        tolerance_seconds: int = 300,
        send_timeout_seconds: float = 10.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        self._secrets = [secret] if previous_secret is None else [secret, previous_secret]
        self._outbound_url = outbound_url.rstrip("/") if outbound_url else None
        self._token = outbound_token
        self._tolerance = tolerance_seconds
        self._timeout = aiohttp.ClientTimeout(total=send_timeout_seconds)
        self._http = http
        self._owns_http = http is None
        self.capabilities = Capabilities(buttons=buttons, max_text_length=10_000)

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: RawRequest, now: float) -> None:
        timestamp = request.headers.get(TIMESTAMP_HEADER, "")
        signature = request.headers.get(SIGNATURE_HEADER, "")
        if not timestamp or not signature:
            raise SignatureError("missing signature headers")
        if not (timestamp.isascii() and timestamp.isdigit()):
            raise SignatureError("timestamp is not unix seconds")
        if abs(now - int(timestamp)) > self._tolerance:
            raise SignatureError("timestamp outside the allowed window")
        given = signature.encode("utf-8", "replace")
        # Each secret is compared (no early exit): the time taken does not tell which matched.
        matches = [
            hmac.compare_digest(sign(secret, timestamp, request.body).encode("ascii"), given)
            for secret in self._secrets
        ]
        if not any(matches):
            raise SignatureError("signature does not match")

    def parse(self, request: RawRequest) -> Event:
        data = _load_object(request.body)
        kind = _choice(data, "type", {t.value for t in EventType})
        user = _object(data, "user")
        conversation = _object(data, "conversation")
        base: dict[str, Any] = {
            "adapter": self.name,
            "event_id": _string(data, "event_id", limit=MAX_ID_LENGTH),
            "type": EventType(kind),
            "occurred_at": _timestamp(data, "occurred_at"),
            "user": User(
                id=_string(user, "id", "user.id", limit=MAX_ID_LENGTH),
                name=_string(user, "name", "user.name", allow_empty=True),
            ),
            "conversation": Conversation(
                id=_string(conversation, "id", "conversation.id", limit=MAX_ID_LENGTH),
                kind=_choice(conversation, "kind", {"direct", "group"}, "conversation.kind"),  # type: ignore[arg-type]
            ),
        }
        if kind == EventType.MESSAGE:
            return Event(**base, text=_string(data, "text", allow_empty=True))
        if kind == EventType.COMMAND:
            command = _object(data, "command")
            return Event(
                **base,
                command=_string(command, "name", "command.name").lstrip("/"),
                text=_string(command, "text", "command.text", allow_empty=True),
            )
        action = _object(data, "action")
        value = _string(action, "value", "action.value")
        message_id = (
            _string(action, "message_id", "action.message_id", allow_empty=True)
            if "message_id" in action
            else ""
        )
        return Event(**base).as_action(value, message_id or None)

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        if self._outbound_url is None:
            raise DeliveryError("relay outbound_url is not configured", retryable=False)
        body = _outbound_body(message)
        headers = {"Idempotency-Key": idempotency_key}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        http = self._session()
        try:
            async with http.post(
                f"{self._outbound_url}/messages", json=body, headers=headers, timeout=self._timeout
            ) as response:
                return await _result(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryError(f"relay unreachable: {type(exc).__name__}", retryable=True) from exc

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
            self._owns_http = True
        return self._http

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


def _outbound_body(message: OutgoingMessage) -> dict[str, Any]:
    body: dict[str, Any] = {"text": message.text}
    if message.conversation_id is not None:
        body["conversation_id"] = message.conversation_id
    else:
        body["user_id"] = message.user_id
    if message.choices:
        body["choices"] = [{"label": c.label, "value": c.wire_value} for c in message.choices]
    if message.in_reply_to:
        body["in_reply_to"] = message.in_reply_to
    return body


async def _result(response: aiohttp.ClientResponse) -> SentRef:
    status = response.status
    if 200 <= status < 300:
        try:
            data = await response.json(content_type=None)
        except (ValueError, aiohttp.ContentTypeError):
            data = None
        message_id = data.get("message_id") if isinstance(data, dict) else None
        return SentRef(message_id=str(message_id) if message_id is not None else None)
    reason = f"relay answered HTTP {status}"
    if status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise DeliveryError(reason, retryable=True, retry_after=retry_after)
    if status >= 500 or status == 408:
        raise DeliveryError(reason, retryable=True)
    raise DeliveryError(reason, retryable=False)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return min(max(0.0, seconds), MAX_RETRY_AFTER) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0.0, (when - datetime.now(UTC)).total_seconds()), MAX_RETRY_AFTER)


# -- body validation: each error names the field ---------------------------------------


def _choice(data: dict[str, Any], key: str, allowed: set[str], label: str | None = None) -> str:
    value = _string(data, key, label)
    if value not in allowed:
        raise PayloadError(label or key, f"must be one of {sorted(allowed)}")
    return value


def _timestamp(data: dict[str, Any], key: str) -> datetime:
    raw = _string(data, key)
    try:
        when = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise PayloadError(key, "not an ISO 8601 date-time") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)
