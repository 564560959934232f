"""Record inbound events before acknowledging them, and claim them for handling in order."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Insert,
    Integer,
    Select,
    Table,
    Text,
    bindparam,
    exists,
    func,
    literal_column,
    select,
    update,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
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


class Claimed(NamedTuple):
    """A claimed event: its row and its payload as stored, JSON text parsed only for the rows
    a turn gets to (a turn may end before its last claimed row, which then stays pending)."""

    id: int
    payload: str

    def event(self) -> Event:
        return Event.from_json(json.loads(self.payload))


# Core rows, not ORM objects: a claim of 50 cost 1.7 ms as objects (the payloads parsed, the
# rows put in the identity map) against 0.8 ms as rows, and the session never reads them again.
_TABLE = cast(Table, InboxEvent.__table__)
_CLAIMED = (_TABLE.c.id, sql_cast(_TABLE.c.payload, Text))  # text on both (asyncpg decodes JSON)


def _pending_query() -> Select[int, str]:
    earlier = _TABLE.alias("earlier")
    waits_for_earlier = exists().where(
        earlier.c.serial_key == _TABLE.c.serial_key,
        earlier.c.status == PENDING,
        earlier.c.id < _TABLE.c.id,
    )
    return (
        select(*_CLAIMED)
        .where(_TABLE.c.status == _LIVE, ~waits_for_earlier)
        .order_by(_TABLE.c.id)
        .limit(bindparam("batch", type_=Integer))
        .with_for_update(skip_locked=True)
    )


# Built once: the statements never change, and building them costs more than running them.
_PENDING = _pending_query()
_ONE_PENDING = (
    select(*_CLAIMED)
    .where(_TABLE.c.id == bindparam("row_id"), _TABLE.c.status == PENDING)
    .with_for_update(skip_locked=True)
)
_MARK_DONE = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=DONE, handled_at=bindparam("now"))
)
_ANY_PENDING = select(exists().where(_TABLE.c.status == _LIVE))
_COUNT_PENDING = select(func.count()).select_from(InboxEvent).where(InboxEvent.status == PENDING)


async def claim_batch(session: AsyncSession, limit: int) -> list[Claimed]:
    """Lock up to ``limit`` of the oldest pending events whose user has no earlier one pending.

    So a batch holds at most one event per user and conversation, and an event is never
    handled while an earlier one of the same user and conversation waits. The row locks last
    for the handling transaction: another process skips these rows.
    """
    result = await session.execute(_PENDING, {"batch": limit})
    return [Claimed(row[0], row[1]) for row in result]


async def claim_row(session: AsyncSession, row_id: int) -> Claimed | None:
    """Lock one event by id if it is still pending (redoing a failed batch one by one)."""
    row = (await session.execute(_ONE_PENDING, {"row_id": row_id})).first()
    return None if row is None else Claimed(row[0], row[1])


async def mark_done(session: AsyncSession, row_ids: list[int], now: datetime) -> None:
    """Mark handled events done: one statement for a whole batch, in its transaction."""
    if row_ids:
        await session.execute(_MARK_DONE, {"ids": row_ids, "now": now})


async def any_pending(session: AsyncSession) -> bool:
    """Whether any event is pending, as this transaction sees it (``ix_inbox_live``)."""
    return bool(await session.scalar(_ANY_PENDING))


async def count_pending(conn: AsyncConnection) -> int:
    """How many events wait to be handled, by any process."""
    return int(await conn.scalar(_COUNT_PENDING) or 0)
