"""What the bot sends: text, optional choices and an optional attachment."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

from bot.events import join_action_value


@dataclass(frozen=True, slots=True)
class Choice:
    """One button; ``action_id`` picks the listener, ``value`` is its payload."""

    label: str
    action_id: str
    value: str = ""

    @property
    def wire_value(self) -> str:
        return join_action_value(self.action_id, self.value)


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """A message to one conversation (``conversation_id``) or to one user's direct chat."""

    text: str
    choices: tuple[Choice, ...] = ()
    attachment: Attachment | None = None
    conversation_id: str | None = None
    user_id: str | None = None
    in_reply_to: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if (self.conversation_id is None) == (self.user_id is None):
            raise ValueError("an outgoing message needs exactly one of conversation_id, user_id")

    @property
    def conversation_key(self) -> str:
        if self.conversation_id is not None:
            return f"c:{self.conversation_id}"
        return f"u:{self.user_id}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "text": self.text,
            "choices": [
                {"label": c.label, "action_id": c.action_id, "value": c.value} for c in self.choices
            ],
            "conversation_id": self.conversation_id,
            "user_id": self.user_id,
            "in_reply_to": self.in_reply_to,
            "extra": self.extra,
        }
        if self.attachment is not None:
            data["attachment"] = {
                "filename": self.attachment.filename,
                "content_type": self.attachment.content_type,
                "data": base64.b64encode(self.attachment.data).decode("ascii"),
            }
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OutgoingMessage:
        raw = data.get("attachment")
        attachment = (
            Attachment(raw["filename"], raw["content_type"], base64.b64decode(raw["data"]))
            if raw
            else None
        )
        return cls(
            text=data["text"],
            choices=tuple(Choice(**c) for c in data.get("choices", [])),
            attachment=attachment,
            conversation_id=data.get("conversation_id"),
            user_id=data.get("user_id"),
            in_reply_to=data.get("in_reply_to"),
            extra=data.get("extra") or {},
        )
