"""The database's own ``INSERT`` (the one with ``ON CONFLICT``), loading only that dialect.

SQLite and PostgreSQL each have an ``insert`` with ``on_conflict_do_nothing`` /
``on_conflict_do_update``. Importing both dialects in every process costs RSS for nothing:
PostgreSQL's is ~2.2 MB in a SQLite process, SQLite's ~0.7 MB in a PostgreSQL one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


def insert_for(dialect: str) -> Callable[..., Any]:
    """``sqlalchemy.dialects.<dialect>.insert`` for ``"postgresql"`` or ``"sqlite"``."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as postgresql_insert

        return postgresql_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def session_insert(session: AsyncSession) -> Callable[..., Any]:
    """``insert_for`` the database ``session`` is bound to."""
    return insert_for(session.get_bind().dialect.name)
