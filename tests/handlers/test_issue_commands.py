"""Slash-style commands for policy staff: lifecycle, roles, pagination, aliases."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from bot.clock import FrozenClock
from storage.issues import AuditRecord, Issue, IssueEvent
from tests.harness import Harness, harness
from tests.seeds import add_issue

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
GROUPS = [
    {"name": "窓口部会", "channel": "room-madoguchi", "leaders": ["L1"], "sections": ["市民課"]},
    {"name": "ペーパーレス部会", "channel": "room-paper", "leaders": ["L2"]},
]
POLICY = {"users": ["P1"], "admins": ["A1"], "channel": "room-policy"}


def _bot(database_url: str):  # type: ignore[no-untyped-def]
    return harness(database_url, clock=FrozenClock(NOW), groups=GROUPS, policy=POLICY)


async def _seed(bot: Harness) -> None:
    async with bot.runtime.sessions() as session, session.begin():
        await add_issue(session, at=NOW, reporter="S1", group="窓口部会")  # R8-0001
        await add_issue(session, at=NOW, reporter="S2", group="ペーパーレス部会")  # R8-0002
        await add_issue(session, at=NOW, reporter="S3", group=None)  # R8-0003


async def _issue(bot: Harness, number: str) -> Issue:
    async with bot.runtime.sessions() as session:
        issue = await session.scalar(select(Issue).where(Issue.number == number))
    assert issue is not None
    return issue


DENIED = ("権限がありません", "の権限が必要な")

# (command, user, allowed?) — the role × command matrix.
MATRIX = [
    ("status", "S1", True),
    ("status", "L1", True),
    ("status", "P1", True),
    ("list", "S1", True),
    ("list", "S9", True),
    ("show R8-0001", "S1", True),  # own
    ("show R8-0001", "S2", False),  # someone else's
    ("show R8-0001", "L1", True),  # their group's
    ("show R8-0001", "L2", False),  # another group's
    ("show R8-0003", "P1", True),
    ("show R8-0003", "A1", True),
    ("move R8-0001 課題整理", "S1", False),  # staff cannot steer, even their own
    ("move R8-0001 課題整理", "L2", False),
    ("move R8-0001 課題整理", "L1", True),
    ("move R8-0002 課題整理", "P1", True),
    ("move R8-0003 保留", "A1", True),
    ("assign R8-0003 窓口部会", "S1", False),
    ("assign R8-0003 窓口部会", "L1", False),  # not their group's issue
    ("assign R8-0003 窓口部会", "P1", True),
    ("assign R8-0001 @L1", "L1", True),
    ("comment R8-0001 確認しました", "S1", True),  # own issue
    ("comment R8-0001 確認しました", "S2", False),
    ("comment R8-0001 確認しました", "L1", True),
    ("comment R8-0002 確認しました", "P1", True),
    ("search 転記", "S1", True),
    ("whoami", "S9", True),
    ("mine", "S9", True),
    ("help", "S9", True),
]


@pytest.mark.parametrize(("command", "user", "allowed"), MATRIX)
async def test_role_command_matrix(
    database_url: str, command: str, user: str, allowed: bool
) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        answer = await bot.command(command, user=user)
    refused = any(mark in text for text in answer for mark in DENIED)
    assert refused is not allowed, answer


async def test_staff_see_only_their_own_in_lists_and_counts(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        mine = await bot.command("list", user="S1")
        everyone = await bot.command("list", user="P1")
        leader = await bot.command("list", user="L2")
        counts = await bot.command("status", user="S1")
    assert "R8-0001" in mine[0] and "R8-0002" not in mine[0]
    assert all(n in everyone[0] for n in ("R8-0001", "R8-0002", "R8-0003"))
    assert "R8-0002" in leader[0] and "R8-0001" not in leader[0]
    assert "全体 1件" in counts[0] and "受付: 1件" in counts[0]


async def test_move_records_history_audit_and_tells_reporter_and_group(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        refused = await bot.command("move R8-0001 試験導入", user="L1")
        assert "変更できません" in refused[0] and "課題整理" in refused[0]
        before = len(bot.sender.sent)
        moved = await bot.command("移動 ＃１ 課題整理 来週の部会で確認", user="L1")
        assert "「受付」から「課題整理」に変更しました" in moved[-1]
        told = {
            m.conversation_id or f"user:{m.user_id}": m.text for _, m in bot.sender.sent[before:]
        }
        assert "「受付」から「課題整理」に変わりました" in told["user:S1"]
        assert "来週の部会で確認" in told["room-madoguchi"]
        shown = await bot.command("詳細 R8-0001", user="S1")
        assert "受付 → 課題整理「来週の部会で確認」" in shown[0]
        issue = await _issue(bot, "R8-0001")
        async with bot.runtime.sessions() as session:
            events = list(await session.scalars(select(IssueEvent)))
            audit = list(
                await session.scalars(
                    select(AuditRecord.action).where(AuditRecord.action == "issue.status")
                )
            )
    assert issue.status == "triage"
    assert [(e.kind, e.from_value, e.to_value, e.actor_id) for e in events] == [
        ("status", "received", "triage", "L1")
    ]
    assert audit == ["issue.status"]


async def test_hold_from_any_open_stage_and_resume(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        for status in ("課題整理", "解決策検討", "保留", "試験導入", "本格導入", "完了"):
            answer = await bot.command(f"move 2 {status}", user="P1")
            assert "変更しました" in answer[-1], (status, answer)
        closed = await bot.command("move 2 保留", user="P1")
        assert "変更できません" in closed[0]


async def test_pagination_and_filters(database_url: str) -> None:
    async with _bot(database_url) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            for i in range(25):
                await add_issue(
                    session, at=NOW, reporter="S1", section="税務課" if i % 5 == 0 else "市民課"
                )
        first = await bot.command("list", user="P1")
        third = await bot.command("一覧 3", user="P1")
        taxes = await bot.command("list 課：税務課", user="P1")
        bad = await bot.command("list status:おわり", user="P1")
        empty = await bot.command("list status:完了", user="P1")
    assert "25件中 1〜10件目、1/3ページ" in first[0]
    assert first[0].count("・R8-") == 10 and "R8-0025" in first[0]
    assert "/dx list 2" in first[0]
    assert "21〜25件目、3/3ページ" in third[0] and third[0].count("・R8-") == 5
    assert "続きは" not in third[0]
    assert "5件中" in taxes[0]
    assert "「おわり」という状況はありません" in bad[0]
    assert empty == ["条件に合う課題はありません。"]


async def test_malformed_commands_say_what_is_missing(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        no_number = await bot.command("move", user="P1")
        no_status = await bot.command("move R8-0001", user="P1")
        unknown = await bot.command("show R8-0999", user="P1")
        bad_status = await bot.command("move R8-0001 おわり", user="P1")
        no_words = await bot.command("comment R8-0001", user="P1")
    assert no_number[0].startswith("使い方: /dx move") and no_status == no_number
    assert "見つかりません" in unknown[0]
    assert "「おわり」という状況はありません" in bad_status[0]
    assert no_words[0].startswith("使い方: /dx comment")


async def test_search_and_whoami(database_url: str) -> None:
    async with _bot(database_url) as bot:
        await _seed(bot)
        found = await bot.command("検索 電話対応", user="P1")
        none = await bot.command("search 宇宙旅行", user="P1")
        me = await bot.command("whoami", user="L1", name="鈴木 一郎")
    assert "検索結果(1件)" in found[0] and "R8-0001「窓口予約」" in found[0]
    assert "見つかりませんでした" in none[0]
    assert "鈴木 一郎" in me[0] and "DX推進リーダー" in me[0] and "窓口部会" in me[0]
    # The platform and language by their names, not their codes (relay, ja).
    assert "(ID: L1、中継(LoGoチャットなど))" in me[0] and "表示言語: 日本語" in me[0]


async def test_a_leader_hears_why_a_group_stays_and_policy_staff_which_groups_exist(
    database_url: str,
) -> None:
    """Two refusals of ``/dx assign``, each with its own reason and what to do instead."""
    async with _bot(database_url) as bot:
        await _seed(bot)
        leader = await bot.command("assign R8-0001 ペーパーレス部会", user="L1")
        policy = await bot.command("assign R8-0003 広報部会", user="P1")
        person = await bot.command("assign R8-0001 @L1", user="L1")
        issue = await _issue(bot, "R8-0001")
    assert leader == [
        "担当の部会を変えられるのは情報政策課だけです。担当者を決める場合は"
        "「/dx assign R8-0001 @ユーザーID」と送ってください(IDは「/dx whoami」で確認できます)。"
    ]
    prefix = "「広報部会」という部会はありません。次の中から部会名を指定してください: "
    assert policy[0].startswith(prefix)
    assert set(policy[0].removeprefix(prefix).split("、")) == {"窓口部会", "ペーパーレス部会"}
    assert "R8-0001 の担当を @L1 にしました" in person[-1]
    assert (issue.working_group, issue.assignee) == ("窓口部会", "L1")


async def test_a_town_that_calls_its_policy_section_otherwise_reads_its_own_name(
    database_url: str,
) -> None:
    """``[locale] policy_section``: 総合政策課 where the messages send people to policy staff."""
    async with harness(
        database_url,
        clock=FrozenClock(NOW),
        groups=GROUPS,
        policy=POLICY,
        locale={"policy_section": "総合政策課"},
    ) as bot:
        await _seed(bot)
        leader = await bot.command("assign R8-0001 ペーパーレス部会", user="L1")
        denied = await bot.command("overdue", user="S1")
        me = await bot.command("whoami", user="P1")
    assert leader[0].startswith("担当の部会を変えられるのは総合政策課だけです。")
    assert "総合政策課の権限が必要なコマンドです。必要な場合は総合政策課にご相談" in denied[0]
    assert "役割: 総合政策課" in me[0]
    assert not any("情報政策課" in text for text in [*leader, *denied, *me])


async def test_buttons_run_commands_through_the_same_guard(database_url: str) -> None:
    from tests.builders import make_event

    async with _bot(database_url) as bot:
        await _seed(bot)
        shown = await bot.command("show R8-0001", user="L1")
        assert "課題整理へ" in [c.label for c in bot.sender.sent[-1][1].choices]
        button = next(c for c in bot.sender.sent[-1][1].choices if c.label == "課題整理へ")
        pressed = await bot.deliver(
            make_event(action_id=button.action_id, value=button.value, user="L1")
        )
        assert any("「課題整理」に変更しました" in m.text for m in pressed)
        forged = await bot.deliver(
            make_event(action_id=button.action_id, value="move R8-0001 解決策検討", user="S1")
        )
        assert any("の権限が必要な" in m.text for m in forged)
        assert shown
    async with _bot(database_url) as bot:
        async with bot.runtime.sessions() as session, session.begin():
            for _ in range(12):
                await add_issue(session, at=NOW, reporter="S1")
        await bot.command("list", user="P1")
        [next_page] = bot.sender.sent[-1][1].choices
        page_two = await bot.deliver(
            make_event(action_id=next_page.action_id, value=next_page.value, user="P1")
        )
        assert "2/2ページ" in page_two[0].text and "件中 11〜" in page_two[0].text
