"""A PostgreSQL connection that the network drops silently (a firewall forgetting an idle
connection: no FIN, no RST) fails within ``command_timeout`` and is replaced, instead of
holding its caller until TCP gives up; both the engine and the ack path's own pool."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.inbox_writer import writer_for
from storage.engine import create_engine
from tests.builders import make_event
from tests.reliability.proxy import (
    CuttableProxy,
    proxy_fixture,  # noqa: F401 - the ``proxy`` fixture
)

TIMEOUT = 0.5
# A frozen statement fails after TIMEOUT, its rollback after another; a new connection
# (pre-ping, then connect) after at most two more. Far below the minutes TCP would take.
BOUND = 6 * TIMEOUT
HANG = 30  # without the bound a test would wait for TCP (minutes): fail it instead


async def test_a_statement_on_a_dropped_connection_fails_in_time_and_the_next_reconnects(
    postgres_url: str, proxy: CuttableProxy
) -> None:
    engine = create_engine(proxy.url_for(postgres_url), pool_size=1, command_timeout=TIMEOUT)
    try:
        async with asyncio.timeout(HANG):
            await _drop_and_recover(engine, proxy)
    finally:
        await engine.dispose()


async def _drop_and_recover(engine: AsyncEngine, proxy: CuttableProxy) -> None:
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT 1")) == 1
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        async with engine.begin() as conn:
            assert await conn.scalar(text("SELECT 2")) == 2
            proxy.freeze()  # mid-transaction: the next statement never gets an answer
            await conn.scalar(text("SELECT 3"))
    assert time.monotonic() - started < BOUND
    started = time.monotonic()
    with pytest.raises(TimeoutError):  # still gone: a new connection is not waited for
        async with engine.connect() as conn:
            await conn.scalar(text("SELECT 4"))
    assert time.monotonic() - started < BOUND
    proxy.thaw()  # the network is back; the dropped connections stay dead
    async with engine.connect() as conn:
        assert await conn.scalar(text("SELECT 5")) == 5


async def test_the_ack_path_s_own_pool_is_bounded_too(
    postgres_url: str, proxy: CuttableProxy
) -> None:
    """The 503 the platform gets comes in time, so it retries, rather than a hung request."""
    engine = create_engine(proxy.url_for(postgres_url), command_timeout=TIMEOUT)
    writer = writer_for(engine, 2, TIMEOUT)
    now = datetime.now(UTC)
    try:
        async with asyncio.timeout(HANG):
            assert len(await writer.insert([make_event("before", user="D1")], now)) == 1
            proxy.freeze()
            started = time.monotonic()
            with pytest.raises(OperationalError):
                await writer.insert([make_event("during", user="D1")], now)
            assert time.monotonic() - started < BOUND
            proxy.thaw()
            assert len(await writer.insert([make_event("after", user="D1")], now)) == 1
    finally:
        await writer.close()
        await engine.dispose()


async def test_forgotten_pooled_connections_are_replaced_without_failing_a_caller(
    postgres_url: str, proxy: CuttableProxy
) -> None:
    """The network forgets the idle pool's connections but lets new ones through: each
    checkout's pre-ping times out, and the pool reconnects for that same caller."""
    engine = create_engine(proxy.url_for(postgres_url), pool_size=3, command_timeout=TIMEOUT)
    try:
        async with asyncio.timeout(HANG):
            held = [await engine.connect() for _ in range(3)]
            for conn in held:
                assert await conn.scalar(text("SELECT 1")) == 1
            for conn in held:
                await conn.close()  # back to the pool, idle
            proxy.freeze()
            proxy.thaw()  # the pooled connections are dead; new ones get through
            for n in range(4):
                async with engine.connect() as conn:
                    assert await conn.scalar(text(f"SELECT {n}")) == n
    finally:
        await engine.dispose()
