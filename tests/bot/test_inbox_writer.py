"""The SQLite ack path's writer: the same rows as SQLAlchemy writes, one hand-off, no loop block."""

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
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = await _migrated(tmp_path / "inbox.db")
    yield engine
    await engine.dispose()


def _raw_rows(path: Path) -> list[tuple[object, ...]]:
    """The inbox as SQLite holds it, text for text, without the generated ids."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT adapter, event_id, serial_key, payload, status, attempts, last_error,"
            " received_at, handled_at FROM inbox ORDER BY id"
        ).fetchall()
    finally:
        conn.close()


async def test_the_rows_are_byte_for_byte_what_sqlalchemy_writes(tmp_path: Path) -> None:
    events = [make_event("課題を報告", user="U1"), make_event("ヘルプ", user="U2")]
    ours = await _migrated(tmp_path / "ours.db")
    theirs = await _migrated(tmp_path / "theirs.db")
    try:
        assert writer_for(ours, 4).__class__ is SqliteWriter
        new = await SqliteWriter(ours).insert(events, NOW)
        async with theirs.begin() as conn:
            await conn.execute(
                inbox.insert_statement("sqlite"), [inbox.row_values(e, NOW) for e in events]
            )
        async with ours.connect() as conn:
            stored = (await conn.execute(select(InboxEvent.payload, InboxEvent.received_at))).all()
    finally:
        await ours.dispose()
        await theirs.dispose()
    assert new == {("relay", e.event_id) for e in events}
    assert _raw_rows(tmp_path / "ours.db") == _raw_rows(tmp_path / "theirs.db")
    assert [tuple(row) for row in stored] == [(e.to_json(), NOW) for e in events]


async def test_only_new_events_come_back_once_each(engine: AsyncEngine) -> None:
    known, fresh = make_event(), make_event()
    writer = SqliteWriter(engine)
    assert await writer.insert([known], NOW) == {("relay", known.event_id)}
    again = await writer.insert([known, fresh, fresh], NOW)
    assert again == {("relay", fresh.event_id)}
    async with engine.connect() as conn:
        ids = (await conn.scalars(select(InboxEvent.event_id).order_by(InboxEvent.id))).all()
    assert ids == [known.event_id, fresh.event_id]


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
    engine: AsyncEngine, tmp_path: Path
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
        new = await SqliteWriter(engine).insert([event := make_event()], NOW)
    finally:
        ticker.cancel()
        other.close()
    assert new == {("relay", event.event_id)}
    assert ticks >= 10


async def test_a_failing_group_raises_sqlalchemys_error_and_leaves_nothing(
    engine: AsyncEngine, tmp_path: Path
) -> None:
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
