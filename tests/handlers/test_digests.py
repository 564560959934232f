"""Scheduled digests: weekly to working groups, monthly to policy staff, and the preview.

Every test runs with the process time zone set to UTC and to Asia/Tokyo: a digest is due at
9:00 in Japan whatever the server's own zone.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.adapters.base import Capabilities
from bot.calendar import MunicipalCalendar
from bot.clock import FrozenClock
from bot.jobs import JobContext
from handlers import digests
from handlers import register as register_features
from handlers.digest_schedule import monthly_moment, previous_weekly, week_key, weekly_moment
from handlers.reminders import sync_config_duties
from storage.duties import Duty, DutyOccurrence
from storage.issues import Issue, IssueEvent
from storage.schedule_runs import ScheduleRun
from tests.builders import JST, jst
from tests.conftest import in_process_zone
from tests.harness import Harness, harness
from tests.seeds import add_issue

GROUPS = [
    {"name": "窓口部会", "channel": "room-madoguchi", "leaders": ["L1"], "sections": ["市民課"]},
    {"name": "広報部会", "channel": "room-koho", "leaders": ["L2"]},
]
POLICY = {"users": ["P1"], "channel": "room-policy"}
DIRECTORY = {"sections": ["市民課", "税務課", "福祉課", "会計課"]}
MEETING = {"group": "窓口部会", "title": "部会", "rule": "毎月第2水曜 14:00", "reminders": []}
CHECK = {
    "group": "窓口部会",
    "title": "新着課題の確認",
    "rule": "2026-12-01 17:00",
    "reminders": [],
}


@pytest.fixture(params=["UTC", "Asia/Tokyo"], autouse=True)
def process_zone(request: pytest.FixtureRequest) -> Iterator[str]:
    with in_process_zone(request.param) as zone:
        yield zone


register = register_features


@asynccontextmanager
async def _bot(database_url: str, clock: FrozenClock, **extra: Any) -> AsyncIterator[Harness]:
    settings: dict[str, Any] = {
        "groups": GROUPS,
        "policy": POLICY,
        "directory": DIRECTORY,
        "duties": [],
        **extra,
    }
    async with harness(database_url, register=register, clock=clock, **settings) as bot:
        yield bot


async def tick(bot: Harness) -> list[tuple[str, str]]:
    """Run the digest job once at the clock's time; (recipient, text) sent."""
    before = len(bot.sender.sent)
    async with bot.runtime.sessions() as session, session.begin():
        await digests.post_due_digests(JobContext(bot.app, session, bot.app.clock.now()))
    await bot.settle()
    return [(m.conversation_id or f"user:{m.user_id}", m.text) for _, m in bot.sender.sent[before:]]


async def _move(session: AsyncSession, issue: Issue, after: str, at: datetime) -> None:
    """A status change as ``/dx move`` records it: history row, status, last movement."""
    session.add(
        IssueEvent(
            issue_id=issue.id,
            at=at,
            actor_adapter="relay",
            actor_id="L1",
            actor_name="リーダー",
            kind="status",
            from_value=issue.status,
            to_value=after,
            comment=None,
        )
    )
    issue.status, issue.updated_at = after, at
    await session.flush()


async def _issue(session: AsyncSession, at: datetime, **kw: Any) -> Issue:
    return await add_issue(session, at=at, **kw)


# ---------------------------------------------------------------------- the weekly digest


async def _seed_week(bot: Harness) -> None:
    """窓口部会's week from Mon 30 Nov 9:00 to Mon 7 Dec 2026 9:00 (JST)."""
    async with bot.runtime.sessions() as session, session.begin():
        await _issue(
            session, jst(2026, 10, 1, 9), group="窓口部会", title="申請書の転記", status="triage"
        )
        moved = await _issue(
            session,
            jst(2026, 11, 10, 9),
            group="窓口部会",
            title="会議資料",
            frequency="monthly",
            minutes=60,
            staff=1,
        )
        await _move(session, moved, "triage", jst(2026, 12, 2, 9))
        new = await _issue(
            session,
            jst(2026, 12, 1, 9),
            group="窓口部会",
            title="窓口予約",
            frequency="weekly",
            minutes=60,
            staff=2,
        )
        session.add(
            IssueEvent(
                issue_id=new.id,
                at=jst(2026, 12, 3, 9),
                actor_adapter="relay",
                actor_id="L1",
                actor_name="リーダー",
                kind="comment",  # a comment is no status change
                comment="来週確認します",
            )
        )
        elsewhere = await _issue(session, jst(2026, 12, 2, 9), section="税務課", title="税の照会")
        await _move(session, elsewhere, "triage", jst(2026, 12, 3, 9))  # not the group's
        await _issue(
            session,
            jst(2026, 11, 29, 9),  # before the week: neither new nor stale
            group="窓口部会",
            title="旅費精算",
            frequency="yearly",
            minutes=30,
            staff=2,
        )
        closed = await _issue(
            session, jst(2026, 6, 1, 9), group="窓口部会", title="古い課題", status="closed"
        )
        closed.updated_at = jst(2026, 7, 1, 9)


async def _sync_duties(bot: Harness, at: datetime) -> None:
    async with bot.runtime.sessions() as session, session.begin():
        await sync_config_duties(JobContext(bot.app, session, at))


async def _occurrence_id(bot: Harness, title: str) -> int:
    async with bot.runtime.sessions() as session:
        found = await session.scalar(
            select(DutyOccurrence.id)
            .join(Duty, Duty.id == DutyOccurrence.duty_id)
            .where(Duty.title == title)
        )
    assert found is not None
    return found


async def test_weekly_digest_for_a_seeded_week(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 11, 25, 10))
    async with _bot(database_url, clock, duties=[MEETING, CHECK]) as bot:
        await _sync_duties(bot, clock.now())  # the bot has been running since 25 Nov
        await _seed_week(bot)
        clock.set(jst(2026, 12, 7, 8, 59))
        assert await tick(bot) == []  # not yet
        clock.set(jst(2026, 12, 7, 9, 0))
        sent = dict(await tick(bot))
        check = await _occurrence_id(bot, "新着課題の確認")
        assert sorted(sent) == ["room-koho", "room-madoguchi"]
        assert sent["room-madoguchi"].split("\n") == [
            "【窓口部会 週次ダイジェスト】11月30日(月)〜12月7日(月)",
            "■ 新しい課題 1件",
            "・R8-0003「窓口予約」(市民課)推定削減 年間104時間",
            "■ 状況の変化 1件",
            "・R8-0002「会議資料」受付 → 課題整理",
            "■ 30日以上動きのない課題 1件",
            "・R8-0001「申請書の転記」課題整理のまま67日",
            "■ 今後7日間の予定 1件",
            "・2026年12月9日(水) 14:00「部会」",
            "■ 期限切れの予定 1件",
            f"・2026年12月1日(火) 17:00「新着課題の確認」(済んだら「/dx done {check}」)",
            "■ 削減時間の大きい未完了の課題",
            "1. R8-0001「申請書の転記」推定削減 年間375時間(課題整理)",
            "2. R8-0003「窓口予約」推定削減 年間104時間(受付)",
            "3. R8-0002「会議資料」推定削減 年間12時間(課題整理)",
            "4. R8-0005「旅費精算」推定削減 年間4時間(受付)",
            "詳しくは「/dx show R8-0003」のように番号で確認できます。",
        ]
        assert sent["room-koho"] == "【広報部会】今週の新しい動きはありません。"
        assert await tick(bot) == []  # once a week
        clock.set(jst(2026, 12, 8, 9, 0))
        assert await tick(bot) == []


async def test_weekly_digest_in_english(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 11, 25, 10))
    async with _bot(database_url, clock, duties=[MEETING], locale={"default": "en"}) as bot:
        await _sync_duties(bot, clock.now())
        await _seed_week(bot)
        clock.set(jst(2026, 12, 7, 9, 0))
        sent = dict(await tick(bot))
    lines = sent["room-madoguchi"].split("\n")
    assert lines[0] == "[窓口部会 weekly digest] Mon 11/30 – Mon 12/7"
    assert '- R8-0002 "会議資料" Received → Triage' in lines
    assert sent["room-koho"] == "[広報部会] Nothing new this week."


# --------------------------------------------------------------------- the monthly digest


async def _seed_year(bot: Harness) -> None:
    """令和8年度 to the end of December 2026, and one issue of 令和7年度."""
    async with bot.runtime.sessions() as session, session.begin():
        piloted = await _issue(
            session, jst(2026, 5, 10, 10), group="窓口部会", title="申請書の転記"
        )
        implemented = await _issue(
            session,
            jst(2026, 6, 1, 10),
            section="税務課",
            title="窓口予約",
            frequency="weekly",
            minutes=45,
            staff=2,
        )
        triaged = await _issue(
            session,
            jst(2026, 12, 5, 10),
            title="会議資料",
            frequency="monthly",
            minutes=60,
            staff=1,
        )
        declined = await _issue(
            session,
            jst(2026, 11, 20, 10),
            section="税務課",
            title="庁内問い合わせ",
            minutes=10,
            staff=1,
        )
        last_year = await _issue(
            session,
            jst(2025, 10, 1, 10),
            section="福祉課",
            title="旅費精算",
            frequency="yearly",
            minutes=120,
            staff=5,
        )
        for issue, moves in (
            (piloted, [("triage", (5, 20)), ("solution", (6, 19)), ("pilot", (12, 3))]),
            (
                implemented,
                [
                    ("triage", (6, 5)),
                    ("solution", (6, 25)),
                    ("pilot", (9, 1)),
                    ("implemented", (12, 10)),
                ],
            ),
            (declined, [("declined", (12, 15))]),
            (triaged, [("triage", (12, 20))]),
        ):
            for status, (month, day) in moves:
                await _move(session, issue, status, jst(2026, month, day, 10))
        for status, when in (
            ("triage", (2025, 10, 11)),
            ("solution", (2025, 11, 10)),
            ("pilot", (2026, 1, 10)),
            ("implemented", (2026, 3, 1)),
            ("closed", (2026, 6, 1)),
        ):
            await _move(session, last_year, status, jst(*when, 10))


MONTHLY_DECEMBER = [
    "【DX推進 月次ダイジェスト】2026年12月(12月1日(火)〜12月31日(木))",
    "■ 2026年12月の動き: 新しい報告 1件 / 状況の変更 4件",
    "■ 課題の状況(全5件)",
    "受付 0件 / 課題整理 1件 / 解決策検討 0件 / 試験導入 1件 / 本格導入 1件 / 完了 1件"
    " / 保留 0件 / 見送り 1件",
    "■ 2026年12月に試験導入へ進んだ課題 1件",
    "・R8-0001「申請書の転記」(市民課)推定削減 年間375時間",
    "■ 2026年12月に本格導入へ進んだ課題 1件",
    "・R8-0002「窓口予約」(税務課)推定削減 年間78時間",
    # 受付: 25 and 15 days; 解決策検討 19 Jun → 3 Dec; 試験導入 1 Sep → 10 Dec.
    "■ 2026年12月に次の段階へ進んだ課題の滞留日数(中央値)",
    "受付 20日 / 解決策検討 167日 / 試験導入 100日",
    "■ 本格導入・完了による削減見込み: 年間118時間(2件)",
    "■ 課別(未完了の多い順)",
    "・市民課 未完了2件 / 今年度の報告2件",
    "・税務課 未完了1件 / 今年度の報告2件",
    "■ 令和8年度(2026年4月1日から)の累計",
    "報告 4件 / 試験導入 2件 / 本格導入 1件 / 削減見込み 年間78時間",
    "■ 今年度まだ報告のない課 2課",
    "福祉課、会計課",
    "詳しくは「/dx show R8-0001」のように番号で確認できます。",
]


async def test_monthly_digest_for_a_seeded_year(database_url: str) -> None:
    # 4 January 2027 is the first business day of January (年末年始 until the 3rd).
    clock = FrozenClock(jst(2027, 1, 4, 8, 59))
    async with _bot(database_url, clock) as bot:
        await _seed_year(bot)
        assert await tick(bot) == []
        clock.set(jst(2027, 1, 4, 9, 0))
        sent = await tick(bot)
    monthly = [(to, text) for to, text in sent if to in ("room-policy", "user:P1")]
    assert [to for to, _ in monthly] == ["room-policy", "user:P1"]
    assert monthly[0][1] == monthly[1][1]
    assert monthly[0][1].split("\n") == MONTHLY_DECEMBER


async def test_monthly_digest_attaches_a_chart_where_images_show(
    database_url: str,
) -> None:
    pytest.importorskip("matplotlib")
    clock = FrozenClock(jst(2027, 1, 4, 9, 0))
    async with _bot(database_url, clock) as bot:
        await _seed_year(bot)
        bot.app.capabilities["relay"] = Capabilities(buttons=True, images=True)
        await tick(bot)
        sent = {m.conversation_id or m.user_id: m for _, m in bot.sender.sent}
    chart = sent["room-policy"].attachment
    assert chart is not None and chart.content_type == "image/png"
    assert chart.data.startswith(b"\x89PNG\r\n\x1a\n")
    assert sent["room-madoguchi"].attachment is None  # the weekly digest is text only


async def test_no_chart_without_image_support(database_url: str) -> None:
    clock = FrozenClock(jst(2027, 1, 4, 9, 0))
    async with _bot(database_url, clock) as bot:
        await _seed_year(bot)
        await tick(bot)
    assert all(m.attachment is None for _, m in bot.sender.sent)


# ------------------------------------------------------------------------ empty periods


async def test_empty_period_posts_one_short_line(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 1, 9, 0))  # Tuesday 1 Dec: the month's first business day
    async with _bot(database_url, clock) as bot:
        sent = await tick(bot)
    assert sent == [
        ("room-policy", "【DX推進 月次ダイジェスト】2026年11月の新しい動きはありません。"),
        ("user:P1", "【DX推進 月次ダイジェスト】2026年11月の新しい動きはありません。"),
    ]


async def test_empty_period_posts_nothing_when_so_configured(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 7, 9, 0))
    async with _bot(database_url, clock, digest={"post_empty": False}) as bot:
        assert await tick(bot) == []
        async with bot.runtime.sessions() as session:
            keys = set(await session.scalars(select(ScheduleRun.run_key)))
    assert {"digest:weekly:窓口部会:2026-W50", "digest:weekly:広報部会:2026-W50"} <= keys


# ------------------------------------------------------------- once only, catch-up, schedule


async def test_two_schedulers_on_postgresql_post_each_digest_once(postgres_url: str) -> None:
    from tests.conftest import truncate_all

    await truncate_all(postgres_url)
    clock = FrozenClock(jst(2027, 3, 1, 9, 0))  # a Monday and the month's first business day
    async with _bot(postgres_url, clock) as one, _bot(postgres_url, clock) as two:
        await asyncio.gather(tick(one), tick(two), tick(one), tick(two))
        sent = [m for _, m in one.sender.sent + two.sender.sent]
    recipients = sorted(m.conversation_id or f"user:{m.user_id}" for m in sent)
    assert recipients == ["room-koho", "room-madoguchi", "room-policy", "user:P1"]


async def test_missed_digest_posted_within_grace_and_skipped_after(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FrozenClock(jst(2026, 12, 7, 20, 59))  # down since before 9:00; grace 12 h
    async with _bot(database_url, clock) as bot:
        assert {to for to, _ in await tick(bot)} == {"room-koho", "room-madoguchi"}
        async with bot.runtime.sessions() as session, session.begin():
            await session.execute(delete(ScheduleRun))
        clock.set(jst(2026, 12, 7, 21, 1))  # 12 h 1 min late: stale, not posted
        with caplog.at_level(logging.WARNING, logger="handlers.digests"):
            assert await tick(bot) == []
            assert await tick(bot) == []
        skipped = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
        weekly = [m for m in skipped if "digest:weekly:" in m]
        assert len(weekly) == 2  # once per group, not once per tick
        assert "digest:weekly:窓口部会:2026-W50" in weekly[0]
        clock.set(jst(2026, 12, 14, 9, 0))  # the next week is posted as usual
        assert len(await tick(bot)) == 2


async def test_grace_is_configurable(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 12, 7, 11, 0))
    async with _bot(database_url, clock, digest={"grace_hours": 1}) as bot:
        assert await tick(bot) == []


async def test_group_may_choose_its_own_day_and_time(database_url: str) -> None:
    groups = [{**GROUPS[0], "digest_day": "wed", "digest_time": "16:00"}, GROUPS[1]]
    clock = FrozenClock(jst(2026, 12, 7, 9, 0))
    async with _bot(database_url, clock, groups=groups) as bot:
        assert [to for to, _ in await tick(bot)] == ["room-koho"]
        clock.set(jst(2026, 12, 9, 15, 59))
        assert await tick(bot) == []
        clock.set(jst(2026, 12, 9, 16, 0))
        assert [to for to, _ in await tick(bot)] == ["room-madoguchi"]


async def test_group_without_a_channel_hears_in_its_leaders_direct_chats(
    database_url: str,
) -> None:
    groups = [{"name": "窓口部会", "leaders": ["L1", "L3"]}]
    clock = FrozenClock(jst(2026, 12, 7, 9, 0))
    async with _bot(database_url, clock, groups=groups) as bot:
        sent = await tick(bot)
    line = "【窓口部会】今週の新しい動きはありません。"
    assert sorted(sent) == [("user:L1", line), ("user:L3", line)]


async def test_disabled_digests_post_nothing(database_url: str) -> None:
    clock = FrozenClock(jst(2027, 3, 1, 9, 0))
    async with _bot(database_url, clock, digest={"enabled": False}) as bot:
        assert await tick(bot) == []


def test_schedule_on_the_municipal_calendar() -> None:
    calendar = MunicipalCalendar()
    # 成人の日 (Mon 11 Jan 2027): the week's first business day is Tuesday.
    assert weekly_moment(calendar, date(2027, 1, 11), "first", "09:00") == datetime(
        2027, 1, 12, 9, tzinfo=JST
    )
    # 文化の日 (Tue 3 Nov 2026): "tue" moves to Wednesday of the same week.
    assert weekly_moment(calendar, date(2026, 11, 2), "tue", "9:30") == datetime(
        2026, 11, 4, 9, 30, tzinfo=JST
    )
    # 年末年始 closes the rest of the week from Tue 29 Dec: no Wednesday digest that week.
    assert weekly_moment(calendar, date(2026, 12, 28), "wed", "09:00") is None
    assert monthly_moment(calendar, date(2027, 1, 1), 1, "09:00") == datetime(
        2027, 1, 4, 9, tzinfo=JST
    )
    assert monthly_moment(calendar, date(2026, 5, 1), 2, "09:00") == datetime(
        2026,
        5,
        7,
        9,
        tzinfo=JST,  # after ゴールデンウィーク
    )
    assert week_key(date(2026, 12, 28)) == "2026-W53" and week_key(date(2027, 1, 4)) == "2027-W01"
    moment = datetime(2026, 12, 7, 9, tzinfo=JST)
    assert previous_weekly(calendar, moment, "first", "09:00", strict=True) == datetime(
        2026, 11, 30, 9, tzinfo=JST
    )
    assert previous_weekly(calendar, moment, "first", "09:00", strict=False) == moment


# ------------------------------------------------------------------------------ preview


async def test_preview_by_role(database_url: str) -> None:
    clock = FrozenClock(jst(2026, 11, 25, 10))
    async with _bot(database_url, clock, duties=[MEETING, CHECK]) as bot:
        await _sync_duties(bot, clock.now())
        await _seed_week(bot)
        clock.set(jst(2026, 12, 7, 10, 0))
        denied = await bot.command("digest preview", user="S1")
        assert "DX推進リーダーの権限が必要な" in denied[0]
        usage = await bot.command("digest", user="L1")
        assert usage[0].startswith("使い方: /dx digest preview")
        # A leader: their group's week so far (since Monday 9:00; nothing new in one hour).
        mine = (await bot.command("digest preview", user="L1"))[0].split("\n")
        assert mine[0] == "(プレビュー: 2026年12月7日(月) 10:00 時点の内容です)"
        assert mine[1] == "【窓口部会 週次ダイジェスト】12月7日(月)〜12月7日(月)"
        assert "■ 新しい課題" not in "\n".join(mine)
        assert "・R8-0001「申請書の転記」課題整理のまま67日" in mine
        other = await bot.command("digest preview 広報部会", user="L1")
        assert other == [
            "広報部会のダイジェストは、その部会のDX推進リーダーと情報政策課が確認できます。"
        ]
        # Policy staff: the month so far, or any group's week.
        monthly = (await bot.command("ダイジェスト プレビュー", user="P1"))[0].split("\n")
        assert monthly[1] == "【DX推進 月次ダイジェスト】2026年12月(12月1日(火)〜12月7日(月))"
        assert monthly[2] == "■ 2026年12月の動き: 新しい報告 2件 / 状況の変更 2件"
        koho = await bot.command("digest preview 広報部会", user="P1")
        assert koho[0].split("\n")[1] == "【広報部会】今週の新しい動きはありません。"
        unknown = await bot.command("digest preview 総務部会", user="P1")
        assert unknown == ["「総務部会」という部会はありません。部会: 窓口部会、広報部会"]
        # Previews post nothing to the channels and claim no run.
        assert {m.conversation_id for _, m in bot.sender.sent} <= {"dm-S1", "dm-L1", "dm-P1"}
        async with bot.runtime.sessions() as session:
            assert list(await session.scalars(select(ScheduleRun.run_key))) == []


# -------------------------------------------------------------------------------- chart


def test_chart_is_a_png_with_or_without_a_japanese_font(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    from bot.i18n import Catalog
    from handlers import digest_chart

    counts = {"received": 12, "triage": 5, "pilot": 2, "closed": 1}
    catalog = Catalog.load()
    png = digest_chart.pipeline_png(counts, catalog, "ja")
    assert png is not None and png.startswith(b"\x89PNG\r\n\x1a\n")
    monkeypatch.setattr(digest_chart, "japanese_font", lambda: None)
    fallback = digest_chart.pipeline_png(counts, catalog, "ja")  # English labels, no boxes
    assert fallback is not None and fallback.startswith(b"\x89PNG\r\n\x1a\n")


def test_no_chart_and_no_crash_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.i18n import Catalog
    from handlers import digest_chart

    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    digest_chart.japanese_font.cache_clear()
    try:
        assert digest_chart.japanese_font() is None
        assert digest_chart.pipeline_png({"received": 1}, Catalog.load(), "ja") is None
    finally:
        digest_chart.japanese_font.cache_clear()
