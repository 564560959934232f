"""Remember the choices last offered in a conversation, so a typed "1" or label picks one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import Event
from bot.messages import OutgoingMessage
from bot.text import fold
from storage.models import PendingChoices


def _key(message: OutgoingMessage) -> str:
    # A message to a user (a reminder) lands in their direct chat, whose id we may not know.
    return message.conversation_id or f"user:{message.user_id}"


# (adapter, conversation key) pairs this transaction has seen hold no offered choices.
KnownClear = set[tuple[str, str]]

_FORGET = delete(PendingChoices).where(
    PendingChoices.adapter == bindparam("adapter"),
    PendingChoices.conversation_id == bindparam("key"),
)
_LAST_OFFERED = (
    select(PendingChoices)
    .where(
        PendingChoices.adapter == bindparam("adapter"),
        PendingChoices.conversation_id.in_(bindparam("keys", expanding=True)),
    )
    .order_by(PendingChoices.offered_at.desc(), PendingChoices.id.desc())
    .limit(1)
)


async def remember(
    session: AsyncSession,
    adapter: str,
    message: OutgoingMessage,
    now: datetime,
    known_clear: KnownClear | None = None,
) -> None:
    """Record (or clear) what a reply to this conversation can select.

    ``known_clear`` saves the delete (a statement per reply) where this transaction has
    already looked and found nothing offered.
    """
    key = _key(message)
    clear = known_clear if known_clear is not None else set()
    if (adapter, key) not in clear:
        await session.execute(_FORGET, {"adapter": adapter, "key": key})
        clear.add((adapter, key))
    if message.choices:
        clear.discard((adapter, key))
        options = [{"label": c.label, "value": c.wire_value} for c in message.choices]
        session.add(
            PendingChoices(
                adapter=adapter,
                conversation_id=key,
                choices={"options": options},
                offered_at=now,
            )
        )


async def resolve(
    session: AsyncSession, event: Event, known_clear: KnownClear | None = None
) -> Event:
    """The event as a button press when its text selects one of the offered choices.

    Only in direct chats: in a group, someone else's "1" must not answer your question.
    Where nothing is offered, the conversation's keys are added to ``known_clear``.
    """
    if not event.is_direct:
        return event
    keys = [event.conversation.id, f"user:{event.user.id}"]
    rows = await session.scalars(_LAST_OFFERED, {"adapter": event.adapter, "keys": keys})
    offered = rows.first()
    if offered is None:
        if known_clear is not None:
            known_clear.update((event.adapter, key) for key in keys)
        return event
    value = _match(event.text, offered.choices.get("options", []))
    return event if value is None else event.as_action(value)


def _match(text: str, options: list[dict[str, Any]]) -> str | None:
    answer = fold(text)
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return str(options[int(answer) - 1]["value"])
    for option in options:
        if fold(str(option["label"])) == answer:
            return str(option["value"])
    return None
