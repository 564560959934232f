"""Engine and session set-up for SQLite (WAL, one writer at a time) and PostgreSQL."""

from __future__ import annotations

from functools import partial
from typing import Any

from sqlalchemy import event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

# How long a write waits for another process's lock on the SQLite file before failing.
BUSY_TIMEOUT_SECONDS = 30.0
# PostgreSQL connections older than this are replaced when next taken from the pool, unused.
# Firewalls commonly forget connections idle for an hour; the pre-ping of a forgotten one would
# wait the whole command timeout before its replacement (a morning's first request, say).
RECYCLE_SECONDS = 1800


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    sqlite_synchronous: str = "FULL",
    command_timeout: float | None = None,
) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL and ``BEGIN IMMEDIATE`` transactions.

    ``command_timeout`` (PostgreSQL) bounds each statement and each new connection: without it
    a connection that the network dropped silently (a firewall's idle timeout) waits until TCP
    gives up, and the loop waiting on it stops. A statement that times out fails like a lost
    connection: its transaction is rolled back and the connection replaced. None (``dxbot
    migrate``): no bound, for a long index build.
    """
    if url.startswith("sqlite"):
        return _sqlite_engine(url, sqlite_synchronous)
    engine = _create_async_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_recycle=RECYCLE_SECONDS,
        connect_args={
            # asyncpg prepares every statement and PostgreSQL may then settle on one generic
            # plan, made while the inbox and outbox were nearly empty; for the claims that plan
            # stays (a nested loop over every row, seconds per claim once thousands wait). A
            # custom plan each time follows the table's real size.
            "server_settings": {"plan_cache_mode": "force_custom_plan"},
            **asyncpg_timeouts(command_timeout),
        },
    )
    _ping_times_out_as_lost(engine.sync_engine.dialect)
    return engine


def _ping_times_out_as_lost(dialect: Dialect) -> None:
    """A pre-ping that times out means the network forgot the connection: report it unusable
    (``do_ping`` returns False), so the pool replaces it for this same checkout. SQLAlchemy
    treats only DBAPI errors as a lost connection, and asyncpg's timeout is a plain
    ``TimeoutError``: each forgotten connection in the pool would fail one caller instead."""
    ping = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        try:
            return ping(dbapi_connection)
        except TimeoutError:
            return False

    dialect.do_ping = do_ping  # type: ignore[method-assign]


def asyncpg_timeouts(seconds: float | None) -> dict[str, float]:
    """asyncpg's own bounds: on each statement, and on opening a connection (60 s if unset)."""
    return {} if seconds is None else {"command_timeout": seconds, "timeout": seconds}


def _sqlite_engine(url: str, synchronous: str) -> AsyncEngine:
    from storage import sqlite_inline  # only here: a PostgreSQL process never loads sqlite3 (~1 MB)

    # One connection: SQLite has one write lock and every transaction here takes it
    # (BEGIN IMMEDIATE), so writers queue in the event loop, first come first served,
    # instead of sleeping in SQLite's busy handler (1, 2, 5 … 100 ms steps) until it frees.
    # The connection runs on the loop's thread (storage.sqlite_inline says why); it opens with
    # isolation_level=None, so transactions are ours to begin, and waits for another process's
    # lock without SQLite's busy handler.
    connect = partial(
        sqlite_inline.connect,
        make_url(url).database or ":memory:",
        offload_commit=synchronous == "FULL",
        busy_timeout=BUSY_TIMEOUT_SECONDS,
    )
    engine = _create_async_engine(
        url, async_creator=connect, pool_size=1, max_overflow=0, pool_timeout=60
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA synchronous={synchronous}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
