"""Duties and reminders on the municipal calendar, with a controllable clock.

Every test runs with the process time zone set to UTC and to Asia/Tokyo: the bot must
remind at 9:00 in Japan whatever the server's own zone.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from bot.jobs import JobContext
from handlers.reminders import remind
from storage.duties import DutyOccurrence
from tests.builders import jst
from tests.conftest import in_process_zone
from tests.harness import Harness, harness

GROUPS = [{"name": "窓口部会", "channel": "room-madoguchi", "leaders": ["L1", "L2"]}]
POLICY = {"users": ["P1"], "channel": "room-policy"}


@pytest.fixture(params=["UTC", "Asia/Tokyo"], autouse=True)
def process_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    with in_process_zone(request.param) as zone:
        yield zone


def _bot(database_url: str, clock: FrozenClock, duties: list[dict[str, object]], **extra: object):  # type: ignore[no-untyped-def]
    return harness(database_url, clock=clock, groups=GROUPS, policy=POLICY, duties=duties, **extra)


async def tick(bot: Harness) -> list[tuple[str, str]]:
    """Run the reminder job once at the clock's time; (recipient, text) sent."""
    before = len(bot.sender.sent)
    async with bot.runtime.sessions() as session, session.begin():
        await remind(JobContext(bot.app, session, bot.app.clock.now()))
    await bot.settle()
    return [(m.conversation_id or f"user:{m.user_id}", m.text) for _, m in bot.sender.sent[before:]]


MEETING = {
    "group": "窓口部会",
    "title": "部会",
    "rule": "毎月第2水曜 14:00",
    "reminders": ["3bd@09:00", "0d@09:00"],
}


async def test_monthly_meeting_reminded_three_business_days_before_and_on_the_day(
    database_url: str,
) -> None:
    # December 2026: 2nd Wednesday is the 9th; 3 business days before is Friday the 4th.
    clock = FrozenClock(jst(2026, 12, 4, 8, 59))
    async with _bot(database_url, clock, [MEETING]) as bot:
        assert await tick(bot) == []
        clock.set(jst(2026, 12, 4, 9, 0))
        sent = await tick(bot)
        assert sorted(r for r, _ in sent) == ["user:L1", "user:L2"]
        assert "2026年12月9日(水) 14:00" in sent[0][1] and "部会" in sent[0][1]
        assert await tick(bot) == []  # once only
        clock.set(jst(2026, 12, 9, 9, 5))
        on_the_day = await tick(bot)
        assert len(on_the_day) == 2


async def test_reminder_on_a_closed_day_moves_to_the_previous_business_day(
    database_url: str,
) -> None:
    # 2027-01-13 is the 2nd Wednesday of January; 3 business days before, counting over the
    # year-end closure (29 Dec – 3 Jan) and 成人の日 (11 Jan): Thu 7 Jan.
    clock = FrozenClock(jst(2027, 1, 7, 9, 0))
    async with _bot(database_url, clock, [MEETING]) as bot:
        sent = await tick(bot)
    assert len(sent) == 2 and "2027年1月13日(水)" in sent[0][1]


async def test_golden_week_deadline(database_url: str) -> None:
    # Due Thu 7 May 2026; 3 business days before skips 4/29 and 5/3–5/6: Mon 27 Apr? no —
    # business days before 7 May: 1 May (Fri), 30 Apr (Thu), 28 Apr (Tue).
    duty = {
        "group": "窓口部会",
        "title": "四半期報告",
        "rule": "2026-05-07 17:00",
        "reminders": ["3bd@09:00"],
    }
    clock = FrozenClock(jst(2026, 4, 27, 9, 0))
    async with _bot(database_url, clock, [duty]) as bot:
        assert await tick(bot) == []
        clock.set(jst(2026, 4, 28, 9, 1))
        sent = await tick(bot)
    assert len(sent) == 2 and "四半期報告" in sent[0][1]


async def test_missed_while_down_sent_within_grace_not_after(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 4, 10, 30))  # down from 8:00 to 10:30; grace 2 h
    async with _bot(database_url, clock, [MEETING]) as bot:
        assert len(await tick(bot)) == 2
    clock = FrozenClock(jst(2026, 12, 4, 11, 30))  # 2.5 h late: stale, not sent
    async with _bot(database_url, clock, [MEETING], duty={"grace_minutes": 120}) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            for row in await session.scalars(select(DutyOccurrence)):
                await session.delete(row)
        from storage.schedule_runs import ScheduleRun

        async with bot.runtime.sessions() as session, session.begin():
            for run in await session.scalars(select(ScheduleRun)):
                await session.delete(run)
        assert await tick(bot) == []


async def test_done_stops_reminders_and_overdue_escalates(database_url: str) -> None:
    duty = {
        "group": "窓口部会",
        "title": "新着課題の確認",
        "rule": "2026-12-01 17:00",
        "reminders": ["0d@09:00"],
    }
    clock = FrozenClock(jst(2026, 12, 1, 9, 0))
    async with _bot(database_url, clock, [duty]) as bot:
        assert len(await tick(bot)) == 2
        listed = await bot.command("duties", user="L1")
        assert "新着課題の確認" in listed[0]
        number = listed[0].split("#")[1].split(" ")[0]
        # Not done: the next business day at 9:00 each assignee is chased.
        clock.set(jst(2026, 12, 2, 9, 0))
        chased = await tick(bot)
        assert {r for r, _ in chased} == {"user:L1", "user:L2"}
        assert "期限切れ" in chased[0][1]
        # Two business days late: the group's channel hears of it too.
        clock.set(jst(2026, 12, 3, 9, 0))
        assert "room-madoguchi" in {r for r, _ in await tick(bot)}
        # Five business days late (over a weekend): policy staff too.
        clock.set(jst(2026, 12, 8, 9, 0))
        late = {r for r, _ in await tick(bot)}
        assert {"room-policy", "user:P1", "room-madoguchi"} <= late
        overdue = await bot.command("overdue", user="P1")
        assert "新着課題の確認" in overdue[0]
        denied = await bot.command("overdue", user="L1")
        assert "の権限が必要な" in denied[0]
        done = await bot.command(f"done {number}", user="L2")
        assert "完了にしました" in done[0]
        clock.set(jst(2026, 12, 9, 9, 0))
        assert await tick(bot) == []
        again = await bot.command(f"done {number}", user="L1")
        assert "すでに完了" in again[0]


async def test_no_overdue_chasing_on_closed_days(database_url: str) -> None:
    duty = {
        "group": "窓口部会",
        "title": "提出",
        "rule": "2026-12-25 17:00",
        "reminders": ["0d@09:00"],
    }
    clock = FrozenClock(jst(2026, 12, 25, 9, 0))
    async with _bot(database_url, clock, [duty]) as bot:
        await tick(bot)
        for day in (26, 27, 28, 29, 30, 31):  # weekend, then 年末年始 from the 29th
            clock.set(jst(2026, 12, day, 9, 0))
            sent = await tick(bot)
            assert (day == 28) == bool(sent), day


async def test_snooze_and_duty_add_from_chat(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 1, 10, 0))
    async with _bot(database_url, clock, []) as bot:
        refused = await bot.command("duty add 窓口部会 「週次確認」 毎週月曜 9:00", user="L1")
        assert "の権限が必要な" in refused[0]
        bad = await bot.command("duty add 窓口部会 「週次確認」 毎週げつよう", user="P1")
        assert "使い方" in bad[-1]
        added = await bot.command(
            "duty add 窓口部会 「週次確認」 毎週月曜 9:00 通知:0d@09:00", user="P1"
        )
        assert "「週次確認」を登録しました" in added[0]
        listed = await bot.command("duty list", user="L1")
        assert "週次確認" in listed[0]
        clock.set(jst(2026, 12, 7, 9, 0))  # Monday
        sent = await tick(bot)
        assert len(sent) == 2
        mine = await bot.command("duties", user="L1")
        number = mine[0].split("#")[1].split(" ")[0]
        snoozed = await bot.command(f"snooze {number} 2", user="L1")
        assert "まで止めます" in snoozed[0]
        clock.set(jst(2026, 12, 8, 9, 0))
        assert await tick(bot) == []  # snoozed: no overdue chase


async def test_reminder_times_typed_the_japanese_way_are_separated_by_a_japanese_comma(
    database_url: str,
) -> None:
    """通知:3営業日前9:00、当日9:00 — 「、」 (and 「，」) separate offsets as 「,」 does."""
    from storage.duties import Duty

    clock = FrozenClock(jst(2026, 12, 1, 10, 0))
    async with _bot(database_url, clock, []) as bot:
        added = await bot.command(
            "duty add 窓口部会 「週次確認」 毎週月曜 9:00 通知:3営業日前9:00、当日9:00", user="P1"
        )
        async with bot.runtime.sessions() as session:
            duty = await session.scalar(select(Duty).where(Duty.title == "週次確認"))
        assert "「週次確認」を登録しました" in added[0]
        assert duty is not None and duty.reminders == {"offsets": ["3営業日前9:00", "当日9:00"]}
        clock.set(jst(2026, 12, 2, 9, 0))  # Wednesday: three business days before Monday
        assert {r for r, _ in await tick(bot)} == {"user:L1", "user:L2"}


async def test_two_schedulers_on_postgresql_send_each_reminder_once(postgres_url: str) -> None:
    import asyncio

    from tests.conftest import truncate_all

    await truncate_all(postgres_url)
    clock = FrozenClock(jst(2026, 12, 4, 9, 0))
    async with (
        _bot(postgres_url, clock, [MEETING]) as one,
        _bot(postgres_url, clock, [MEETING]) as two,
    ):
        sent = await asyncio.gather(tick(one), tick(two), tick(one), tick(two))
        total = len(one.sender.sent) + len(two.sender.sent)
    assert total == 2, sent


async def test_policy_staff_change_and_remove_a_duty_from_chat(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 1, 11, 0))  # after Tuesday's 10:00: first one is the 8th
    async with _bot(database_url, clock, []) as bot:
        await bot.command("duty add 窓口部会 「週次確認」 毎週月曜 9:00 通知:0d@09:00", user="P1")
        listed = await bot.command("duty list", user="L1")
        number = listed[0].split("[")[1].split("]")[0]
        refused = await bot.command(f"duty remove {number}", user="L1")
        assert "の権限が必要な" in refused[0]
        changed = await bot.command(f"duty change {number} 毎週火曜 10:00", user="P1")
        assert f"[{number}]「週次確認」を変更しました" in changed[0]
        clock.set(jst(2026, 12, 7, 9, 0))  # Monday: no longer the day
        assert await tick(bot) == []
        clock.set(jst(2026, 12, 8, 9, 1))  # Tuesday 9:00 reminder for the 10:00 check
        assert len(await tick(bot)) == 2
        removed = await bot.command(f"duty remove {number}", user="P1")
        assert "削除しました" in removed[0]
        clock.set(jst(2026, 12, 15, 9, 1))
        assert await tick(bot) == []
        gone = await bot.command(f"duty change {number} 毎週水曜", user="P1")
        assert "という定例予定はありません" in gone[0]


async def test_typing_1_after_a_reminder_in_a_chat_without_buttons_marks_it_done(
    database_url: str,
) -> None:
    """Where buttons are numbered lines (Matrix, a relay without buttons), 「1」 in the direct
    chat presses the reminder's 完了: the job remembers what it offered, like any reply."""
    duty = {"group": "窓口部会", "title": "議事録の確認", "rule": "2026-12-01 17:00"}
    clock = FrozenClock(jst(2026, 12, 1, 9, 0))
    async with _bot(database_url, clock, [duty], buttons=False) as bot:
        sent = dict(await tick(bot))
        assert "1. 完了" in sent["user:L1"]
        done = await bot.say("1", user="L1")
        assert "完了にしました" in done[0]
        clock.set(jst(2026, 12, 2, 9, 0))
        assert await tick(bot) == []  # done for the group: nobody is chased the next day
