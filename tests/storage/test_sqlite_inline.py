"""SQLite on the loop's thread: what it must still hand off, and what it must never block on."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest
from sqlalchemy import text

from storage import sqlite_inline
from storage.engine import create_engine


def _holder(path: Path) -> sqlite3.Connection:
    """Another process's connection (a ``dxbot`` command) that holds the write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return other


async def _ticks_while(awaitable: object) -> int:
    """How often another task ran on the loop while ``awaitable`` was pending."""
    ticks = 0
    done = False

    async def tick() -> None:
        nonlocal ticks
        while not done:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(tick())
    try:
        await awaitable  # type: ignore[misc]
    finally:
        done = True
        await ticker
    return ticks


async def test_a_write_waits_for_another_process_without_blocking_the_loop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "busy.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
        other = _holder(path)
        asyncio.get_running_loop().call_later(0.2, other.rollback)

        async def write() -> None:
            async with engine.begin() as conn:
                await conn.execute(text("INSERT INTO t VALUES (1)"))

        ticks = await _ticks_while(write())
        other.close()
        async with engine.connect() as conn:
            rows = await conn.scalar(text("SELECT count(*) FROM t"))
    finally:
        await engine.dispose()
    assert rows == 1
    assert ticks >= 10  # the loop kept running for the 0.2 s the lock was held


async def test_a_lock_held_past_the_timeout_fails_the_write_with_sqlites_own_error(
    tmp_path: Path,
) -> None:
    path = tmp_path / "held.db"
    conn = await sqlite_inline.connect(str(path), offload_commit=False, busy_timeout=0.05)
    try:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        other = _holder(path)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            await conn.execute("BEGIN IMMEDIATE")
        other.close()
        await conn.execute("BEGIN IMMEDIATE")  # free again: the same connection goes on
        await conn.execute("INSERT INTO t VALUES (1)")
        await conn.commit()
    finally:
        await conn.close()


async def test_a_syncing_commit_runs_off_the_loop_and_statements_run_on_it(
    tmp_path: Path,
) -> None:
    conn = await sqlite_inline.connect(
        str(tmp_path / "full.db"), offload_commit=True, busy_timeout=1
    )
    seen: list[tuple[str, int]] = []
    raw = conn._open()
    raw.set_trace_callback(lambda sql: seen.append((sql, threading.get_ident())))
    try:
        await conn.execute("PRAGMA synchronous=FULL")
        await conn.execute("CREATE TABLE t (x INTEGER)")
        await conn.execute("BEGIN IMMEDIATE")
        cursor = await conn.execute("INSERT INTO t VALUES (?)", (7,))
        assert cursor.rowcount == 1
        await conn.commit()
    finally:
        await conn.close()
    loop_thread = threading.get_ident()
    threads = {sql: thread for sql, thread in seen}
    assert threads["INSERT INTO t VALUES (7)"] == loop_thread
    assert threads["COMMIT"] != loop_thread
    check = sqlite3.connect(tmp_path / "full.db")
    assert check.execute("SELECT x FROM t").fetchall() == [(7,)]
    check.close()


async def test_a_closed_connection_refuses_work_like_sqlite3_does(tmp_path: Path) -> None:
    conn = await sqlite_inline.connect(str(tmp_path / "c.db"), offload_commit=False, busy_timeout=1)
    await conn.close()
    await conn.close()  # twice is harmless, as SQLAlchemy may do on shutdown
    with pytest.raises(sqlite3.ProgrammingError):
        conn.cursor()


async def test_a_cancelled_transaction_still_waits_for_its_thread(tmp_path: Path) -> None:
    """The connection goes back to the pool only once the commit thread is done with it."""
    conn = await sqlite_inline.connect(
        str(tmp_path / "cancel.db"), offload_commit=True, busy_timeout=1
    )
    release = threading.Event()

    def slow_insert(raw: sqlite3.Connection) -> None:
        raw.execute("INSERT INTO t VALUES (1)")
        release.wait(5)

    try:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        task = asyncio.create_task(conn.transaction(slow_insert))
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.sleep(0.05)
        assert not task.done()  # cancelled, but the thread still holds the connection
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        cursor = await conn.execute("SELECT x FROM t")
        assert await cursor.fetchall() == [(1,)]  # the thread finished its work and commit
    finally:
        release.set()
        await conn.close()


async def test_a_transaction_that_raises_is_rolled_back(tmp_path: Path) -> None:
    conn = await sqlite_inline.connect(
        str(tmp_path / "undo.db"), offload_commit=True, busy_timeout=1
    )

    def half(raw: sqlite3.Connection) -> None:
        raw.execute("INSERT INTO t VALUES (1)")
        raise ValueError("the second half failed")

    try:
        await conn.execute("CREATE TABLE t (x INTEGER)")
        with pytest.raises(ValueError):
            await conn.transaction(half)
        cursor = await conn.execute("SELECT count(*) FROM t")
        assert await cursor.fetchall() == [(0,)]
        assert not conn._open().in_transaction
    finally:
        await conn.close()
