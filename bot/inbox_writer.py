"""The one statement of the ack path: insert a group of events, learn which were new.

One contract (``insert`` returns the new ``(adapter, event_id)`` keys and commits), one way
per database; both write the rows of ``inbox.row_values`` under ``inbox.insert_statement``'s
rule (a known event is skipped), without SQLAlchemy's per-statement cost:

- ``SqliteWriter`` compiles it once and runs it, with ``BEGIN IMMEDIATE`` and ``COMMIT``, as one
  call on the process's SQLite connection (``InlineConnection.transaction``): on the commit
  thread when commits sync, so the loop reads the next requests meanwhile. Through a SQLAlchemy
  transaction the group spent ~0.2 ms of the loop's time on a few microseconds of SQLite, a
  third of the whole ack.
- ``AsyncpgWriter`` (PostgreSQL) sends one prepared statement over arrays of the events'
  columns (its ``ON CONFLICT … RETURNING`` written out to match ``insert_statement``), in
  autocommit, on an asyncpg pool of its own: one round trip per group. Through SQLAlchemy a
  group cost a pre-ping, BEGIN, the INSERT and COMMIT, about 1.9 ms of CPU for one event and
  3 ms for eight, more than the limit server's whole request; this way it is 0.5 and 0.6 ms.
  A dead connection is not pinged for first: its group fails (the requests answer 503 and the
  platform retries), and asyncpg's pool replaces the connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy.engine import Dialect
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import inbox
from bot.events import Event
from storage.engine import asyncpg_timeouts
from storage.models import InboxEvent

if TYPE_CHECKING:
    import sqlite3

Key = tuple[str, str]  # (adapter, event_id)
CLOSE_SECONDS = 2.0  # a graceful close waits for the server; a dead one would never answer


class InboxWriter(Protocol):
    concurrency: int  # inserts that may be in flight at once

    async def insert(self, events: Sequence[Event], now: datetime) -> set[Key]: ...

    async def close(self) -> None: ...


Row = tuple[Any, ...]


def _row_builder(dialect: Dialect, names: Sequence[str]) -> Callable[[Event, datetime], Row]:
    """``inbox.row_values`` as a tuple of ``names``, each value as SQLAlchemy binds it for
    ``dialect`` (JSON serialized, times normalized): the rows are what SQLAlchemy writes."""
    columns = InboxEvent.__table__.c
    converters = [
        columns[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
    ]
    pairs = list(zip(names, converters, strict=True))

    def build(event: Event, now: datetime) -> Row:
        row = inbox.row_values(event, now)
        return tuple(
            row[name] if convert is None else convert(row[name]) for name, convert in pairs
        )

    return build


class SqliteWriter:
    """One call on the process's one SQLite connection, checked out of the engine's pool (so
    no other transaction of this process runs meanwhile)."""

    concurrency = 1  # one connection, one write lock

    def __init__(self, engine: AsyncEngine) -> None:
        import sqlite3  # only here: a PostgreSQL process never loads sqlite3 (~1 MB)

        from storage import sqlite_inline

        self._engine = engine
        self._in_transaction = sqlite_inline.in_transaction  # one call per group commit
        self._sqlite_error = sqlite3.Error
        dialect = engine.dialect
        compiled = inbox.insert_statement(dialect.name).compile(
            dialect=dialect, column_keys=list(inbox.ROW_COLUMNS)
        )
        self._sql = str(compiled)
        self._row = _row_builder(dialect, compiled.positiontup or ())

    async def insert(self, events: Sequence[Event], now: datetime) -> set[Key]:
        rows = [self._row(event, now) for event in events]
        sql = self._sql

        def insert_rows(conn: sqlite3.Connection) -> set[Key]:
            new: set[Key] = set()
            for row in rows:
                new.update(conn.execute(sql, row).fetchall())
            return new

        try:
            return await self._in_transaction(self._engine, insert_rows)
        except self._sqlite_error as exc:
            # Answer as SQLAlchemy would (the server maps this to 503), without the values.
            raise OperationalError("INSERT INTO inbox …", None, exc) from exc

    async def close(self) -> None:
        """The connection is the engine's, which the runtime disposes of."""


def _array_insert(dialect: Dialect) -> str:
    """``inbox.insert_statement`` over arrays, one per column of ``inbox.ROW_COLUMNS``: one
    statement whatever the group size."""
    columns = InboxEvent.__table__.c
    names = ", ".join(inbox.ROW_COLUMNS)
    arrays = ", ".join(
        f"${n}::{columns[name].type.compile(dialect=dialect)}[]"
        for n, name in enumerate(inbox.ROW_COLUMNS, start=1)
    )
    return (
        f"INSERT INTO inbox ({names}) SELECT * FROM unnest({arrays})"
        " ON CONFLICT (adapter, event_id) DO NOTHING RETURNING adapter, event_id"
    )


class AsyncpgWriter:
    """asyncpg's own pool and prepared statement: no SQLAlchemy on the ack path (see above)."""

    def __init__(
        self, dsn: str, connections: int, dialect: Dialect, command_timeout: float | None = None
    ) -> None:
        self._dsn = dsn
        self._timeouts = asyncpg_timeouts(command_timeout)
        self.concurrency = connections
        self._sql = _array_insert(dialect)
        self._row = _row_builder(dialect, inbox.ROW_COLUMNS)
        self._pool: Any = None  # asyncpg.Pool, made at first use (imported only here)
        self._making = asyncio.Lock()

    async def insert(self, events: Sequence[Event], now: datetime) -> set[Key]:
        columns = [
            list(values) for values in zip(*(self._row(e, now) for e in events), strict=True)
        ]
        try:
            pool = await self._open()
            async with pool.acquire() as conn:  # a closed connection is replaced on acquire
                records = await conn.fetch(self._sql, *columns)
        except Exception as exc:
            # Answer as SQLAlchemy would (the server maps this to 503), without the values.
            raise OperationalError("INSERT INTO inbox …", None, exc) from exc
        return {(record[0], record[1]) for record in records}

    async def _open(self) -> Any:
        if self._pool is not None:  # every insert after the first: no lock to take
            return self._pool
        async with self._making:
            if self._pool is None:
                import asyncpg

                self._pool = await asyncpg.create_pool(
                    self._dsn, min_size=0, max_size=self.concurrency, **self._timeouts
                )
        return self._pool

    async def close(self) -> None:
        """Close gracefully if the server answers in time; otherwise just drop the sockets."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
        except (TimeoutError, OSError):
            pool.terminate()


def writer_for(
    engine: AsyncEngine, connections: int, command_timeout: float | None = None
) -> InboxWriter:
    """The writer for ``engine``'s database (SQLite or PostgreSQL); on PostgreSQL with up to
    ``connections`` of its own, bounded like the engine's (``storage.engine.create_engine``)."""
    if engine.dialect.name == "sqlite":
        return SqliteWriter(engine)
    dsn = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    return AsyncpgWriter(dsn, connections, engine.dialect, command_timeout)
