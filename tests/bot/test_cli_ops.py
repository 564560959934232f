"""``dxbot backup`` (SQLite online backup) and ``dxbot outbox list|retry``."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from bot import outbox
from bot.cli import main
from bot.messages import OutgoingMessage
from storage.engine import create_engine, session_factory
from storage.models import OutboxMessage
from tests.conftest import _migrate

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
async def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'town.db'}"
    await _migrate(url)
    engine = create_engine(url)
    async with session_factory(engine)() as session, session.begin():
        for text in ("a", "b"):
            message = OutgoingMessage(text, conversation_id="c")
            await outbox.enqueue(session, "relay", message, NOW)
        for row in await session.scalars(select(OutboxMessage)):
            row.status, row.attempts, row.last_error = outbox.DEAD, 8, "relay answered HTTP 403"
    await engine.dispose()
    for name in list(__import__("os").environ):
        if name.startswith("DXBOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DXBOT_DATABASE_URL", url)
    return url


def test_backup_is_a_consistent_sqlite_copy(
    db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "backup" / "dxbot-2026-12-01.db"
    assert main(["backup", str(target)]) == 0
    assert "バックアップを作成しました" in capsys.readouterr().out
    with sqlite3.connect(target) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("SELECT count(*) FROM outbox").fetchone() == (2,)


def test_outbox_list_and_retry_dead_letters(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["outbox", "list"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("dead relay") == 2 and "HTTP 403" in listed
    assert main(["outbox", "retry", "1"]) == 0
    assert "1件を再送" in capsys.readouterr().out
    assert main(["outbox", "list", "--all"]) == 0
    after = capsys.readouterr().out
    assert "#1 pending" in after and "#2 dead" in after


async def _row(url: str, row_id: int) -> OutboxMessage | None:
    engine = create_engine(url)
    async with session_factory(engine)() as session:
        row = await session.get(OutboxMessage, row_id)
    await engine.dispose()
    return row


def test_retried_letter_keeps_its_idempotency_key(db: str) -> None:
    from tests.conftest import run_blocking

    before = run_blocking(_row(db, 2))
    assert before is not None
    assert main(["outbox", "retry"]) == 0
    after = run_blocking(_row(db, 2))
    assert after is not None and after.status == "pending" and after.attempts == 0
    assert after.idempotency_key == before.idempotency_key


def test_backup_on_postgresql_points_to_pg_dump(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1/x")
    assert main(["backup", "/tmp/never.db"]) == 6
    assert "pg_dump" in capsys.readouterr().out
