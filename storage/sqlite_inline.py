"""SQLite on the event loop's own thread: the surface of an aiosqlite connection, without its hops.

aiosqlite runs every call on a helper thread, and each call is a hand-off there and back
(~170 µs measured on the benchmark VM). SQLAlchemy makes four such calls per statement, so a
form step (about eight statements) spent over 90 % of its time in hand-offs while SQLite needed
microseconds. Here the calls run inline; SQLAlchemy's aiosqlite dialect wraps this connection
unchanged (``create_async_engine(..., async_creator=...)``).

Inline is safe because the process has one SQLite connection (``storage.engine``): a statement
that holds the loop would have held every other database user anyway. Two waits would block
the loop without it, so they leave it:

- ``COMMIT`` with ``synchronous=FULL`` syncs the WAL to disk (0.4-0.6 ms): it runs on a
  one-thread executor, and the loop meanwhile reads the next requests for the next group commit.
- A write lock held by another process (a ``dxbot`` command on the same file) is waited for with
  ``asyncio.sleep`` between tries (SQLite's own busy handler is off), up to ``busy_timeout``.

``transaction`` runs a whole short write transaction in one go, on the commit thread when
commits sync: the ack path's insert and its commit then cost one hand-off, not SQLAlchemy's
statements on the loop plus the hand-off for ``COMMIT``.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")

_FIRST_WAIT = 0.001
_LONGEST_WAIT = 0.05


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    # A stale WAL snapshot (SQLITE_BUSY_SNAPSHOT) does not clear by waiting; only retry the rest.
    code = getattr(exc, "sqlite_errorcode", sqlite3.SQLITE_BUSY)
    return code & 0xFF == sqlite3.SQLITE_BUSY and code != sqlite3.SQLITE_BUSY_SNAPSHOT


class InlineConnection:
    """What SQLAlchemy's aiosqlite adapter calls on an ``aiosqlite.Connection``."""

    def __init__(self, conn: sqlite3.Connection, *, offload_commit: bool, busy_timeout: float):
        self._connection: sqlite3.Connection | None = conn
        self._offload_commit = offload_commit
        self._busy_timeout = busy_timeout
        self._executor: ThreadPoolExecutor | None = None

    @property
    def isolation_level(self) -> str | None:
        return self._open().isolation_level

    def cursor(self) -> InlineCursor:
        return InlineCursor(self, self._open().cursor())

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = self.cursor()
        await cursor.execute(sql, parameters)
        return cursor

    async def commit(self) -> None:
        conn = self._open()
        if not (self._offload_commit and conn.in_transaction):
            await self.run(conn.commit)
            return
        await self._retrying(lambda: self._off_loop(conn.commit))

    async def transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``BEGIN IMMEDIATE``, ``work(connection)``, ``COMMIT`` (rolled back if ``work`` raises),
        as one call: on the commit thread when commits sync, else here. Only between
        transactions: the caller holds this connection (checked out of the pool)."""
        conn = self._open()

        def whole() -> T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = work(conn)
                conn.commit()
            except BaseException:
                conn.rollback()
                raise
            return result

        if not self._offload_commit:
            return await self.run(whole)
        return await self._retrying(lambda: self._off_loop(whole))

    async def _off_loop(self, call: Callable[[], T]) -> T:
        """Run ``call`` on the commit thread. A cancelled caller still waits for it to end: the
        connection must not go back to the pool while the thread is using it."""
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="sqlite-commit")
        future = asyncio.get_running_loop().run_in_executor(self._executor, call)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            await asyncio.wait({future})
            raise

    async def rollback(self) -> None:
        self._open().rollback()

    async def create_function(self, *args: Any, **kwargs: Any) -> None:
        self._open().create_function(*args, **kwargs)

    async def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        """Close now; SQLAlchemy calls this to terminate a connection it gave up on."""
        conn, self._connection = self._connection, None
        if conn is not None:
            conn.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None

    async def run(self, call: Callable[[], T]) -> T:
        """Run ``call`` now, on this thread (see ``_retrying`` for a lock another holds)."""

        async def now() -> T:
            return call()

        return await self._retrying(now)

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        """Await ``attempt``; while another process holds the lock, sleep and try again, up to
        ``busy_timeout``, then raise SQLite's own error."""
        deadline = time.monotonic() + self._busy_timeout
        wait = _FIRST_WAIT
        while True:
            try:
                return await attempt()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(wait)
                wait = min(wait * 2, _LONGEST_WAIT)

    def _open(self) -> sqlite3.Connection:
        if self._connection is None:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        return self._connection


class InlineCursor:
    """What SQLAlchemy's adapter calls on an ``aiosqlite.Cursor``; every call completes at once."""

    def __init__(self, connection: InlineConnection, cursor: sqlite3.Cursor) -> None:
        self._connection = connection
        self._cursor = cursor

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cursor.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        cursor = self._cursor
        if parameters is None:
            await self._connection.run(lambda: cursor.execute(sql))
        else:
            await self._connection.run(lambda: cursor.execute(sql, parameters))
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        rows = list(parameters)
        await self._connection.run(lambda: self._cursor.executemany(sql, rows))
        return self

    async def fetchone(self) -> Any:
        return self._cursor.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cursor.fetchmany(self._cursor.arraysize if size is None else size)

    async def fetchall(self) -> list[Any]:
        return self._cursor.fetchall()

    async def close(self) -> None:
        self._cursor.close()

    @property
    def description(self) -> Sequence[Any] | None:
        return self._cursor.description

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cursor.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cursor.arraysize = value


async def connect(path: str, *, offload_commit: bool, busy_timeout: float) -> InlineConnection:
    """Open ``path`` for use on this thread (and the commit thread: hence no same-thread check)."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=0)
    return InlineConnection(conn, offload_commit=offload_commit, busy_timeout=busy_timeout)


async def in_transaction(engine: AsyncEngine, work: Callable[[sqlite3.Connection], T]) -> T:
    """``InlineConnection.transaction`` on ``engine``'s one connection, checked out of its pool
    for the call: it waits while another transaction of this process runs, and none runs
    meanwhile."""
    from sqlalchemy.util import greenlet_spawn

    raw = await engine.raw_connection()
    try:
        connection = raw.driver_connection
        if not isinstance(connection, InlineConnection):
            raise TypeError(f"not dxbot's SQLite connection: {type(connection).__name__}")
        return await connection.transaction(work)
    finally:
        await greenlet_spawn(raw.close)
