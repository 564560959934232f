"""Hostile and odd input through the signed HTTP edge: refused clearly or stored verbatim."""

from __future__ import annotations

from sqlalchemy import select

from storage.forms import FormSession
from storage.issues import Issue
from tests.edge import edge

SQL = "'; DROP TABLE issues; -- \" OR 1=1"
MARKUP = "<script>alert(1)</script> <!channel> *太字* `code` &amp;"


async def _start(bot):  # type: ignore[no-untyped-def]
    await bot.say("課題を報告")
    await bot.say("市民課")


async def test_ten_thousand_characters_are_refused_with_the_reason(database_url: str) -> None:
    async with edge(database_url, max_body=1024 * 1024) as bot:
        await _start(bot)
        await bot.say("住民票の交付")
        refused = await bot.say("あ" * 10_000)
        assert "2000文字以内" in refused[0] and "10000文字" in refused[0]
        accepted = await bot.say("い" * 2000)
        assert accepted[0].startswith("(4/9)")
        async with bot.runtime.sessions() as session:
            row = await session.scalar(select(FormSession))
    assert row is not None and row.answers["problem"] == "い" * 2000


async def test_sql_and_markup_are_stored_and_shown_verbatim(database_url: str) -> None:
    async with edge(database_url) as bot:
        await _start(bot)
        await bot.say(SQL[:100])
        await bot.say(MARKUP)
        await bot.say(SQL + " を手作業で")
        for answer in ("毎週", "10分", "2人", "スキップ", "いいえ"):
            summary = await bot.say(answer)
        assert MARKUP in summary[0] and SQL in summary[0]
        receipt = await bot.say("送信")
        assert "受付番号" in receipt[0]
        async with bot.runtime.sessions() as session:
            issue = await session.scalar(select(Issue))
    assert issue is not None
    assert issue.title == SQL[:100] and issue.answers["problem"] == MARKUP


async def test_control_characters_are_refused_not_stored(database_url: str) -> None:
    async with edge(database_url) as bot:
        await _start(bot)
        refused = await bot.say("住民票\x07の交付")
        assert "(2/9)" in refused[0] and refused[0] != (await bot.say("ヘルプ"))[1]
        async with bot.runtime.sessions() as session:
            row = await session.scalar(select(FormSession))
    assert row is not None and "work" not in row.answers


async def test_deep_and_huge_json_get_a_clear_400_or_413(database_url: str) -> None:
    async with edge(database_url, max_body=64 * 1024) as bot:
        deep = ("[" * 20_000 + "]" * 20_000).encode()
        deep_reply = await bot.post(deep)
        huge = b'{"event_id": "' + b"x" * 100_000 + b'"}'
        huge_reply = await bot.post(huge)
    assert deep_reply.status == 400 and deep_reply.body["field"] == "body"
    assert huge_reply.status == 413 and huge_reply.body["error"] == "too_large"
