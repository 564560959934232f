"""Run and check Alembic migrations on an async engine.

Checking is cheap on purpose: the head comes from the version files' ``revision`` lines and the
database's revision from a plain ``SELECT``. Alembic itself (~10 MB, ~0.1 s to import) is loaded
only when a migration runs, so ``dxbot serve`` on a current schema never imports it, and a server
that migrates its own SQLite file does so in a child process (``upgrade_in_child``): memory that
Alembic and Mako took is not given back to the OS by unloading them, only by exiting.
"""

from __future__ import annotations

import ast
import asyncio
import os
import site
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect, text

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"
TREE = Path(__file__).resolve().parents[1]  # what holds ``storage``: a migrating child's path
VERSION_TABLE = "alembic_version"  # Alembic's default; env.py does not change it


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config  # only to migrate: see the module docstring

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def _header(source: str) -> str:
    """What comes before the first top-level ``def``: where Alembic's template puts the ids.
    Parsing only that is a start's ~10 ms less; a file it cuts badly is parsed whole."""
    cut = source.find("\ndef ")
    return source if cut < 0 else source[:cut]


def _revision_ids(path: Path) -> tuple[str | None, set[str]]:
    """``revision`` and the ``down_revision`` ids of one version file, read without running it:
    from its header, or from the whole file where the header does not assign both."""
    source = path.read_text(encoding="utf-8")
    try:
        found = _ids_in(ast.parse(_header(source), str(path)).body)
    except SyntaxError:
        found = None
    return found or _ids_in(ast.parse(source, str(path)).body) or (None, set())


def _ids_in(body: list[ast.stmt]) -> tuple[str | None, set[str]] | None:
    """The ids that ``body`` assigns; None unless it assigns both ``revision`` and
    ``down_revision``."""
    ids: dict[str, object] = {}
    for node in body:
        targets: list[ast.expr]
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        elif isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        else:
            continue
        for name in (t.id for t in targets if isinstance(t, ast.Name)):
            if name in ("revision", "down_revision"):
                ids[name] = ast.literal_eval(value)
    if len(ids) < 2:
        return None
    revision, down = ids["revision"], ids["down_revision"]  # down: None, an id, or a merge's ids
    parents = {down} if isinstance(down, str) else set(down) if isinstance(down, tuple) else set()
    return (revision if isinstance(revision, str) else None), parents


def heads(versions: Path) -> set[str]:
    """The revisions in ``versions`` that no other revision revises."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        revision, down = _revision_ids(path)
        if revision is not None:
            revisions.add(revision)
            parents |= down
    return revisions - parents


@cache
def head_revision() -> str | None:
    """The newest revision (what ``alembic heads`` says; a test checks that they agree)."""
    found = heads(MIGRATIONS / "versions")
    if len(found) > 1:
        raise RuntimeError(f"the migrations have several heads: {', '.join(sorted(found))}")
    return next(iter(found), None)


def _current(sync: Connection) -> str | None:
    if not inspect(sync).has_table(VERSION_TABLE):
        return None
    rows = sync.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    if len(rows) > 1:
        raise RuntimeError(f"{VERSION_TABLE} holds several revisions: {', '.join(rows)}")
    return rows[0] if rows else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's revision, or None before the first migration."""
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (idempotent)."""
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.upgrade(_config(sync), revision))


class MigrationFailed(RuntimeError):
    """The child process that migrated the database exited with an error."""


# What of the child's stderr a failure carries: the traceback's end says what went wrong.
_STDERR_TAIL_CHARS = 2000


async def upgrade_in_child(url: str) -> None:
    """Bring the schema at ``url`` to the head in a child Python (``python -m storage.migrate``).

    The URL goes over stdin, as UTF-8, so it never shows in the process list. A child left
    running when this coroutine is cancelled (a signal during start-up) is killed.
    """
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-P",  # not the working directory first on the child's path: see _child_env
        "-m",
        "storage.migrate",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=_child_env(),
    )
    try:
        _, stderr = await child.communicate(url.encode() + b"\n")
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
    if child.returncode != 0:
        tail = stderr.decode(errors="replace").strip()[-_STDERR_TAIL_CHARS:]
        raise MigrationFailed(f"migration exited with {child.returncode}: {tail}")


def _child_env() -> dict[str, str]:
    """The child imports this very tree: put it first on its path, unless it is where the
    interpreter's installed packages live anyway (first there, they would shadow the standard
    library)."""
    env = dict(os.environ)
    installed = {Path(p).resolve() for p in (*site.getsitepackages(), site.getusersitepackages())}
    if TREE not in installed:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(TREE), env.get("PYTHONPATH"))))
    return env


async def _upgrade_url(url: str) -> None:
    from storage.engine import create_engine

    engine = create_engine(url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def main() -> None:
    """The child's side of ``upgrade_in_child``: the database URL is stdin's first line,
    UTF-8 whatever the platform's own encoding (a path may be Japanese)."""
    asyncio.run(_upgrade_url(sys.stdin.buffer.readline().decode("utf-8").rstrip("\r\n")))


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(_config(sync), revision))


if __name__ == "__main__":
    main()
