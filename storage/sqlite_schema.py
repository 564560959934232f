"""A new SQLite database gets the head schema from a snapshot, in one transaction.

The snapshot (``migrations/sqlite_head.sql``) is what the Alembic migrations build on SQLite,
dumped by ``sqlite3``'s ``iterdump``: every table and index, and the ``alembic_version`` row.
Replaying it is what Alembic's cookbook calls building an up-to-date database from scratch, and
it costs a town's first start a few milliseconds instead of a child process that imports Alembic
(~0.5–0.8 s of one core). A database that already holds anything is migrated as before.

The snapshot is checked, not trusted: it names its revision, and one that is not the head is
ignored (the migrations run instead); a test builds a database both ways and compares their
``sqlite_master`` and rows. After adding a migration, rewrite it with
``python -m storage.sqlite_schema``.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from storage.migrate import MIGRATIONS, MigrationFailed, head_revision

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

log = logging.getLogger(__name__)

SNAPSHOT = MIGRATIONS / "sqlite_head.sql"
_HEADER = "-- dxbot's schema on SQLite at revision "
_NOTE = "-- Written by `python -m storage.sqlite_schema` from the migrations; do not edit.\n"
_SKIPPED = {"BEGIN TRANSACTION;", "COMMIT;"}  # iterdump's own; the caller's transaction wraps it


def dump(conn: sqlite3.Connection, revision: str) -> str:
    """The snapshot's text: a header naming ``revision``, then one statement per entry."""
    body = [line for line in conn.iterdump() if line not in _SKIPPED]
    return f"{_HEADER}{revision}\n{_NOTE}" + "\n".join(body) + "\n"


def revision_of(text: str) -> str | None:
    first = text.partition("\n")[0]
    return first.removeprefix(_HEADER) if first.startswith(_HEADER) else None


def statements(text: str) -> list[str]:
    """The snapshot's statements (a ``CREATE TABLE`` spans lines), its comments left out."""
    found: list[str] = []
    pending = ""
    for line in text.splitlines(keepends=True):
        if not pending and line.startswith("--"):
            continue
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        raise ValueError(f"the snapshot ends inside a statement: {pending[:80]!r}")
    return found


def _current_statements() -> list[str] | None:
    """The snapshot's statements if it is at the migrations' head, else None."""
    try:
        text = SNAPSHOT.read_text(encoding="utf-8")
    except FileNotFoundError:  # an install without its package data: migrating still works
        log.warning("no schema snapshot at %s; migrating instead", SNAPSHOT)
        return None
    return statements(text) if revision_of(text) == head_revision() else None


def _is_empty(conn: sqlite3.Connection) -> bool:
    (count,) = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    return bool(count == 0)


async def create_if_empty(engine: AsyncEngine) -> bool:
    """Build the head schema in a database that has nothing yet; False if it has anything (or
    the snapshot is not at the head), for the migrations to deal with. All or nothing: the
    statements run in one ``BEGIN IMMEDIATE`` transaction."""
    from storage.sqlite_inline import in_transaction

    wanted = _current_statements()
    if wanted is None:
        return False

    def build(conn: sqlite3.Connection) -> bool:
        if not _is_empty(conn):
            return False
        for statement in wanted:
            conn.execute(statement)
        return True

    try:
        return await in_transaction(engine, build)
    except sqlite3.Error as exc:  # rolled back: the file is as it was; say why, as a migration
        raise MigrationFailed(f"building the schema from {SNAPSHOT.name} failed: {exc}") from exc


async def _migrated_dump() -> str:
    from storage import migrate
    from storage.engine import create_engine

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "head.db"
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        try:
            await migrate.upgrade(engine)
            revision = await migrate.current_revision(engine)
        finally:
            await engine.dispose()
        if revision is None:
            raise RuntimeError("the migrations left no revision")
        conn = sqlite3.connect(path)
        try:
            return dump(conn, revision)
        finally:
            conn.close()


def main() -> None:
    """Rewrite the snapshot from the migrations (after adding one)."""
    text = asyncio.run(_migrated_dump())
    SNAPSHOT.write_text(text, encoding="utf-8")
    print(f"wrote {SNAPSHOT} at revision {revision_of(text)}", file=sys.stderr)


if __name__ == "__main__":
    main()
