"""Old rows of the two queues and finished forms are deleted, so a town's database does not
grow for ever, and what someone typed into a form they gave up on is not kept for good.

An inbox row is needed while its event waits and, after that, only to recognise a duplicate
delivery; no adapter accepts a request older than an hour (the relay and Slack refuse a stale
timestamp after minutes, LINE WORKS an ``issuedTime`` past an hour), and a Matrix transaction
is retried only until it is acknowledged. An outbox row is needed until it is sent, then only
to answer "was it sent?" (``dxbot outbox list`` shows dead letters). So handled events and
finished messages go after ``inbox.keep_days`` and ``outbox.keep_days``; waiting ones are never
touched. A form session is needed while it is filled in or may be resumed; a submitted one lives
on as its issue. So submitted and cancelled forms, and drafts, go ``forms.keep_days`` after they
were last touched; a form being filled in never does.

Each run deletes at most ``BATCH`` rows per table, each table in a transaction of its own: on
SQLite the delete holds the one write lock, so it stays short. The rows looked at are the
oldest ``BATCH`` finished ones by id (ids grow with time), so a run costs about the same on a
table of a thousand rows or of millions, with no index of its own to slow the inserts. The
newest form session is never deleted: SQLite numbers a new row max(id) + 1, so deleting it would
let its id come back, and an issue remembers the id of its form (``issues.form_session_id``,
unique). The queues' ids are referred to by nothing that outlives them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import String, Table, delete, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement

from bot import inbox, outbox
from bot.forms import store
from storage.forms import FormSession
from storage.models import InboxEvent, OutboxMessage

log = logging.getLogger(__name__)

BATCH = 1000  # rows per table and run; at one run a minute, 1.4 million a day
EVERY_SECONDS = 60.0

_INBOX = cast(Table, InboxEvent.__table__)
_OUTBOX = cast(Table, OutboxMessage.__table__)
_FORMS = cast(Table, FormSession.__table__)
_INBOX_DONE = (inbox.DONE, inbox.FAILED)
_OUTBOX_DONE = (outbox.SENT, outbox.DEAD)
# A form being filled in is never touched; a submitted one lives on as its issue, and a
# cancelled one or a draft left untouched that long holds what someone typed and gave up on.
_FORMS_DONE = (store.SUBMITTED, store.CANCELLED, store.EXPIRED)


@dataclass(frozen=True, slots=True)
class Pruned:
    events: int
    messages: int
    forms: int = 0


async def prune(
    sessions: async_sessionmaker[AsyncSession],
    now: datetime,
    *,
    inbox_days: int,
    outbox_days: int,
    form_days: int = 0,
    batch: int = BATCH,
) -> Pruned:
    """Delete up to ``batch`` old rows from each table; 0 days keeps that table's rows."""
    events = messages = forms = 0
    if inbox_days > 0:
        cutoff = now - timedelta(days=inbox_days)
        events = await _delete_oldest(sessions, _INBOX, _INBOX_DONE, "received_at", cutoff, batch)
    if outbox_days > 0:
        cutoff = now - timedelta(days=outbox_days)
        messages = await _delete_oldest(
            sessions, _OUTBOX, _OUTBOX_DONE, "created_at", cutoff, batch
        )
    if form_days > 0:
        cutoff = now - timedelta(days=form_days)
        forms = await _delete_oldest(
            sessions, _FORMS, _FORMS_DONE, "updated_at", cutoff, batch, keep_newest=True
        )
    if events or messages or forms:
        log.info(
            "deleted %d handled events, %d finished messages and %d finished forms",
            events,
            messages,
            forms,
        )
    return Pruned(events, messages, forms)


async def _delete_oldest(
    sessions: async_sessionmaker[AsyncSession],
    table: Table,
    finished: tuple[str, ...],
    stamp: str,
    cutoff: datetime,
    batch: int,
    *,
    keep_newest: bool = False,
) -> int:
    """Among the ``batch`` oldest finished rows, delete those stamped before ``cutoff``.

    The window is read in id order, so rows that wait (a message for an adapter no process
    serves may wait for good) are stepped over and the read stops after ``batch`` finished
    rows, whatever the table's size; the delete then names its rows by id. On SQLite the status
    term is written ``+status``, which keeps it off the status index: through that index SQLite
    would sort every finished row to find the oldest. On PostgreSQL a run skips the rows another
    process's run has locked."""
    async with sessions() as session, session.begin():
        sqlite = session.get_bind().dialect.name == "sqlite"
        status = literal_column("+status", String) if sqlite else table.c.status
        conditions: list[ColumnElement[bool]] = [status.in_(finished)]
        if keep_newest:
            conditions.append(table.c.id < select(func.max(table.c.id)).scalar_subquery())
        window = (
            select(table.c.id, table.c[stamp])
            .where(*conditions)
            .order_by(table.c.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
        ids = [row_id for row_id, at in await session.execute(window) if at < cutoff]
        if ids:
            await session.execute(delete(table).where(table.c.id.in_(ids)))
    return len(ids)
