"""What a Matrix homeserver sends its application service, read into Events and answers.

Only the transaction's envelope can make a request fail (400). One event that dxbot cannot
read is skipped and logged: the homeserver resends a refused transaction unchanged, forever,
so refusing it for one odd event would stop every later message.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from bot.adapters.base import Ack, PayloadError
from bot.adapters.payload import load_object
from bot.events import Conversation, ConversationKind, Event, EventType, User

log = logging.getLogger(__name__)

ADAPTER = "matrix"
APP_PREFIX = "/_matrix/app/v1/"
MAX_ID_LENGTH = 255  # the spec's limit for event and user ids, and the inbox's column
# "/dx status" or "!dx status" (Matrix clients take "/" for their own commands, so bots
# conventionally answer "!"); full-width forms from a Japanese IME count too.
COMMAND = re.compile(
    r"\s*[/!／！](?P<name>[A-Za-zＡ-Ｚａ-ｚ][A-Za-z0-9_\-Ａ-Ｚａ-ｚ０-９]*)(?:\s+(?P<rest>.*))?",
    re.DOTALL,
)
IGNORED = Ack(200, {})


def unrecognized(status: int = 404) -> Ack:
    """The spec's answer for an endpoint (404) or method (405) an application service lacks."""
    return Ack(status, {"errcode": "M_UNRECOGNIZED", "error": "Unrecognized request"})


def not_found(what: str) -> Ack:
    return Ack(404, {"errcode": "M_NOT_FOUND", "error": f"no such {what}"})


def endpoint(path: str) -> tuple[str, str]:
    """``("transactions", "42")`` for ``/_matrix/app/v1/transactions/42``; ("", "") if unknown."""
    if not path.startswith(APP_PREFIX):
        return "", ""
    kind, _, arg = path[len(APP_PREFIX) :].partition("/")
    return kind, arg


@dataclass(frozen=True, slots=True)
class Invite:
    room_id: str
    inviter: str
    is_direct: bool


@dataclass(frozen=True, slots=True)
class Membership:
    room_id: str
    user_id: str
    membership: str
    display_name: str


def transaction_events(body: bytes) -> list[Any]:
    """The ``events`` of a transaction body, or ``PayloadError`` naming what is wrong."""
    events = load_object(body).get("events")
    if not isinstance(events, list):
        raise PayloadError("events", "required list")
    return events


def room_events(events: list[Any]) -> Iterator[dict[str, Any]]:
    """The events that are objects naming a room (the rest are not ours to read)."""
    for event in events:
        if isinstance(event, dict) and _text(event.get("room_id")):
            yield event


def invites(events: list[Any], bot_user_id: str) -> list[Invite]:
    """Invitations of the bot itself; ``is_direct`` is the inviter's client saying "a DM"."""
    found = []
    for event in room_events(events):
        content = event.get("content")
        if (
            event.get("type") == "m.room.member"
            and event.get("state_key") == bot_user_id
            and isinstance(content, dict)
            and content.get("membership") == "invite"
        ):
            inviter = _text(event.get("sender"))
            found.append(Invite(event["room_id"], inviter, content.get("is_direct") is True))
    return found


def membership_changes(events: list[Any]) -> list[Membership]:
    """Every member event: a room's size may have changed, a name may be new."""
    changes = []
    for event in room_events(events):
        content = event.get("content")
        user = _text(event.get("state_key"))
        if event.get("type") == "m.room.member" and user and isinstance(content, dict):
            name = _text(content.get("displayname"))[:MAX_ID_LENGTH]
            changes.append(
                Membership(event["room_id"], user, _text(content.get("membership")), name)
            )
    return changes


def _messages_from_people(events: list[Any], bot_user_id: str) -> Iterator[dict[str, Any]]:
    for event in room_events(events):
        sender = event.get("sender")
        if (
            event.get("type") == "m.room.message"
            and isinstance(sender, str)
            and sender != bot_user_id
        ):
            yield event


def message_rooms(events: list[Any], bot_user_id: str) -> set[str]:
    """Rooms where someone other than the bot wrote a message in this transaction."""
    return {event["room_id"] for event in _messages_from_people(events, bot_user_id)}


def message_senders(events: list[Any], bot_user_id: str) -> set[str]:
    return {event["sender"] for event in _messages_from_people(events, bot_user_id)}


def read_messages(
    events: list[Any],
    bot_user_id: str,
    kind_of: Callable[[str], ConversationKind],
    name_of: Callable[[str], str | None] = lambda _: None,
) -> tuple[Event, ...]:
    """The people's messages, in order; the bot's own, notices and edits are not events."""
    found = []
    for raw in events:
        try:
            event = read_message(raw, bot_user_id, kind_of, name_of)
        except PayloadError as exc:
            log.warning("skipped an unreadable matrix event: %s", exc)
            continue
        if event is not None:
            found.append(event)
    return tuple(found)


def read_message(
    raw: Any,
    bot_user_id: str,
    kind_of: Callable[[str], ConversationKind],
    name_of: Callable[[str], str | None] = lambda _: None,
) -> Event | None:
    """One ``m.room.message`` as an Event; None for what needs no answer."""
    if not isinstance(raw, dict) or raw.get("type") != "m.room.message" or "state_key" in raw:
        return None
    sender = _id(raw, "sender")
    content = raw.get("content")
    if sender == bot_user_id or not isinstance(content, dict):
        return None
    relation = content.get("m.relates_to")
    relation = relation if isinstance(relation, dict) else {}
    msgtype = content.get("msgtype")
    # An edit would answer a question twice; a notice is a bot talking (the spec: never reply).
    if relation.get("rel_type") == "m.replace" or msgtype == "m.notice":
        return None
    if not isinstance(msgtype, str):
        return None  # redacted, or not a message at all
    room_id = _id(raw, "room_id")
    event = Event(
        adapter=ADAPTER,
        event_id=_id(raw, "event_id"),
        type=EventType.MESSAGE,
        occurred_at=_timestamp(raw.get("origin_server_ts")),
        user=User(id=sender, name=name_of(sender) or ""),
        conversation=Conversation(id=room_id, kind=kind_of(room_id)),
    )
    if msgtype != "m.text":  # an image, a file …: an empty message, answered as such
        return _with_text(event, "", {"msgtype": msgtype})
    body = content.get("body")
    if not isinstance(body, str) or "\x00" in body:
        raise PayloadError("content.body", "required string without NUL")
    if "m.in_reply_to" in relation:
        body = strip_reply_fallback(body)
    return _with_text(event, body, {})


def _with_text(event: Event, text: str, extra: dict[str, Any]) -> Event:
    """A message, or a command when it reads ``/dx …`` or ``!dx …``."""
    found = COMMAND.fullmatch(text)
    if found is None:
        return replace(event, text=text, extra=extra)
    name = unicodedata.normalize("NFKC", found["name"]).lower()
    rest = (found["rest"] or "").strip()
    return replace(event, type=EventType.COMMAND, command=name, text=rest)


def strip_reply_fallback(body: str) -> str:
    """A reply's body without the quoted ``> <@user> original`` lines older clients prepend."""
    lines = body.split("\n")
    if not lines or not lines[0].startswith(">"):
        return body
    index = 0
    while index < len(lines) and lines[index].startswith(">"):
        index += 1
    if index < len(lines) and lines[index] == "":
        index += 1
    return "\n".join(lines[index:])


def _id(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise PayloadError(key, "required string")
    if len(value) > MAX_ID_LENGTH or "\x00" in value:
        raise PayloadError(key, f"longer than {MAX_ID_LENGTH} characters or has NUL")
    return value


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _timestamp(value: object) -> datetime:
    """``origin_server_ts``: milliseconds since the epoch."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise PayloadError("origin_server_ts", "required integer (ms)")
    try:
        return datetime.fromtimestamp(value / 1000, UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise PayloadError("origin_server_ts", "out of range") from exc
