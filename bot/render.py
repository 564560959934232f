"""Fit a platform-independent message to what one platform can show."""

from __future__ import annotations

from dataclasses import replace

from bot.adapters.base import Capabilities
from bot.messages import OutgoingMessage


def numbered_choices(message: OutgoingMessage) -> OutgoingMessage:
    """Fold choices into the text as numbered lines; a reply "1" or the label selects one."""
    if not message.choices:
        return message
    lines = [f"{i}. {choice.label}" for i, choice in enumerate(message.choices, start=1)]
    text = "\n".join([message.text, "", *lines]) if message.text else "\n".join(lines)
    return replace(message, text=text, choices=())


def split_text(text: str, limit: int) -> list[str]:
    """Split at line breaks where possible so each part fits ``limit`` characters."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = rest.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        parts.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    parts.append(rest)
    return parts


def fit(message: OutgoingMessage, capabilities: Capabilities) -> list[OutgoingMessage]:
    """The message as one or more sends the platform accepts; choices go on the last part."""
    if not capabilities.buttons:
        message = numbered_choices(message)
    texts = split_text(message.text, capabilities.max_text_length)
    if len(texts) == 1:
        return [message]
    head = [replace(message, text=t, choices=(), attachment=None) for t in texts[:-1]]
    return [*head, replace(message, text=texts[-1])]
