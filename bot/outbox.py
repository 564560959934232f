"""Write replies in the caller's transaction; queries the dispatcher uses to claim them.

``attempts`` counts real tries and is also the fence of a claim: ``finish`` and ``release``
only touch a row still ``sending`` under the attempt number its claimer saw.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime, timedelta
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    Integer,
    Select,
    Table,
    and_,
    bindparam,
    exists,
    insert,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnClause

from bot.messages import OutgoingMessage
from storage.models import OutboxMessage

PENDING, SENDING, SENT, DEAD = "pending", "sending", "sent", "dead"
# What a claim in another transaction returns (``OutboxDispatcher.claim_in``): call it once that
# transaction has ended, with whether it committed.
HandOver = Callable[[bool], None]
# Written into the SQL, not bound: only constants let SQLite and PostgreSQL (generic plans)
# use the partial index ``ix_outbox_live``, which holds the rows still to send.
_LIVE: list[ColumnClause[str]] = [literal_column(f"'{PENDING}'"), literal_column(f"'{SENDING}'")]


async def enqueue(
    session: AsyncSession, adapter: str, message: OutgoingMessage, now: datetime
) -> None:
    """Add ``message`` to the outbox; it is sent only if the caller's transaction commits.

    A Core ``INSERT``, not an ORM object that the unit of work flushes for the next query
    (240 against 75 µs per row alone; a form step's handling 1.34 → 1.27 ms of CPU), for a row
    nobody reads back in this transaction.
    """
    values = {
        "adapter": adapter,
        "conversation_key": f"{adapter}|{message.conversation_key}",
        "idempotency_key": uuid.uuid4().hex,
        "payload": message.to_json(),
        "status": PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
    }
    await session.execute(_INSERT, values)
    session.info[_WROTE] = True


def _on_postgresql(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def guarded(session: AsyncSession) -> AbstractAsyncContextManager[object]:
    """Where a failed statement must not spoil the caller's transaction: a savepoint on
    PostgreSQL (where it aborts the whole transaction); on SQLite a failed statement undoes
    only itself, and the two statements of a savepoint would lengthen every handling turn."""
    return session.begin_nested() if _on_postgresql(session) else nullcontext()


def wrote(session: AsyncSession) -> bool:
    """Whether ``enqueue`` added a row in this session (its replies are worth claiming)."""
    return bool(session.info.get(_WROTE))


_WROTE = "dxbot.outbox.wrote"
_TABLE = cast(Table, OutboxMessage.__table__)  # Core, so a list of parameters is executemany
_INSERT = insert(_TABLE)


class Claimed(NamedTuple):
    """A leased row, with what sending it needs; ``attempts`` counts this try (the fence)."""

    id: int
    attempts: int
    adapter: str
    idempotency_key: str
    payload: dict[str, Any]


# Core rows, not ORM objects: the dispatcher only reads them, and the lease is one UPDATE for
# the whole claim instead of the unit of work's per-row statements.
_CLAIMED = (_TABLE.c.id, _TABLE.c.attempts, _TABLE.c.adapter, _TABLE.c.idempotency_key)


def _due_query() -> Select[int, int, str, str, dict[str, Any]]:
    row, earlier = _TABLE.c, _TABLE.alias("earlier").c  # Core throughout: no ORM compile
    blocked_by_earlier = exists().where(
        earlier.conversation_key == row.conversation_key,
        earlier.id < row.id,
        earlier.status.in_((PENDING, SENDING)),
    )
    now = bindparam("now", type_=row.next_attempt_at.type)
    due = or_(
        and_(row.status == PENDING, row.next_attempt_at <= now),
        and_(row.status == SENDING, row.lease_until < now),
    )
    return (
        select(*_CLAIMED, row.payload)
        .where(
            row.status.in_(_LIVE),  # implied by ``due``; lets ix_outbox_live be used
            due,
            row.adapter.in_(bindparam("adapters", expanding=True)),
            ~blocked_by_earlier,
        )
        .order_by(row.id)
        .limit(bindparam("limit", type_=Integer))
        .with_for_update(skip_locked=True)
    )


# Built once: they run for every claim and every delivery, and building costs more than running.
_DUE = _due_query()
# PostgreSQL plans the claim as a bitmap scan when it expects few live rows, and a bitmap scan
# never marks the index entries of dead row versions (each sent message leaves two: pending,
# sending), so until a vacuum every claim visited them all: 8 ms a claim after 26,000 messages
# with autovacuum off, and 200 form steps/s answered at p50 123 ms instead of 15. An index
# scan of ``ix_outbox_live`` in id order marks them as it passes; the next claim skips them.
_INDEX_SCAN = text("SET LOCAL enable_bitmapscan = off")
_LEASE = (
    update(_TABLE)
    .where(_TABLE.c.id.in_(bindparam("ids", expanding=True)))
    .values(status=SENDING, attempts=_TABLE.c.attempts + 1, lease_until=bindparam("until"))
)
_SENT = (
    update(_TABLE)
    .where(
        _TABLE.c.id == bindparam("row_id"),
        _TABLE.c.status == SENDING,
        _TABLE.c.attempts == bindparam("attempt"),
    )
    .values(
        status=SENT,
        lease_until=None,
        last_error=None,
        sent_at=bindparam("sent_at"),
        platform_message_id=bindparam("message_id"),
    )
)


async def claim_due(
    session: AsyncSession,
    now: datetime,
    *,
    limit: int,
    lease: timedelta,
    adapters: Sequence[str],
) -> list[Claimed]:
    """Lease up to ``limit`` due rows, at most the oldest unsent one per conversation.

    Rows another process holds are skipped (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), and
    a row whose sender died is taken again once its lease has run out. Only rows for
    ``adapters`` (the ones this process has, less any paused by a 429) are taken.

    On PostgreSQL, bitmap scans are off for the rest of the caller's transaction
    (``_INDEX_SCAN``): a claim is the last work of every transaction that runs one.
    """
    if not adapters:
        return []
    if _on_postgresql(session):
        await session.execute(_INDEX_SCAN)  # for the rest of the transaction: claims end it
    found = await session.execute(_DUE, {"now": now, "adapters": list(adapters), "limit": limit})
    rows = [Claimed(row[0], row[1] + 1, row[2], row[3], row[4]) for row in found]
    if rows:  # the rows are locked (SKIP LOCKED): the increment matches what they now hold
        await session.execute(_LEASE, {"ids": [row.id for row in rows], "until": now + lease})
    return rows


async def finish_sent(
    session: AsyncSession, sent: Sequence[tuple[int, int, str | None]], now: datetime
) -> None:
    """Record many deliveries at once: (row id, attempt, platform message id) each, fenced
    like ``finish`` (a row whose lease was lost to another sender is left alone)."""
    if sent:
        params = [
            {"row_id": row_id, "attempt": attempt, "message_id": message_id, "sent_at": now}
            for row_id, attempt, message_id in sent
        ]
        await session.execute(_SENT, params)


async def finish(
    session: AsyncSession,
    row_id: int,
    attempt: int,
    *,
    status: str,
    error: str | None = None,
    next_attempt_at: datetime | None = None,
) -> bool:
    """Record a failed attempt (due again, or dead), unless the lease was lost to another
    sender. Deliveries are recorded many at once by ``finish_sent``."""
    values: dict[str, object] = {"status": status, "lease_until": None, "last_error": error}
    if next_attempt_at is not None:
        values["next_attempt_at"] = next_attempt_at
    return await _fenced_update(session, row_id, attempt, values)


async def release(
    session: AsyncSession,
    row_id: int,
    attempt: int,
    *,
    next_attempt_at: datetime,
    error: str | None = None,
) -> bool:
    """Give a claimed row back without counting the try: it was never a failed delivery.

    Used when the platform said "not now" (429 + Retry-After) or the send never started
    (no send slot before the lease would run out, or shutting down). Undoing the claim's
    increment keeps the fence sound: the next claim takes the same number again, and a
    stale holder of that number cannot match a row that is no longer ``sending``.
    """
    values: dict[str, object] = {
        "status": PENDING,
        "lease_until": None,
        "attempts": attempt - 1,
        "next_attempt_at": next_attempt_at,
    }
    if error is not None:
        values["last_error"] = error
    return await _fenced_update(session, row_id, attempt, values)


async def _fenced_update(
    session: AsyncSession, row_id: int, attempt: int, values: dict[str, object]
) -> bool:
    """Update the row only while it is ``sending`` under ``attempt``: True if it was."""
    result = await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == row_id,
            OutboxMessage.status == SENDING,
            OutboxMessage.attempts == attempt,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))
