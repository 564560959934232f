"""Record inbound events before acknowledging them, and claim them for handling in order."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Select, exists, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from bot.events import Event
from storage.models import InboxEvent

PENDING, DONE, FAILED = "pending", "done", "failed"


async def store(session: AsyncSession, event: Event, now: datetime) -> bool:
    """Insert the event unless (adapter, event id) is known; True when it is new."""
    values = {
        "adapter": event.adapter,
        "event_id": event.event_id,
        "serial_key": event.serial_key,
        "payload": event.to_json(),
        "status": PENDING,
        "attempts": 0,
        "received_at": now,
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(InboxEvent)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["adapter", "event_id"])
    )
    result = await session.execute(statement)
    return bool(getattr(result, "rowcount", 0))


def _next_pending_query() -> Select[InboxEvent]:
    earlier = aliased(InboxEvent)
    waits_for_earlier = exists().where(
        earlier.serial_key == InboxEvent.serial_key,
        earlier.status == PENDING,
        earlier.id < InboxEvent.id,
    )
    return (
        select(InboxEvent)
        .where(InboxEvent.status == PENDING, ~waits_for_earlier)
        .order_by(InboxEvent.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# Built once: the statement never changes, and building it costs more than running it.
_NEXT_PENDING = _next_pending_query()


async def claim_next(session: AsyncSession) -> InboxEvent | None:
    """Lock the oldest pending event whose user has no earlier event still pending.

    The row lock lasts for the handling transaction, so another process skips it; an event
    is never handled while an earlier one of the same user and conversation waits.
    """
    return (await session.scalars(_NEXT_PENDING)).first()
