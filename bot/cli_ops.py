"""``dxbot backup`` and ``dxbot outbox list|retry``: the operator's daily tools."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.clock import SystemClock
from config.settings import Settings
from storage.models import OutboxMessage
from storage.sqlite_lock import database_path

Text = Callable[..., str]
LIST_LIMIT = 500  # rows `outbox list` prints; it says so when there are more
EXIT_UNSUPPORTED = 6
EXIT_DATABASE = 7  # the database cannot be reached, or its SQLite file is not there


def sqlite_file_missing(settings: Settings, text: Text) -> bool:
    """Say so when the SQLite file the settings name does not exist (exit ``EXIT_DATABASE``).

    A command run outside the service's working folder or without its settings would
    otherwise create an empty ``./dxbot.db`` and work on that, reporting success.
    """
    path = database_path(settings.database.url) if settings.database.is_sqlite else None
    if path is None or path.is_file():
        return False
    print(text("database_missing", path=path.resolve()), file=sys.stderr)
    return True


def add_parsers(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    backup = commands.add_parser("backup", help="consistent copy of the SQLite database")
    backup.add_argument("target", type=Path, help="file to write (e.g. dxbot-2026-12-01.db)")
    box = commands.add_parser("outbox", help="inspect and retry dead-lettered messages")
    tools = box.add_subparsers(dest="outbox_command", required=True)
    listing = tools.add_parser("list", help="dead letters (and pending ones with --all)")
    listing.add_argument("--all", action="store_true", help="also pending and sending rows")
    retry = tools.add_parser("retry", help="send dead letters again")
    retry.add_argument("ids", nargs="*", type=int, help="outbox ids (default: every dead one)")


def backup(settings: Settings, target: Path, text: Text) -> int:
    """SQLite's online backup API: a consistent copy while the bot keeps running."""
    source = database_path(settings.database.url) if settings.database.is_sqlite else None
    if source is None:
        print(text("backup_postgres"), file=sys.stderr)
        return EXIT_UNSUPPORTED
    if sqlite_file_missing(settings, text):
        return EXIT_DATABASE
    import sqlite3  # only here: a PostgreSQL `dxbot serve` never loads it (~1 MB)

    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    print(text("backup_done", path=target))
    return 0


async def list_outbox(
    sessions: async_sessionmaker[AsyncSession], show_all: bool, text: Text
) -> int:
    statuses = (outbox.DEAD, outbox.PENDING, outbox.SENDING) if show_all else (outbox.DEAD,)
    async with sessions() as session:
        rows = list(
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.status.in_(statuses))
                .order_by(OutboxMessage.id)
                .limit(LIST_LIMIT + 1)
            )
        )
    if not rows:
        print(text("outbox_empty"))
    for row in rows[:LIST_LIMIT]:
        target = row.conversation_key.split("|", 1)[-1]
        print(
            text(
                "outbox_line",
                id=row.id,
                status=text(f"outbox_statuses.{row.status}"),
                adapter=row.adapter,
                target=target,
                attempts=row.attempts,
                error=row.last_error or "-",
            )
        )
    if len(rows) > LIST_LIMIT:
        print(text("outbox_truncated", count=LIST_LIMIT))
    return 0


async def retry(sessions: async_sessionmaker[AsyncSession], ids: list[int], text: Text) -> int:
    """Dead letters go back to pending with a fresh try count; same idempotency keys."""
    now = SystemClock().now()
    query = (
        update(OutboxMessage)
        .where(OutboxMessage.status == outbox.DEAD)
        .values(status=outbox.PENDING, attempts=0, next_attempt_at=now, lease_until=None)
    )
    if ids:
        query = query.where(OutboxMessage.id.in_(ids))
    async with sessions() as session, session.begin():
        result = await session.execute(query)
    print(text("outbox_retried", count=getattr(result, "rowcount", 0)))
    return 0


def run_backup(settings: Settings, args: argparse.Namespace, text: Text) -> int:
    return backup(settings, args.target, text)


async def run_outbox(
    settings: Settings,
    args: argparse.Namespace,
    sessions: async_sessionmaker[AsyncSession],
    text: Text,
) -> int:
    if args.outbox_command == "list":
        return await list_outbox(sessions, args.all, text)
    return await retry(sessions, list(args.ids), text)


__all__ = ["add_parsers", "run_backup", "run_outbox"]
