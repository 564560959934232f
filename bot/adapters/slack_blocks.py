"""Slack's text rules and Block Kit: how one outgoing message looks in Slack.

Limits are Slack's documented ones (Block Kit reference): a section's text ≤ 3000 characters,
a button's label ≤ 75 and value ≤ 2000, at most 50 blocks in a message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from bot.messages import Choice

log = logging.getLogger(__name__)

MAX_SECTION_TEXT = 3000
MAX_BUTTON_LABEL = 75
MAX_BUTTON_VALUE = 2000
MAX_BLOCKS = 50
# Slack allows 25 elements in an actions block; five keep a row readable on a phone.
BUTTONS_PER_BLOCK = 5
METADATA_EVENT_TYPE = "dxbot_outbox"


def escape(text: str) -> str:
    """``&``, ``<`` and ``>`` as entities: Slack reads them as markup in ``text`` fields."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """What the person typed: Slack sends ``&``, ``<`` and ``>`` as entities."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def fallback_text(text: str, choices: Sequence[Choice]) -> str:
    """The message's ``text``: shown in notifications and read by screen readers."""
    plain = text if text.strip() else " / ".join(c.label for c in choices)
    return escape(plain)


def message_blocks(text: str, choices: Sequence[Choice]) -> list[dict[str, Any]]:
    """A plain-text section (shown exactly as written) and rows of buttons.

    Raises ``ValueError`` for a choice whose value Slack would refuse.
    """
    blocks: list[dict[str, Any]] = []
    if text.strip():
        blocks.append({"type": "section", "text": {"type": "plain_text", "text": text}})
    buttons = [_button(index, choice) for index, choice in enumerate(choices)]
    room = (MAX_BLOCKS - len(blocks)) * BUTTONS_PER_BLOCK
    if len(buttons) > room:
        log.warning("slack message has %s choices; only %s fit", len(buttons), room)
        buttons = buttons[:room]
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        blocks.append({"type": "actions", "elements": buttons[start : start + BUTTONS_PER_BLOCK]})
    return blocks


def _button(index: int, choice: Choice) -> dict[str, Any]:
    value = choice.wire_value
    if len(value) > MAX_BUTTON_VALUE:
        raise ValueError(f"choice value longer than {MAX_BUTTON_VALUE} characters")
    return {
        "type": "button",
        # unique within the message, as Slack requires; the meaning travels in ``value``
        "action_id": f"dx{index}",
        "text": {"type": "plain_text", "text": _label(choice.label)},
        "value": value,
    }


def _label(label: str) -> str:
    if len(label) <= MAX_BUTTON_LABEL:
        return label
    return label[: MAX_BUTTON_LABEL - 1] + "…"


def outbox_metadata(idempotency_key: str) -> dict[str, Any]:
    """Message metadata naming the outbox row, so a duplicate after a retry can be traced."""
    return {
        "event_type": METADATA_EVENT_TYPE,
        "event_payload": {"idempotency_key": idempotency_key},
    }
