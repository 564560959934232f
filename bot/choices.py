"""Remember the choices last offered in a conversation, so a typed "1" or label picks one."""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import Any, cast

from sqlalchemy import Insert, Table, bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.events import Event
from bot.messages import OutgoingMessage
from bot.text import fold
from storage.dialect_insert import insert_for
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
_LAST_OFFERED = (  # the column, not the row: an offer replaced in place must not read stale
    select(PendingChoices.choices)
    .where(
        PendingChoices.adapter == bindparam("adapter"),
        PendingChoices.conversation_id.in_(bindparam("keys", expanding=True)),
    )
    .order_by(PendingChoices.offered_at.desc(), PendingChoices.id.desc())
    .limit(1)
)


@cache
def _offer_statement(dialect: str) -> Insert:
    """Record an offer, replacing the conversation's last one: one statement, not two."""
    insert = insert_for(dialect)
    statement = insert(cast(Table, PendingChoices.__table__))
    upsert: Insert = statement.on_conflict_do_update(
        index_elements=["adapter", "conversation_id"],
        set_={"choices": statement.excluded.choices, "offered_at": statement.excluded.offered_at},
    )
    return upsert


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
    if message.choices:
        clear.discard((adapter, key))
        options = [{"label": c.label, "value": c.wire_value} for c in message.choices]
        offer = _offer_statement(session.get_bind().dialect.name)
        row = {"adapter": adapter, "conversation_id": key, "offered_at": now}
        await session.execute(offer, {**row, "choices": {"options": options}})
    elif (adapter, key) not in clear:
        await session.execute(_FORGET, {"adapter": adapter, "key": key})
        clear.add((adapter, key))


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
    offered = await session.scalar(_LAST_OFFERED, {"adapter": event.adapter, "keys": keys})
    if offered is None:
        if known_clear is not None:
            known_clear.update((event.adapter, key) for key in keys)
        return event
    value = _match(event.text, offered.get("options", []))
    return event if value is None else event.as_action(value)


def _match(text: str, options: list[dict[str, Any]]) -> str | None:
    answer = fold(text)
    if answer.isdigit() and 1 <= int(answer) <= len(options):
        return str(options[int(answer) - 1]["value"])
    for option in options:
        if fold(str(option["label"])) == answer:
            return str(option["value"])
    return None
