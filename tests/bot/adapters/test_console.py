"""The console adapter: a terminal conversation through the real inbox and outbox."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bot.adapters.console import ConsoleAdapter, ConsoleChat, console_event
from bot.events import EventType
from bot.runtime import Runtime
from tests.conftest import fast_settings


def test_lines_become_commands_or_messages() -> None:
    command = console_event("田中", "/dx help me")
    message = console_event("田中", "課題を報告")
    assert (command.type, command.command, command.text) == (EventType.COMMAND, "dx", "help me")
    assert (message.type, message.text) == (EventType.MESSAGE, "課題を報告")
    assert message.conversation.id == "console:田中" and message.is_direct


async def test_chat_session_switches_user_and_prints_replies(database_url: str) -> None:
    printed: list[str] = []
    runtime = Runtime(
        fast_settings(database_url),
        webhooks={},
        senders={"console": ConsoleAdapter(printed.append)},
    )
    await runtime.prepare()

    async def settle() -> None:
        await runtime.worker.handle_pending()
        await runtime.dispatcher.drain(5)

    chat = ConsoleChat(runtime.accept, settle, "田中", write=printed.append)
    lines = iter(["ヘルプ", "/dx lang en", "/as 佐藤", "help", "", "/quit", "never read"])

    async def read(_prompt: str) -> str | None:
        return next(lines)

    await chat.run(read)
    await runtime.stop(flush_seconds=0)
    assert printed[0].startswith("dxbot> dxbot は")
    assert printed[1] == "dxbot> The bot will now speak English to you."
    assert printed[2] == "-- 佐藤"
    assert "できること" in printed[3]  # 佐藤 still gets Japanese
    assert chat.user == "佐藤" and len(printed) == 4


def test_dxbot_chat_command_in_a_terminal(tmp_path: Path) -> None:
    env = {"DXBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'chat.db'}", "PATH": ""}
    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "chat", "--user", "田中"],
        input="ヘルプ\n/dx だめ\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=Path(__file__).resolve().parents[3],
    )
    assert done.returncode == 0, done.stderr
    assert "田中 として" in done.stdout
    assert "できること" in done.stdout
    assert "「だめ」というコマンドはありません" in done.stdout
