"""Migrations: upgrade/downgrade round trip; serve migrates SQLite in a child process and
refuses an old PostgreSQL schema.

``storage.migrate`` reads revisions without alembic; here its answers are compared with
alembic's own.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

import storage.digest_queries
import storage.directory  # noqa: F401
from bot import cli
from bot.runtime import Runtime, SchemaOutOfDate
from storage import Base, migrate
from storage.engine import create_engine
from tests.builders import RELAY_SECRET
from tests.conftest import fast_settings
from tests.waiting import eventually


async def _alembic_current(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )


def test_head_revision_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(migrate.MIGRATIONS))
    assert migrate.head_revision() == ScriptDirectory.from_config(config).get_current_head()


def test_heads_follow_merges_and_see_a_fork(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text('revision: str = "a1"\ndown_revision: str | None = None\n')
    (tmp_path / "b.py").write_text('revision = "b1"\ndown_revision = "a1"\n')
    (tmp_path / "c.py").write_text('revision = "c1"\ndown_revision = "a1"\n')
    assert migrate.heads(tmp_path) == {"b1", "c1"}  # a fork, which head_revision() refuses
    (tmp_path / "m.py").write_text('revision = "m1"\ndown_revision = ("b1", "c1")\n')
    assert migrate.heads(tmp_path) == {"m1"}


def test_ids_are_read_wherever_the_file_puts_them(tmp_path: Path) -> None:
    """Only the part before the first ``def`` is parsed, unless it is not Python (a docstring
    with "def" at a line's start) or does not assign both ids (they come after a ``def``)."""
    (tmp_path / "a.py").write_text(
        '"""First.\ndef is just a word here\n"""\nrevision = "a1"\ndown_revision = None\n'
    )
    (tmp_path / "b.py").write_text('revision = "b1"\ndown_revision = "a1"\ndef upgrade(): ...\n')
    (tmp_path / "c.py").write_text('def upgrade(): ...\nrevision = "c1"\ndown_revision = "b1"\n')
    assert migrate.heads(tmp_path) == {"c1"}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


async def test_upgrade_downgrade_round_trip(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await migrate.is_up_to_date(engine)
        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        assert await _alembic_current(engine) is None
        assert "inbox" not in await _tables(database_url)
        await migrate.upgrade(engine, "0004")
        assert await migrate.current_revision(engine) == "0004" == await _alembic_current(engine)
        assert not await migrate.is_up_to_date(engine)
        await migrate.upgrade(engine)
        await migrate.upgrade(engine)  # idempotent
        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await _alembic_current(engine) == migrate.head_revision()
    finally:
        await engine.dispose()
    assert {"inbox", "outbox", "staff", "pending_choices"} <= await _tables(database_url)


async def test_sqlite_is_migrated_automatically_on_start(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    runtime = Runtime(fast_settings(url), webhooks={})
    await runtime.prepare()
    assert await migrate.is_up_to_date(runtime.engine)
    await runtime.stop(flush_seconds=0)


async def test_a_failed_migration_on_start_says_why_and_changes_nothing(tmp_path: Path) -> None:
    """The child's error reaches the operator; the file keeps what it had, unversioned."""
    path = tmp_path / "taken.db"
    with closing(sqlite3.connect(path)) as conn:  # a table in the way of the first migration
        conn.execute("CREATE TABLE inbox (note TEXT)")
        conn.commit()
    runtime = Runtime(fast_settings(f"sqlite+aiosqlite:///{path}"), webhooks={})
    with pytest.raises(migrate.MigrationFailed, match="inbox already exists"):
        await runtime.prepare()
    await runtime.stop(flush_seconds=0)
    with closing(sqlite3.connect(path)) as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert tables == {"inbox"}


async def test_a_japanese_path_is_migrated_whatever_the_platforms_encoding(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL crosses to the child as UTF-8 even where stdin's encoding is another (as on a
    Japanese Windows, cp932)."""
    monkeypatch.setenv("PYTHONIOENCODING", "cp1252")
    folder = tmp_path / "役場 データ"
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder / '課題.db'}"
    await migrate.upgrade_in_child(url)
    engine = create_engine(url)
    try:
        assert await migrate.is_up_to_date(engine)
    finally:
        await engine.dispose()


async def test_a_cancelled_start_leaves_no_migrating_child_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    children: list[asyncio.subprocess.Process] = []
    spawn = asyncio.create_subprocess_exec

    async def recorded(*args: Any, **kwargs: Any) -> asyncio.subprocess.Process:
        children.append(await spawn(*args, **kwargs))
        return children[-1]

    monkeypatch.setattr(asyncio, "create_subprocess_exec", recorded)
    task = asyncio.create_task(migrate.upgrade_in_child(f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"))
    await eventually(lambda: bool(children))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert children[0].returncode is not None  # killed and reaped, not orphaned


def test_serve_says_in_japanese_that_the_migration_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "taken.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE outbox (note TEXT)")
        conn.commit()
    for name in [name for name in os.environ if name.startswith("DXBOT_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.setenv("DXBOT_RELAY_SECRET", RELAY_SECRET)
    assert cli.main(["serve"]) == cli.EXIT_SCHEMA
    error = capsys.readouterr().err
    assert "スキーマを更新できませんでした" in error and "table outbox already exists" in error


async def test_sqlite_auto_migration_can_be_switched_off(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"
    runtime = Runtime(fast_settings(url, database={"auto_migrate_sqlite": False}), webhooks={})
    with pytest.raises(SchemaOutOfDate):
        await runtime.prepare()
    await runtime.stop(flush_seconds=0)


async def test_postgresql_refuses_an_old_schema(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    await migrate.downgrade(engine, "base")
    try:
        runtime = Runtime(fast_settings(postgres_url), webhooks={})
        with pytest.raises(SchemaOutOfDate, match="none"):
            await runtime.prepare()
        await runtime.stop(flush_seconds=0)
    finally:
        await migrate.upgrade(engine)
        await engine.dispose()


async def test_second_process_on_one_sqlite_file_is_refused(tmp_path: Path) -> None:
    from storage.sqlite_lock import DatabaseInUse

    url = f"sqlite+aiosqlite:///{tmp_path / 'town.db'}"
    first = Runtime(fast_settings(url), webhooks={})
    await first.prepare()
    second = Runtime(fast_settings(url), webhooks={})
    with pytest.raises(DatabaseInUse):
        await second.prepare()
    await second.stop(flush_seconds=0)
    await first.stop(flush_seconds=0)
    third = Runtime(fast_settings(url), webhooks={})
    await third.prepare()  # free again once the first has stopped
    await third.stop(flush_seconds=0)


# The directory's columns of ``staff`` are read and written through ``storage.directory``'s
# lightweight ``staff_directory`` table, not the ORM model (migration 0005 adds them).
OUTSIDE_THE_MODELS = {("remove_column", "staff", "section"), ("remove_column", "staff", "active")}


def _differences(sync: Connection) -> set[tuple[str, ...]]:
    """What Alembic's autogenerate would change to make the database match the models."""
    context = MigrationContext.configure(sync, opts={"compare_type": True})
    found: set[tuple[str, ...]] = set()
    for diff in compare_metadata(context, Base.metadata):
        if diff[0] == "remove_column":
            found.add(("remove_column", str(diff[2]), str(diff[3].name)))
        else:
            found.add(tuple(str(part) for part in diff))
    return found


async def test_the_migrations_build_what_the_models_declare(database_url: str) -> None:
    """A model changed without a migration (or the reverse) shows here, on both databases:
    tables, columns, types, nullability and indexes, as Alembic's autogenerate compares them."""
    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            found = await conn.run_sync(_differences)
    finally:
        await engine.dispose()
    assert found == OUTSIDE_THE_MODELS
