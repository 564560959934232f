"""Each person hears of things in the language they chose (``/dx lang en``); a channel, read by
many, in the town's default (Japanese here)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.clock import FrozenClock
from bot.jobs import JobContext
from handlers import digests
from handlers.reminders import remind
from tests.builders import jst
from tests.harness import Harness, harness
from tests.seeds import REPORT_ANSWERS, add_issue

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # Tuesday 10:00 in Japan
GROUPS = [{"name": "窓口部会", "channel": "room-madoguchi", "leaders": ["L1", "L2"]}]
POLICY = {"users": ["P1", "P2"], "channel": "room-policy"}
REPORT = ["課題を報告", *REPORT_ANSWERS, "送信"]


def _bot(database_url: str, clock: FrozenClock, **settings: object):  # type: ignore[no-untyped-def]
    return harness(database_url, clock=clock, groups=GROUPS, policy=POLICY, **settings)


async def _heard(bot: Harness, act: Callable[[], Awaitable[object]]) -> dict[str, str]:
    """Recipient ("user:ID" or the channel) → the text ``act`` made the bot send them."""
    before = len(bot.sender.sent)
    await act()
    await bot.settle()
    return {m.conversation_id or f"user:{m.user_id}": m.text for _, m in bot.sender.sent[before:]}


async def _choose_english(bot: Harness, *people: str) -> None:
    for person in people:
        assert await bot.command("lang en", user=person)


async def test_a_new_issue_notice_reaches_each_policy_member_in_their_language(
    database_url: str,
) -> None:
    async with _bot(database_url, FrozenClock(NOW)) as bot:
        await _choose_english(bot, "P2")

        async def report() -> None:
            for answer in REPORT:
                await bot.say(answer, user="S1")

        heard = await _heard(bot, report)
    assert heard["user:P1"].startswith("新しい課題が報告されました: R8-0001「住民票の交付」")
    assert heard["user:P2"].startswith('New issue reported: R8-0001 "住民票の交付"')
    assert heard["room-policy"].startswith("新しい課題が報告されました")


async def test_a_status_change_reaches_the_reporter_in_their_language(
    database_url: str,
) -> None:
    async with _bot(database_url, FrozenClock(NOW)) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            await add_issue(session, at=NOW, reporter="S1", group="窓口部会", title="申請書の転記")
        await _choose_english(bot, "S1")
        heard = await _heard(bot, lambda: bot.command("move R8-0001 課題整理 来週確認", user="L1"))
    assert heard["user:S1"].split("\n") == [
        'R8-0001 "申請書の転記" moved from "Received" to "Triage".',
        "Comment: 来週確認",
    ]
    assert "「受付」から「課題整理」に変わりました" in heard["room-madoguchi"]


async def test_the_person_assigned_hears_of_it_in_their_language(database_url: str) -> None:
    async with _bot(database_url, FrozenClock(NOW)) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            await add_issue(session, at=NOW, reporter="S1", group="窓口部会", title="申請書の転記")
        await _choose_english(bot, "L2")
        to_l2 = await _heard(bot, lambda: bot.command("assign R8-0001 @L2", user="L1"))
        to_s9 = await _heard(bot, lambda: bot.command("assign R8-0001 @S9", user="L1"))
        to_self = await _heard(bot, lambda: bot.command("assign R8-0001 @L1", user="L1"))
    assert to_l2["user:L2"].endswith(' assigned R8-0001 "申請書の転記" to you.')
    assert to_s9["user:S9"].startswith("R8-0001「申請書の転記」の担当になりました")
    assert "user:L1" not in to_self  # whoever assigns themself needs no message
    assert all("担当が @" in heard["user:S1"] for heard in (to_l2, to_s9, to_self))


async def test_reminders_reach_each_leader_in_their_language(database_url: str) -> None:
    duty = {
        "group": "窓口部会",
        "title": "新着課題の確認",
        "rule": "2026-12-01 17:00",
        "reminders": ["0d@09:00"],
    }
    clock = FrozenClock(jst(2026, 11, 30, 12, 0))
    async with _bot(database_url, clock, duties=[duty]) as bot:
        await _choose_english(bot, "L2", "P2")

        async def tick() -> None:
            async with bot.runtime.sessions() as session, session.begin():
                await remind(JobContext(bot.app, session, clock.now()))

        clock.set(jst(2026, 12, 1, 9, 0))
        reminded = await _heard(bot, tick)
        clock.set(jst(2026, 12, 8, 9, 0))  # five business days late: policy staff hear of it
        escalated = await _heard(bot, tick)
    assert reminded["user:L1"].startswith("【リマインド】")
    assert reminded["user:L2"].startswith('Reminder: 窓口部会 "新着課題の確認" is due 2026-12-01')
    assert escalated["user:P2"].startswith("Overdue notice:")
    assert not escalated["user:P1"].startswith("Overdue")
    assert not escalated["room-policy"].startswith("Overdue")


async def test_a_digest_in_direct_chats_is_written_in_each_leaders_language(
    database_url: str,
) -> None:
    groups = [{"name": "窓口部会", "leaders": ["L1", "L3"]}]  # no channel: direct chats
    clock = FrozenClock(jst(2026, 12, 7, 8, 0))
    async with harness(database_url, clock=clock, groups=groups, policy=POLICY) as bot:
        await _choose_english(bot, "L3")

        async def tick() -> None:
            async with bot.runtime.sessions() as session, session.begin():
                await digests.post_due_digests(JobContext(bot.app, session, clock.now()))

        clock.set(jst(2026, 12, 7, 9, 0))
        heard = await _heard(bot, tick)
    assert heard == {
        "user:L1": "【窓口部会】今週の新しい動きはありません。",
        "user:L3": "[窓口部会] Nothing new this week.",
    }
