"""``dxbot backup`` (SQLite online backup) and ``dxbot outbox list|retry``."""

from __future__ import annotations

import os
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


@pytest.fixture(autouse=True)
def _no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test says what it sets: none of the caller's DXBOT_* variables."""
    for name in list(os.environ):
        if name.startswith("DXBOT_"):
            monkeypatch.delenv(name)


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
    assert listed.count("送信失敗 relay") == 2 and "HTTP 403" in listed
    assert main(["outbox", "retry", "1"]) == 0
    assert "1件を再送" in capsys.readouterr().out
    assert main(["outbox", "list", "--all"]) == 0
    after = capsys.readouterr().out
    assert "#1 送信待ち" in after and "#2 送信失敗" in after


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
    assert "pg_dump" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["backup", "copy.db"], ["outbox", "list"], ["outbox", "retry"]]
)
def test_a_command_run_away_from_the_database_says_so_and_creates_nothing(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Run in another folder than the service's, the default ``./dxbot.db`` is not there: the
    command refuses (exit 7) instead of making an empty database and reporting success."""
    monkeypatch.chdir(tmp_path)
    assert main(command) == 7
    err = capsys.readouterr().err
    assert f"データベースのファイルがありません: {tmp_path / 'dxbot.db'}" in err
    assert "サービスと同じ設定・作業フォルダで実行してください" in err
    assert list(tmp_path.iterdir()) == []


def test_migrate_names_the_database_and_refuses_a_file_a_server_holds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from storage.sqlite_lock import SQLiteLock

    path = tmp_path / "town.db"
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    assert main(["migrate"]) == 0
    assert f"データベース({path})を最新のスキーマ" in capsys.readouterr().out
    serving = SQLiteLock(path)
    serving.acquire()
    try:
        assert main(["migrate"]) == 4
    finally:
        serving.release()
    assert "別の dxbot プロセスが使用中です" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:1/test", "Connect call failed"),
        ("postgresql+asyncpg://dxbot:s3cret-pw@no-such-host.invalid/test", ""),
        ("postgresql+asyncpg://postgres@localhost:1/test", ""),  # refused on ::1 and 127.0.0.1
    ],
)
def test_an_unreachable_database_is_one_clear_line_without_the_password(
    url: str, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_DATABASE_URL", url)
    monkeypatch.setenv("DXBOT_DATABASE_COMMAND_TIMEOUT_SECONDS", "5")
    assert main(["outbox", "list"]) == 7
    err = capsys.readouterr().err
    assert err.startswith("データベースに接続できません: ") and reason in err
    assert "DXBOT_DATABASE_URL" in err and "Traceback" not in err and "s3cret-pw" not in err


def test_version_is_the_installed_one(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as stopped:
        main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out.strip() == f"dxbot {version('dxbot')}"


def test_serve_on_a_taken_port_says_so_and_exits_8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'town.db'}")
        monkeypatch.setenv("DXBOT_HTTP_HOST", "127.0.0.1")
        monkeypatch.setenv("DXBOT_HTTP_PORT", str(port))
        assert main(["serve"]) == 8
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port} で待ち受けられません" in err and "Traceback" not in err
