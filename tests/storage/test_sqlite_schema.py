"""A new SQLite database is built from the schema snapshot: the same database the migrations
build, in one transaction, without a child process; anything else is left to the migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import Runtime
from storage import migrate, sqlite_schema
from storage.engine import create_engine
from tests.conftest import fast_settings

Schema = set[tuple[str, str, str, str]]


# The file-level settings a migration could change (``PRAGMA user_version = …``).
PRAGMAS = ("user_version", "application_id", "auto_vacuum", "encoding", "page_size")


def _contents(path: Path) -> tuple[Schema, dict[str, list[tuple[Any, ...]]]]:
    """Every schema entry of the file, every table's rows, and its file-level settings."""
    with closing(sqlite3.connect(path)) as conn:
        schema: Schema = set(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        rows = {
            name: sorted(conn.execute(f'SELECT * FROM "{name}"'))
            for (type_, name, _, _) in schema
            if type_ == "table"
        }
        rows |= {f"PRAGMA {name}": list(conn.execute(f"PRAGMA {name}")) for name in PRAGMAS}
    return schema, rows


async def _migrated(path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


async def _from_snapshot(path: Path) -> bool:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        return await sqlite_schema.create_if_empty(engine)
    finally:
        await engine.dispose()


async def test_the_snapshot_builds_what_the_migrations_build(tmp_path: Path) -> None:
    """Tables, columns, constraints, indexes (partial ones too) and the revision row."""
    await _migrated(tmp_path / "migrated.db")
    assert await _from_snapshot(tmp_path / "snapshot.db")
    migrated = _contents(tmp_path / "migrated.db")
    assert _contents(tmp_path / "snapshot.db") == migrated
    assert migrated[1]["alembic_version"] == [(migrate.head_revision(),)]


async def test_the_snapshot_is_at_the_head(tmp_path: Path) -> None:
    """Fails after a new migration until ``python -m storage.sqlite_schema`` rewrites it."""
    path = tmp_path / "migrated.db"
    await _migrated(path)
    with closing(sqlite3.connect(path)) as conn:
        expected = sqlite_schema.dump(conn, migrate.head_revision() or "")
    written = sqlite_schema.SNAPSHOT.read_text(encoding="utf-8")
    assert written == expected, "the migrations changed: run python -m storage.sqlite_schema"


async def test_a_town_s_first_start_builds_the_schema_without_a_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def no_child(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a child process was started: {args}")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_child)
    url = f"sqlite+aiosqlite:///{tmp_path / 'new-town.db'}"
    runtime = Runtime(fast_settings(url), webhooks={})
    await runtime.prepare()
    try:
        assert await migrate.is_up_to_date(runtime.engine)
    finally:
        await runtime.stop(flush_seconds=0)


async def test_a_database_at_an_older_revision_is_migrated_not_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / "last-year.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(engine, "0007")
        assert not await sqlite_schema.create_if_empty(engine)
        assert await migrate.current_revision(engine) == "0007"  # untouched
    finally:
        await engine.dispose()
    runtime = Runtime(fast_settings(f"sqlite+aiosqlite:///{path}"), webhooks={})
    await runtime.prepare()  # the child's migration 0007 → head
    try:
        assert await migrate.is_up_to_date(runtime.engine)
    finally:
        await runtime.stop(flush_seconds=0)


async def test_a_snapshot_behind_the_head_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stale = tmp_path / "stale.sql"
    text = sqlite_schema.SNAPSHOT.read_text(encoding="utf-8")
    stale.write_text(text.replace(f"revision {migrate.head_revision()}", "revision 0001", 1))
    monkeypatch.setattr(sqlite_schema, "SNAPSHOT", stale)
    assert not await _from_snapshot(tmp_path / "new.db")
    schema, _ = _contents(tmp_path / "new.db")
    assert schema == set()


async def test_a_failing_snapshot_leaves_the_database_empty(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """All or nothing: a statement that fails rolls back those before it."""
    broken = tmp_path / "broken.sql"
    text = sqlite_schema.SNAPSHOT.read_text(encoding="utf-8")
    broken.write_text(text + "CREATE TABLE inbox (note TEXT);\n", encoding="utf-8")
    monkeypatch.setattr(sqlite_schema, "SNAPSHOT", broken)
    with pytest.raises(migrate.MigrationFailed, match="inbox already exists"):
        await _from_snapshot(tmp_path / "new.db")  # serve: the "could not migrate" exit 3
    schema, _ = _contents(tmp_path / "new.db")
    assert schema == set()


def test_statements_span_lines_and_skip_the_header() -> None:
    text = "-- a header; ok\nCREATE TABLE t (\n\ta TEXT\n);\nINSERT INTO t VALUES('x;y');\n"
    assert sqlite_schema.statements(text) == [
        "CREATE TABLE t (\n\ta TEXT\n);",
        "INSERT INTO t VALUES('x;y');",
    ]
    with pytest.raises(ValueError, match="ends inside a statement"):
        sqlite_schema.statements("CREATE TABLE t (\n")


async def test_without_the_snapshot_file_the_migrations_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(sqlite_schema, "SNAPSHOT", tmp_path / "missing.sql")
    assert not await _from_snapshot(tmp_path / "new.db")
    assert "no schema snapshot" in caplog.text
