"""Record inbound events before acknowledging them, and claim them for handling in order."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Insert,
    Integer,
    Select,
    Table,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnClause

from bot.events import Event
from storage.dialect_insert import insert_for
from storage.models import InboxEvent

PENDING, DONE, FAILED = "pending", "done", "failed"
# Written into the SQL, not bound: only a constant lets SQLite and PostgreSQL (generic plans)
# use the partial index ``ix_inbox_live``, which holds the pending rows alone.
_LIVE: ColumnClause[str] = literal_column(f"'{PENDING}'")


def insert_statement(dialect: str) -> Insert:
    """``INSERT … ON CONFLICT DO NOTHING RETURNING``: the keys it returns are the new events.

    Run with a list of ``row_values`` (executemany): a known (adapter, event id) is skipped.
    """
    insert = insert_for(dialect)
    table = InboxEvent.__table__
    statement: Insert = (
        insert(InboxEvent)
        .on_conflict_do_nothing(index_elements=["adapter", "event_id"])
        .returning(table.c.adapter, table.c.event_id)
    )
    return statement


# The columns ``row_values`` fills, in its order: the raw-SQL writers compile their statement
# for exactly these (bot.inbox_writer).
ROW_COLUMNS = ("adapter", "event_id", "serial_key", "payload", "status", "attempts", "received_at")


def row_values(event: Event, now: datetime) -> dict[str, Any]:
    """The inbox row of a new event, pending."""
    return {
        "adapter": event.adapter,
        "event_id": event.event_id,
        "serial_key": event.serial_key,
        "payload": event.to_json(),
        "status": PENDING,
        "attempts": 0,
        "received_at": now,
    }


def _pending_query() -> Select[InboxEvent]:
    earlier = aliased(InboxEvent)
    waits_for_earlier = exists().where(
        earlier.serial_key == InboxEvent.serial_key,
        earlier.status == PENDING,
        earlier.id < InboxEvent.id,
    )
    return (
        select(InboxEvent)
        .where(InboxEvent.status == _LIVE, ~waits_for_earlier)
        .order_by(InboxEvent.id)
        .limit(bindparam("batch", type_=Integer))
        .with_for_update(skip_locked=True)
    )


# Built once: the statements never change, and building them costs more than running them.
_PENDING = _pending_query()
_ONE_PENDING = (
    select(InboxEvent)
    .where(InboxEvent.id == bindparam("row_id"), InboxEvent.status == PENDING)
    .with_for_update(skip_locked=True)
)
# Core, not ORM: the batch's rows are done together, and the session never reads them again.
_TABLE = cast(Table, InboxEvent.__table__)
_MARK_DONE = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=DONE, handled_at=bindparam("now"))
)
_COUNT_PENDING = select(func.count()).select_from(InboxEvent).where(InboxEvent.status == PENDING)


async def claim_batch(session: AsyncSession, limit: int) -> list[InboxEvent]:
    """Lock up to ``limit`` of the oldest pending events whose user has no earlier one pending.

    So a batch holds at most one event per user and conversation, and an event is never
    handled while an earlier one of the same user and conversation waits. The row locks last
    for the handling transaction: another process skips these rows.
    """
    return list(await session.scalars(_PENDING, {"batch": limit}))


async def claim_next(session: AsyncSession) -> InboxEvent | None:
    """The single oldest claimable event (see ``claim_batch``)."""
    found = await claim_batch(session, 1)
    return found[0] if found else None


async def claim_row(session: AsyncSession, row_id: int) -> InboxEvent | None:
    """Lock one event by id if it is still pending (redoing a failed batch one by one)."""
    return (await session.scalars(_ONE_PENDING, {"row_id": row_id})).first()


async def mark_done(session: AsyncSession, row_ids: list[int], now: datetime) -> None:
    """Mark handled events done: one statement for a whole batch, in its transaction."""
    if row_ids:
        await session.execute(_MARK_DONE, {"ids": row_ids, "now": now})


async def count_pending(conn: AsyncConnection) -> int:
    """How many events wait to be handled, by any process."""
    return int(await conn.scalar(_COUNT_PENDING) or 0)
