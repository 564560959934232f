"""Slack's request bodies read into Events: every malformed one a PayloadError naming the field.

Three kinds reach ``/hooks/slack``: Events API JSON (``url_verification``, ``event_callback``),
slash-command forms, and interaction forms carrying ``payload=`` JSON (``block_actions``).
What dxbot does not handle is answered ``IGNORED`` (a 2xx), so Slack does not retry it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from bot.adapters.base import Ack, PayloadError
from bot.adapters.payload import get_object as _object
from bot.adapters.payload import get_string as _string
from bot.adapters.slack_blocks import unescape
from bot.events import Conversation, ConversationKind, Event, EventType, User

ADAPTER = "slack"
# Every direct chat is the conversation "user:U123": the bot's chat with U123, opened when sent
# to. One id per person whatever arrives (a message, a command, a button press), so the offered
# choices, the order of handling and the replies all share one key; a command typed in a chat
# between two colleagues (the bot is not in it) is answered there too.
DIRECT_TO = "user:"
MAX_ID_LENGTH = 200  # room for our prefixes within the inbox's 255
MAX_TS_LENGTH = 40
IGNORED = Ack(200, {"ok": True})
# Message subtypes that still carry a person's words; the others (bot_message,
# message_changed, channel_join, document_mention …) are Slack's bookkeeping. A list, not a
# set: a malformed subtype may be unhashable.
PERSON_SUBTYPES = ["file_share", "thread_broadcast"]
LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>[\s:,、]*")


def read_event_callback(data: dict[str, Any]) -> Event | Ack:
    """``url_verification`` → the challenge; a DM or an @-mention → a MESSAGE Event."""
    kind = _string(data, "type")
    if kind == "url_verification":
        return Ack(200, {"challenge": _string(data, "challenge")})
    if kind != "event_callback":
        return IGNORED
    event = _object(data, "event")
    event_type = _string(event, "type", "event.type")
    if event_type not in ("message", "app_mention") or _ignored(event, data):
        return IGNORED
    text = unescape(_string(event, "text", "event.text", allow_empty=True))
    if event_type == "app_mention":
        text = _without_mentions(text, _bot_users(data))
    user_id = _string(event, "user", "event.user", limit=MAX_ID_LENGTH)
    channel = _string(event, "channel", "event.channel", limit=MAX_ID_LENGTH)
    return Event(
        adapter=ADAPTER,
        event_id=_string(data, "event_id", limit=MAX_ID_LENGTH),
        type=EventType.MESSAGE,
        occurred_at=_event_time(data, event),
        user=User(id=user_id),
        conversation=_conversation(
            channel, "direct" if event_type == "message" else "group", user_id
        ),
        text=text,
    )


def read_command(form: dict[str, Any], sent_at: str) -> Event:
    """A slash command (``/dx help``) → a COMMAND Event; ``sent_at`` is the signed timestamp."""
    channel = _string(form, "channel_id", limit=MAX_ID_LENGTH)
    user_id = _string(form, "user_id", limit=MAX_ID_LENGTH)
    return Event(
        adapter=ADAPTER,
        # Slack gives a command no event id; its trigger id is unique per invocation.
        event_id="command:" + _string(form, "trigger_id", limit=MAX_ID_LENGTH),
        type=EventType.COMMAND,
        occurred_at=_unix_time(sent_at, "X-Slack-Request-Timestamp"),
        user=User(id=user_id, name=_optional(form, "user_name")),
        conversation=_conversation(channel, _kind(channel, form.get("channel_name")), user_id),
        command=_string(form, "command", limit=MAX_ID_LENGTH).lstrip("/"),
        text=unescape(_string(form, "text", allow_empty=True)),
    )


def read_interaction(payload: dict[str, Any]) -> Event | Ack:
    """A button press (``block_actions`` on a message) → an ACTION Event with its wire value."""
    if _string(payload, "type", "payload.type") != "block_actions":
        return IGNORED
    container = _object(payload, "container", "payload.container")
    if container.get("type") != "message":
        return IGNORED  # a view or modal: dxbot opens none
    actions = payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise PayloadError("payload.actions", "required non-empty list of objects")
    action = actions[0]
    action_ts = _string(action, "action_ts", "payload.actions[0].action_ts", limit=MAX_TS_LENGTH)
    user = _object(payload, "user", "payload.user")
    user_id = _string(user, "id", "payload.user.id", limit=MAX_ID_LENGTH)
    message_ts = _string(
        container, "message_ts", "payload.container.message_ts", limit=MAX_TS_LENGTH
    )
    channel = _string(container, "channel_id", "payload.container.channel_id", limit=80)
    named = payload.get("channel")
    return Event(
        adapter=ADAPTER,
        event_id=f"action:{action_ts}:{user_id}:{message_ts}",
        type=EventType.ACTION,
        occurred_at=_unix_time(action_ts, "payload.actions[0].action_ts"),
        user=User(id=user_id, name=_optional(user, "name") or _optional(user, "username")),
        conversation=_conversation(
            channel, _kind(channel, named.get("name") if isinstance(named, dict) else ""), user_id
        ),
    ).as_action(_string(action, "value", "payload.actions[0].value"), message_ts)


def header(headers: Mapping[str, str], name: str) -> str:
    """A header by name in any case (the edge gives a case-insensitive map, tests a dict)."""
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value or ""


def is_ssl_check(body: bytes) -> bool:
    """Slack's certificate probe for slash commands; answered before verification, as Bolt does.

    Only a form with ``ssl_check=1`` and no command or payload qualifies, and it is answered
    with a bare 200: nothing is stored or done.
    """
    if b"ssl_check=1" not in body or body.lstrip()[:1] == b"{":
        return False
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        return False
    return form.get("ssl_check") == "1" and "command" not in form and "payload" not in form


def load_form(body: bytes) -> dict[str, Any]:
    """A form body (a slash command, or an interaction carrying ``payload``)."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PayloadError("body", "not UTF-8") from exc
    try:
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=True))
    except ValueError as exc:
        raise PayloadError("body", "neither JSON nor a form") from exc


def _ignored(event: dict[str, Any], envelope: dict[str, Any]) -> bool:
    """Not a person talking to dxbot: bots (itself too), edits and joins, channel chatter."""
    subtype = event.get("subtype")
    if event.get("bot_id") or (subtype is not None and subtype not in PERSON_SUBTYPES):
        return True
    if event.get("type") == "message" and event.get("channel_type") != "im":
        return True  # in channels dxbot answers only when mentioned (app_mention)
    return event.get("user") in _bot_users(envelope)


def _bot_users(envelope: dict[str, Any]) -> list[str]:
    """dxbot's own user ids: the bot installations Slack lists in ``authorizations``."""
    authorizations = envelope.get("authorizations")
    return [
        a["user_id"]
        for a in (authorizations if isinstance(authorizations, list) else [])
        if isinstance(a, dict) and a.get("is_bot") and isinstance(a.get("user_id"), str)
    ]


def _without_mentions(text: str, bots: list[str]) -> str:
    """``@dxbot ヘルプ`` → ``ヘルプ``: the leading mention, and dxbot's own anywhere."""
    text = LEADING_MENTION.sub("", text, count=1)
    for bot in bots:
        text = re.sub(rf"<@{re.escape(bot)}(?:\|[^>]*)?>", "", text)
    return text.strip()


def _conversation(channel: str, kind: ConversationKind, user_id: str) -> Conversation:
    """A channel by its id; a direct chat by its person (``DIRECT_TO``)."""
    return Conversation(id=f"{DIRECT_TO}{user_id}" if kind == "direct" else channel, kind=kind)


def _kind(channel_id: str, channel_name: object) -> ConversationKind:
    # Slack names every direct chat "directmessage"; their ids start with D.
    return "direct" if channel_name == "directmessage" or channel_id.startswith("D") else "group"


def _event_time(envelope: dict[str, Any], event: dict[str, Any]) -> datetime:
    if "event_time" in envelope:
        return _unix_time(envelope["event_time"], "event_time")
    return _unix_time(event.get("ts"), "event.ts")


def _unix_time(raw: object, label: str) -> datetime:
    try:
        seconds = float(raw) if isinstance(raw, int | float | str) else math.nan
        if isinstance(raw, bool) or not math.isfinite(seconds):
            raise ValueError(label)
        return datetime.fromtimestamp(seconds, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise PayloadError(label, "not unix seconds") from exc


def _optional(data: dict[str, Any], key: str) -> str:
    """A display name if it is a clean string; names are courtesy, never required."""
    value = data.get(key)
    if isinstance(value, str) and len(value) <= MAX_ID_LENGTH and "\x00" not in value:
        return value
    return ""
