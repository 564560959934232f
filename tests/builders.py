"""Builders for events and correctly signed relay requests (part of the product: use them)."""

from __future__ import annotations

import itertools
import json
import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.adapters.relay import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from bot.events import Conversation, Event, EventType, User

RELAY_SECRET = "test-relay-secret-0123456789"
_ids = itertools.count(1)


def next_event_id(prefix: str = "evt") -> str:
    return f"{prefix}-{next(_ids)}-{time.monotonic_ns()}"


def relay_payload(
    kind: str = "message",
    *,
    text: str = "ヘルプ",
    user: str = "U001",
    name: str = "田中 花子",
    conversation: str | None = None,
    conversation_kind: str = "direct",
    command: str = "dx",
    value: str = "",
    message_id: str = "",
    event_id: str | None = None,
) -> dict[str, Any]:
    """A relay protocol v1 event body."""
    body: dict[str, Any] = {
        "event_id": event_id or next_event_id(),
        "type": kind,
        "occurred_at": datetime.now(UTC).isoformat(),
        "user": {"id": user, "name": name},
        "conversation": {"id": conversation or f"dm-{user}", "kind": conversation_kind},
    }
    if kind == "message":
        body["text"] = text
    elif kind == "command":
        body["command"] = {"name": command, "text": text}
    elif kind == "action":
        body["action"] = {"message_id": message_id, "value": value}
    return body


def signed_headers(
    body: bytes, *, secret: str = RELAY_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: sign(secret, ts, body),
        "Content-Type": "application/json",
    }


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def make_event(
    text: str = "ヘルプ",
    *,
    kind: EventType = EventType.MESSAGE,
    user: str = "U001",
    name: str = "田中 花子",
    conversation: str | None = None,
    conversation_kind: str = "direct",
    command: str | None = None,
    action_id: str | None = None,
    value: str = "",
    adapter: str = "relay",
    event_id: str | None = None,
) -> Event:
    """A normalized Event, as an adapter would produce it."""
    if command is not None:
        kind = EventType.COMMAND
    if action_id is not None:
        kind = EventType.ACTION
    return Event(
        adapter=adapter,
        event_id=event_id or next_event_id(),
        type=kind,
        occurred_at=datetime.now(UTC),
        user=User(id=user, name=name),
        conversation=Conversation(id=conversation or f"dm-{user}", kind=conversation_kind),  # type: ignore[arg-type]
        text=text,
        command=command,
        action_id=action_id,
        value=value,
    )


JST = ZoneInfo("Asia/Tokyo")


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A moment given in Japan's local time, as UTC."""
    return datetime(year, month, day, hour, minute, tzinfo=JST).astimezone(UTC)
