"""Shared fixtures: every storage test runs on SQLite and, when configured, on PostgreSQL.

Set ``DXBOT_TEST_POSTGRES_URL`` (e.g. ``postgresql+asyncpg://postgres@127.0.0.1:5432/test``)
to run the PostgreSQL half; ``.ci/run`` does. Without it those tests skip with a reason.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from config.settings import Settings
from storage import migrate
from storage.engine import create_engine, session_factory
from storage.models import Base

PG_ENV = "DXBOT_TEST_POSTGRES_URL"


@contextmanager
def in_process_zone(zone: str) -> Iterator[str]:
    """Run under the process time zone ``zone`` (TZ + tzset), then put the old one back:
    the bot must behave the same whatever the server's own zone is."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield zone
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def postgres_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def _swap_database(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def run_blocking(coro: Any) -> Any:
    """Run a coroutine to completion from sync code, even inside a running event loop."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL database for this test run, migrated once."""
    base = postgres_base_url()
    if base is None:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (set by .ci/run)")
    name = f"dxbot_test_{uuid.uuid4().hex[:10]}"
    run_blocking(_admin(base, f'CREATE DATABASE "{name}"'))
    url = _swap_database(base, name)
    run_blocking(_migrate(url))
    yield url
    run_blocking(_admin(base, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def truncate_all(url: str) -> None:
    engine = create_engine(url)
    tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
    async with engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    await engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A migrated, empty database of each kind."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'dxbot.db'}"
        await _migrate(url)
        return url
    url = request.getfixturevalue("postgres_url")
    await truncate_all(url)
    return url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    eng = create_engine(database_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


def fast_settings(database_url: str, **sections: Any) -> Settings:
    """Settings for tests: quick polling and retries; no TOML file, no environment."""
    data: dict[str, Any] = {
        # NORMAL: a test process crash is still survived (WAL); power loss is not a test case.
        "database": {"url": database_url, "sqlite_synchronous": "NORMAL"},
        "outbox": {
            "base_delay_seconds": 0.01,
            "max_delay_seconds": 0.2,
            "poll_interval_seconds": 0.05,
            "lease_seconds": 5,
            "max_attempts": 5,
            "shutdown_flush_seconds": 2,
            # Unpaced: many tests freeze the clock, and a paced adapter would wait for it to move.
            # Pacing has its own tests (tests/bot/test_pacing.py).
            "rate_limits": {"lineworks": {"per_minute": 0}},
        },
        "inbox": {"poll_interval_seconds": 0.05},
    }
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value} if isinstance(value, dict) else value
    return Settings.model_validate(data)
