"""The platform-independent inbound event every adapter produces."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

ConversationKind = Literal["direct", "group"]
ACTION_SEPARATOR = ":"


class EventType(StrEnum):
    MESSAGE = "message"
    COMMAND = "command"
    ACTION = "action"


@dataclass(frozen=True, slots=True)
class User:
    id: str
    name: str = ""


@dataclass(frozen=True, slots=True)
class Conversation:
    id: str
    kind: ConversationKind = "direct"


@dataclass(frozen=True, slots=True)
class Event:
    """A message, a slash-style command or a button press, from one user in one conversation.

    ``text`` is the message text, or a command's argument text (``/dx list`` → command ``dx``,
    text ``list``). For an action, ``action_id`` names the listener and ``value`` its payload.
    """

    adapter: str
    event_id: str
    type: EventType
    occurred_at: datetime
    user: User
    conversation: Conversation
    text: str = ""
    command: str | None = None
    action_id: str | None = None
    value: str = ""
    message_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def serial_key(self) -> str:
        """Events sharing this key are handled one after another, in arrival order."""
        return f"{self.adapter}|{self.conversation.id}|{self.user.id}"

    @property
    def is_direct(self) -> bool:
        return self.conversation.kind == "direct"

    def to_json(self) -> dict[str, Any]:
        # Written out rather than dataclasses.asdict, whose deep copy was a sixth of the
        # ack path's CPU; ``extra`` is copied one level, as the adapters build it fresh.
        return {
            "adapter": self.adapter,
            "event_id": self.event_id,
            "type": self.type.value,
            "occurred_at": self.occurred_at.isoformat(),
            "user": {"id": self.user.id, "name": self.user.name},
            "conversation": {"id": self.conversation.id, "kind": self.conversation.kind},
            "text": self.text,
            "command": self.command,
            "action_id": self.action_id,
            "value": self.value,
            "message_id": self.message_id,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Event:
        return cls(
            adapter=data["adapter"],
            event_id=data["event_id"],
            type=EventType(data["type"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            user=User(**data["user"]),
            conversation=Conversation(**data["conversation"]),
            text=data.get("text", ""),
            command=data.get("command"),
            action_id=data.get("action_id"),
            value=data.get("value", ""),
            message_id=data.get("message_id"),
            extra=data.get("extra") or {},
        )

    def as_action(self, wire_value: str, message_id: str | None = None) -> Event:
        """This event re-read as a button press carrying ``wire_value``."""
        action_id, value = split_action_value(wire_value)
        return replace(
            self,
            type=EventType.ACTION,
            action_id=action_id,
            value=value,
            message_id=message_id,
            extra={**self.extra, "typed": self.text}
            if self.type == EventType.MESSAGE
            else self.extra,
        )

    def as_typed(self) -> Event:
        """Undo a choice resolution: the text as it was typed (see ``as_action``)."""
        if "typed" not in self.extra:
            return self
        extra = {k: v for k, v in self.extra.items() if k != "typed"}
        return replace(
            self,
            type=EventType.MESSAGE,
            text=str(self.extra["typed"]),
            action_id=None,
            value="",
            extra=extra,
        )


def join_action_value(action_id: str, value: str = "") -> str:
    """Encode a button's listener and payload in the one string platforms carry."""
    return f"{action_id}{ACTION_SEPARATOR}{value}" if value else action_id


def split_action_value(wire_value: str) -> tuple[str, str]:
    action_id, _, value = wire_value.partition(ACTION_SEPARATOR)
    return action_id, value
