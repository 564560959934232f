"""dxbot as a Matrix application service against a real Synapse, staff on matrix-nio clients.

One Synapse (session fixture) and one dxbot (this module) serve every test: Synapse pushes
transactions to dxbot's real HTTP edge on 127.0.0.1, and dxbot answers through Synapse's
Client-Server API, as in production. Skipped unless ``pip install '.[test,matrix]'``.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from bot.adapters.matrix import MatrixAdapter
from bot.clock import FrozenClock
from bot.jobs import JobContext
from bot.runtime import Runtime
from bot.server import build_web_app
from handlers.reminders import remind
from storage.issues import Issue
from tests.conftest import fast_settings
from tests.matrix.homeserver import Homeserver

pytest.importorskip("nio", reason="Matrix tests need matrix-nio: pip install '.[test,matrix]'")

from tests.matrix.staff import PASSWORD, Staff  # needs nio

pytestmark = pytest.mark.asyncio(loop_scope="module")

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 10:00 JST, 令和8年度
NOON = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)  # 12:00 JST
GROUP = "窓口部会"
STAFF = ("tanaka", "suzuki", "sato")


@dataclass
class Deployment:
    runtime: Runtime
    clock: FrozenClock
    homeserver: Homeserver

    def user(self, localpart: str) -> str:
        return f"@{localpart}:localhost"

    async def staff(self, localpart: str) -> Staff:
        hs = self.homeserver
        return await Staff.login(hs.url, self.user(localpart), hs.bot_user_id)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def dxbot(
    synapse: Homeserver, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Deployment]:
    """``dxbot serve`` in-process: Runtime and its HTTP edge on the registration's port."""
    for localpart in STAFF:
        synapse.register(localpart, PASSWORD)
    leader = f"@{STAFF[1]}:localhost"
    database = Path(tmp_path_factory.mktemp("dxbot")) / "dxbot.db"
    settings = fast_settings(
        f"sqlite+aiosqlite:///{database}",
        matrix={
            "homeserver_url": synapse.url,
            "bot_user_id": synapse.bot_user_id,
            "as_token": synapse.as_token,
            "hs_token": synapse.hs_token,
        },
        groups=[{"name": GROUP, "adapter": "matrix", "leaders": [leader]}],
        policy={"adapter": "matrix"},
        duty={"tick_seconds": 3600},
        duties=[
            {
                "group": GROUP,
                "title": "定例部会",
                "rule": "2026-12-01 17:00",
                "assignee": f"leader:{leader}",
                "reminders": ["0d@12:00"],
            }
        ],
    )
    clock = FrozenClock(NOW)
    runtime = Runtime(settings, clock=clock)
    assert isinstance(runtime.webhooks["matrix"], MatrixAdapter)  # enabled by the settings
    await runtime.prepare()
    await runtime.start()
    runner = web.AppRunner(build_web_app(runtime), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", synapse.appservice_port).start()
    try:
        yield Deployment(runtime, clock, synapse)
    finally:
        await runner.cleanup()
        await runtime.stop(flush_seconds=0)


async def test_issue_report_in_a_direct_chat(dxbot: Deployment) -> None:
    staff = await dxbot.staff("tanaka")
    try:
        room = await staff.open_direct_chat()  # the bot joins on the invite
        opened = await staff.say(room, "課題を報告", expect=2)
        assert "「課題の報告」を始めます" in opened[0]
        assert opened[1].startswith("(1/9) あなたの所属課")
        assert (await staff.say(room, "市民課"))[0].startswith("(2/9)")
        assert (await staff.say(room, "住民票の交付"))[0].startswith("(3/9)")
        too_short = await staff.say(room, "紙")
        assert "5文字" in too_short[0] and "(3/9)" in too_short[0]
        await staff.say(room, "紙の申請書をExcelに手入力で転記している")
        frequency = await staff.say(room, "申請内容が最初からデータで届き、転記が不要になる")
        assert frequency[0].startswith("(5/9)")
        assert "1. 毎日" in frequency[0] and "4. 年に数回" in frequency[0]  # no buttons
        assert (await staff.say(room, "1"))[0].startswith("(6/9)")  # 1 = 毎日
        assert (await staff.say(room, "30分"))[0].startswith("(7/9)")
        assert (await staff.say(room, "3人"))[0].startswith("(8/9)")
        assert (await staff.say(room, "スキップ"))[0].startswith("(9/9)")
        summary = (await staff.say(room, "はい"))[0]
        assert "5. 発生頻度: 毎日" in summary and "1. 送信する" in summary
        receipt = await staff.say(room, "送信")
        assert "受付番号は R8-0001" in receipt[0]
    finally:
        await staff.close()
    async with dxbot.runtime.sessions() as session:
        issue = await session.scalar(select(Issue))
    assert issue is not None and issue.reporter_id == dxbot.user("tanaka")


async def test_duty_reminder_opens_a_direct_chat(dxbot: Deployment) -> None:
    staff = await dxbot.staff("suzuki")  # has never talked to the bot
    try:
        dxbot.clock.set(NOON)
        runtime = dxbot.runtime
        async with runtime.sessions() as session, session.begin():
            await remind(JobContext(runtime.app, session, runtime.clock.now()))
        runtime.dispatcher.notify()
        room = await staff.accept_invite()  # the bot created a direct room and invited
        [reminder] = await staff.replies(room, 1)
        assert "【リマインド】窓口部会「定例部会」" in reminder
        assert "1. 完了" in reminder
        command = re.search(r"/dx done \d+", reminder)
        assert command is not None
        done = await staff.say(room, command[0])  # in the room the bot opened: direct
        assert "を完了にしました" in done[0]
    finally:
        await staff.close()


async def test_dx_status_command(dxbot: Deployment) -> None:
    staff = await dxbot.staff("sato")
    try:
        room = await staff.open_direct_chat()
        status = await staff.say(room, "/dx status")
        assert "課題の状況" in status[0]
        again = await staff.say(room, "!dx status")  # the Matrix bot prefix works too
        assert again == status
    finally:
        await staff.close()
