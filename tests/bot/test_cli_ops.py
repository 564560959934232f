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
    "command",
    [
        ["backup", "copy.db"],
        ["outbox", "list"],
        ["outbox", "retry"],
        ["directory", "export", "staff.csv"],
        ["directory", "import", "staff.csv"],
    ],
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


def test_migrate_says_why_it_cannot_lock_or_migrate_instead_of_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sqlalchemy.exc import IntegrityError

    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'no' / 'town.db'}")
    assert main(["migrate"]) == 7
    err = capsys.readouterr().err
    assert f"SQLite のロックファイルを作れません: {tmp_path / 'no' / 'town.db.lock'}" in err
    assert "Traceback" not in err

    async def failing(engine: object) -> None:
        raise IntegrityError("CREATE UNIQUE INDEX …", {}, Exception('could not create "uq"'))

    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'town.db'}")
    monkeypatch.setattr("storage.migrate.upgrade", failing)
    assert main(["migrate"]) == 3
    err = capsys.readouterr().err
    assert err.startswith("データベースのスキーマを更新できませんでした。")
    assert 'could not create "uq"' in err and "接続できません" not in err


def test_a_database_without_the_schema_is_not_called_unreachable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty file (say, one an older version made in the wrong folder) has no tables."""
    path = tmp_path / "dxbot.db"
    sqlite3.connect(path).close()
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    assert main(["outbox", "list"]) == 3
    err = capsys.readouterr().err
    assert "この版の dxbot と合いません" in err and "接続できません" not in err


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("postgresql+asyncpg://postgres@127.0.0.1:1/test", "Connect call failed"),
        ("postgresql+asyncpg://dxbot@no-such-host.invalid/test", "Name or service not known"),
    ],
)
def test_an_unreachable_database_is_one_clear_line(
    url: str, reason: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DXBOT_DATABASE_URL", url)
    monkeypatch.setenv("DXBOT_DATABASE_COMMAND_TIMEOUT_SECONDS", "5")
    assert main(["outbox", "list"]) == 7
    err = capsys.readouterr().err
    assert err.startswith("データベースに接続できません: ") and reason in err
    assert "DXBOT_DATABASE_URL" in err and "Traceback" not in err


def test_a_refusing_postgresql_is_unreachable_and_the_password_never_shows(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A role PostgreSQL does not know (SQLSTATE 28000) is 'cannot reach'; the message keeps the
    driver's reason and masks the password wherever it would appear."""
    host = postgres_url.split("@", 1)[1]
    monkeypatch.setenv("DXBOT_DATABASE_URL", f"postgresql+asyncpg://nobody:s3cret-pw@{host}")
    assert main(["outbox", "list"]) == 7
    err = capsys.readouterr().err
    assert 'role "nobody" does not exist' in err

    async def leaky(*args: object) -> int:
        raise ConnectionResetError("server said s3cret-pw")

    monkeypatch.setattr("bot.cli_ops.run_outbox", leaky)
    monkeypatch.setattr("bot.cli._schema_ready", _always_ready)
    assert main(["outbox", "list"]) == 7
    err = capsys.readouterr().err
    assert "server said ***" in err and "s3cret-pw" not in err


async def _always_ready(*args: object, **kwargs: object) -> bool:
    return True


def test_what_counts_as_unreachable() -> None:
    from sqlalchemy.exc import OperationalError

    from bot.cli import _unreachable

    assert _unreachable(OSError("Multiple exceptions: [Errno 111] …, [Errno 111] …"))
    assert _unreachable(TimeoutError())
    assert not _unreachable(BrokenPipeError())
    assert not _unreachable(OSError(13, "Permission denied"))
    no_table = sqlite3.OperationalError("no such table: outbox")
    assert not _unreachable(OperationalError("SELECT", {}, no_table))


def test_a_reader_that_goes_away_ends_the_listing_quietly(db: str, tmp_path: Path) -> None:
    """`dxbot outbox list | head -1`: no BrokenPipeError traceback once the reader has gone."""
    import subprocess
    import sys

    from tests.conftest import run_blocking

    async def many_dead() -> None:
        engine = create_engine(db)
        async with session_factory(engine)() as session, session.begin():
            for n in range(600):
                message = OutgoingMessage(f"m{n}", conversation_id="c")
                await outbox.enqueue(session, "relay", message, NOW)
            await session.execute(
                OutboxMessage.__table__.update().values(status=outbox.DEAD, last_error="x" * 80)
            )
        await engine.dispose()

    run_blocking(many_dead())
    env = {**__import__("os").environ, "DXBOT_DATABASE_URL": db}
    listing = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "outbox", "list"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    assert listing.stdout is not None and listing.stderr is not None
    assert listing.stdout.readline().startswith(b"#1 ")
    listing.stdout.close()  # the reader goes away with most of the 500 lines unread
    err = listing.stderr.read().decode()
    listing.stderr.close()
    assert listing.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


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
