"""課題報告: full Japanese conversations through the signed relay edge."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from bot.clock import FrozenClock
from storage.forms import FormSession
from storage.issues import AuditRecord, Issue, IssueSupport
from tests.edge import Edge, edge
from tests.seeds import REPORT_ANSWERS

# 2026-12-01 10:00 JST: 令和8年度
NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


async def _issues(bot: Edge) -> list[Issue]:
    async with bot.runtime.sessions() as session:
        return list(await session.scalars(select(Issue).order_by(Issue.id)))


async def _report(bot: Edge, answers: list[str], user: str = "U001") -> list[str]:
    said = await bot.say("課題を報告", user=user)
    for answer in answers:
        said = await bot.say(answer, user=user)
    return said


async def test_full_report_with_mistakes_back_edit_and_full_width(database_url: str) -> None:
    async with edge(database_url, clock=FrozenClock(NOW)) as bot:
        opened = await bot.say("課題を報告")
        assert "「課題の報告」を始めます" in opened[0]
        assert opened[1].startswith("(1/9) あなたの所属課")

        suggest = await bot.say("市民")
        assert suggest == ["「市民」は「市民課」のことですか?"]
        work_q = await bot.press("はい")
        assert work_q[0].startswith("(2/9) 困っている業務")

        not_skippable = await bot.say("スキップ")
        assert not_skippable[0].startswith("この質問は省略できません")
        blank = await bot.say("　")
        assert "入力" in blank[0] and "(2/9)" in blank[0]
        await bot.say("住民票の交付")

        too_short = await bot.say("紙")
        assert "5文字" in too_short[0] and "(3/9)" in too_short[0]
        await bot.say("紙の申請書をExcelに手入力で転記している")
        frequency_q = await bot.say("申請内容が最初からデータで届き、転記が不要になる")
        assert frequency_q[0].startswith("(5/9)")
        assert set(bot.last_choices()) == {"毎日", "毎週", "毎月", "年に数回"}

        minutes_q = await bot.say("毎日")  # typed label selects the button
        assert minutes_q[0].startswith("(6/9)")
        wrong_unit = await bot.say("３人")
        assert "(6/9)" in wrong_unit[0] and wrong_unit[0] != minutes_q[0]
        await bot.say("３０分")
        back = await bot.say("戻る")
        assert back[0].startswith("(6/9)") and "30分" in back[0]
        staff_q = await bot.say("１時間")
        assert staff_q[0].startswith("(7/9)")
        await bot.say("５人")
        ideas_q = await bot.say("スキップ")
        assert ideas_q[0].startswith("(9/9) 検討部会から")

        summary = await bot.say("はい")
        text = summary[0]
        assert "1. 所属課: 市民課" in text
        assert "6. 1回あたりの所要時間: 60分" in text
        assert "7. 関係する職員数: 5人" in text
        assert "8. 解決のアイデア: (なし)" in text
        assert "9. 部会からの連絡可否: はい" in text
        assert set(bot.last_choices()) == {"送信する", "修正する", "やめる"}

        edit = await bot.say("２を修正")
        assert edit[0].startswith("(2/9)") and "住民票の交付" in edit[0]
        back_to_summary = await bot.say("住民票の写しの交付")
        assert "2. 業務名: 住民票の写しの交付" in back_to_summary[0]

        receipt = await bot.say("送信")
        assert "受付番号は R8-0001" in receipt[0]
        assert "年間 約1250時間" in receipt[0]  # 250 days × 60 min ÷ 60 × 5 people

        [issue] = await _issues(bot)
        assert issue.number == "R8-0001" and issue.status == "received"
        assert issue.title == "住民票の写しの交付" and issue.section == "市民課"
        assert issue.answers["minutes"] == 60 and issue.answers["staff"] == 5
        assert issue.answers["ideas"] is None and issue.contact_ok is True
        assert issue.annual_hours == 1250.0 and issue.working_group is None
        async with bot.runtime.sessions() as session:
            audit = await session.scalar(select(AuditRecord.action))
        assert audit == "issue.created"
        mine = await bot.command("mine")
        assert "R8-0001「住民票の写しの交付」… 受付" in mine[0]


async def test_similar_issue_records_support_instead_of_a_duplicate(database_url: str) -> None:
    async with edge(database_url, clock=FrozenClock(NOW)) as bot:
        await _report(bot, REPORT_ANSWERS, user="U001")
        await bot.say("送信", user="U001")
        similar = await _report(bot, REPORT_ANSWERS, user="U002")
        assert "1. 所属課" in similar[0]
        check = await bot.say("送信", user="U002")
        assert "似ている課題" in check[0] and "R8-0001「住民票の交付」" in check[0]
        assert "同じ課題です(R8-0001)" in bot.last_choices("U002")
        supported = await bot.press("同じ課題です(R8-0001)", user="U002")
        assert "R8-0001 への賛同として記録しました(賛同 1人)" in supported[0]

        third = await _report(bot, REPORT_ANSWERS, user="U003")
        assert third
        await bot.say("送信", user="U003")
        created = await bot.press("新しい課題として送信", user="U003")
        assert "R8-0002" in created[0]
        issues = await _issues(bot)
        async with bot.runtime.sessions() as session:
            supports = await session.scalar(select(func.count()).select_from(IssueSupport))
    assert [i.number for i in issues] == ["R8-0001", "R8-0002"]
    assert issues[0].support_count == 1 and supports == 1


async def test_cancel_is_confirmed_before_discarding(database_url: str) -> None:
    async with edge(database_url) as bot:
        await bot.say("報告")
        await bot.say("市民課")
        confirm = await bot.say("やめる")
        assert confirm == ["入力中の内容を破棄して、やめますか?"]
        kept = await bot.press("いいえ、続ける")
        assert kept[0].startswith("(2/9)")
        await bot.say("キャンセル")
        gone = await bot.say("はい")
        assert gone == ["入力をやめました。内容は破棄しました。"]
        after = await bot.say("住民票の交付")
        assert "よくわかりませんでした" in after[0]
        async with bot.runtime.sessions() as session:
            status = await session.scalar(select(FormSession.status))
        assert status == "cancelled" and await _issues(bot) == []


async def test_unknown_section_is_confirmed_not_rejected(database_url: str) -> None:
    async with edge(database_url) as bot:
        await bot.say("課題")
        unlisted = await bot.say("未来創造課")
        assert unlisted == [
            "「未来創造課」は一覧にありません。このまま「未来創造課」として登録しますか?"
        ]
        await bot.press("はい")
        for answer in REPORT_ANSWERS[1:]:
            await bot.say(answer)
        await bot.say("送信")
        [issue] = await _issues(bot)
    assert issue.section == "未来創造課" and issue.section_known is False


async def test_help_restart_and_command_during_a_form(database_url: str) -> None:
    async with edge(database_url) as bot:
        await bot.say("課題を報告")
        await bot.say("市民課")
        helped = await bot.say("ヘルプ")
        assert "短い名前" in helped[0] and "戻る" in helped[0]
        assert helped[1].startswith("(2/9)")
        status = await bot.command("help")  # commands still work mid-form
        assert "/dx report" in status[0]
        restarted = await bot.say("最初から")
        assert restarted[0] == "最初からやり直します。"
        assert restarted[1].startswith("(1/9)")


async def test_start_from_help_menu_and_text_fallback(database_url: str) -> None:
    async with edge(database_url, buttons=False) as bot:
        menu = await bot.say("ヘルプ")
        assert menu[0].rstrip().endswith("1. 課題を報告する")
        started = await bot.say("１")
        assert started[1].startswith("(1/9)")
        for answer in REPORT_ANSWERS[:4]:
            await bot.say(answer)
        minutes_q = await bot.say("2")  # numbered fallback: 2 = 毎週
        assert minutes_q[0].startswith("(6/9)")
        async with bot.runtime.sessions() as session:
            row = await session.scalar(select(FormSession))
        assert row is not None and row.answers["frequency"] == "weekly"
