"""The ack path's writers: the same rows as SQLAlchemy writes; on SQLite one hand-off and no
loop block."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import inbox
from bot.inbox_writer import SqliteWriter, writer_for
from storage import migrate
from storage.engine import create_engine
from storage.models import InboxEvent
from tests.builders import make_event

NOW = datetime(2026, 11, 30, 9, 15, 30, 123456, tzinfo=UTC)


async def _migrated(path: Path, synchronous: str = "FULL") -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}", sqlite_synchronous=synchronous)
    await migrate.upgrade(engine)
    return engine


@pytest.fixture
async def sqlite_engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated(tmp_path / "inbox.db")
    yield engine
    await engine.dispose()


async def _stored_text(engine: AsyncEngine) -> list[tuple[object, ...]]:
    """The inbox as the database holds it (JSON as its text), without the generated ids."""
    payload = "payload::text" if engine.dialect.name == "postgresql" else "payload"
    async with engine.connect() as conn:
        result = await conn.execute(
            text(
                f"SELECT adapter, event_id, serial_key, {payload}, status, attempts, last_error,"
                " received_at, handled_at FROM inbox ORDER BY id"
            )
        )
        return [tuple(row) for row in result]


async def test_the_rows_are_what_sqlalchemy_writes(database_url: str) -> None:
    events = [make_event("課題を報告", user="U1"), make_event("ヘルプ", user="U2")]
    engine = create_engine(database_url)
    writer = writer_for(engine, 2)
    try:
        new = await writer.insert(events, NOW)
        ours = await _stored_text(engine)
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM inbox"))
            await conn.execute(
                inbox.insert_statement(engine.dialect.name),
                [inbox.row_values(e, NOW) for e in events],
            )
        theirs = await _stored_text(engine)
        async with engine.connect() as conn:
            stored = (await conn.execute(select(InboxEvent.payload, InboxEvent.received_at))).all()
    finally:
        await writer.close()
        await engine.dispose()
    assert new == {("relay", e.event_id) for e in events}
    assert ours == theirs
    assert [tuple(row) for row in stored] == [(e.to_json(), NOW) for e in events]


async def test_only_new_events_come_back_once_each(database_url: str) -> None:
    known, fresh = make_event(), make_event()
    engine = create_engine(database_url)
    writer = writer_for(engine, 2)
    try:
        assert await writer.insert([known], NOW) == {("relay", known.event_id)}
        again = await writer.insert([known, fresh, fresh], NOW)
        async with engine.connect() as conn:
            ids = (await conn.scalars(select(InboxEvent.event_id).order_by(InboxEvent.id))).all()
    finally:
        await writer.close()
        await engine.dispose()
    assert again == {("relay", fresh.event_id)}
    assert ids == [known.event_id, fresh.event_id]


def test_sqlite_commits_one_group_at_a_time_and_postgresql_several(tmp_path: Path) -> None:
    sqlite_writer = writer_for(create_engine(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"), 4)
    pg_writer = writer_for(create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none"), 4)
    assert isinstance(sqlite_writer, SqliteWriter) and sqlite_writer.concurrency == 1
    assert pg_writer.concurrency == 4


async def _threads_of(engine: AsyncEngine, writer: SqliteWriter) -> dict[str, int]:
    """Which thread ran each statement of one insert."""
    seen: dict[str, int] = {}
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        raw.driver_connection._open().set_trace_callback(  # type: ignore[union-attr]
            lambda sql: seen.setdefault(sql.split()[0], threading.get_ident())
        )
    await writer.insert([make_event()], NOW)
    return seen


async def test_a_syncing_group_is_one_hand_off_and_a_normal_one_none(tmp_path: Path) -> None:
    loop_thread = threading.get_ident()
    full = await _migrated(tmp_path / "full.db", "FULL")
    normal = await _migrated(tmp_path / "normal.db", "NORMAL")
    try:
        off = await _threads_of(full, SqliteWriter(full))
        on = await _threads_of(normal, SqliteWriter(normal))
    finally:
        await full.dispose()
        await normal.dispose()
    assert set(off) == {"BEGIN", "INSERT", "COMMIT"}
    assert len(set(off.values())) == 1 and loop_thread not in off.values()
    assert set(on) == {"BEGIN", "INSERT", "COMMIT"} and set(on.values()) == {loop_thread}


async def test_another_process_lock_is_waited_for_with_the_loop_free(
    sqlite_engine: AsyncEngine, tmp_path: Path
) -> None:
    other = sqlite3.connect(tmp_path / "inbox.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    asyncio.get_running_loop().call_later(0.2, other.rollback)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    ticker = asyncio.create_task(tick())
    try:
        new = await SqliteWriter(sqlite_engine).insert([event := make_event()], NOW)
    finally:
        ticker.cancel()
        other.close()
    assert new == {("relay", event.event_id)}
    assert ticks >= 10


async def test_a_failing_group_raises_sqlalchemys_error_and_leaves_nothing(
    sqlite_engine: AsyncEngine,
) -> None:
    engine = sqlite_engine
    writer = SqliteWriter(engine)
    stored = make_event()
    await writer.insert([stored], NOW)
    async with engine.begin() as conn:  # the second row of the group will fail
        await conn.execute(
            text(
                "CREATE TRIGGER refuse BEFORE INSERT ON inbox WHEN NEW.event_id = 'bad'"
                " BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
            )
        )
    first, bad = make_event(), make_event(event_id="bad")
    with pytest.raises(OperationalError) as raised:
        await writer.insert([first, bad], NOW)
    assert first.event_id not in str(raised.value)  # the values stay out of the error
    async with engine.connect() as conn:  # the first row went with the rest
        ids = (await conn.scalars(select(InboxEvent.event_id))).all()
    assert ids == [stored.event_id]
    assert await writer.insert([first], NOW) == {("relay", first.event_id)}  # and it goes on
