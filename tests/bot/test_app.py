"""The App dispatches events to listeners through middleware, in one transaction."""

from __future__ import annotations

from sqlalchemy import select

from bot import inbox
from bot.app import App
from bot.context import Context
from bot.messages import Choice
from handlers import register as register_features
from storage.models import InboxEvent
from tests.builders import make_event
from tests.harness import harness


def _custom(app: App) -> None:
    register_features(app)
    calls: list[str] = []
    app.state_calls = calls  # type: ignore[attr-defined]

    @app.middleware
    async def trace(ctx: Context, next):  # type: ignore[no-untyped-def]
        calls.append(f"before:{ctx.event.type}")
        await next()
        calls.append("after")

    @app.message(r"^(?:色|colour)$")
    async def ask_colour(ctx: Context) -> None:
        await ctx.say(
            "どの色?", choices=[Choice("赤", "colour", "red"), Choice("青", "colour", "blue")]
        )

    @app.action("colour")
    async def picked(ctx: Context) -> None:
        await ctx.say(f"picked:{ctx.event.value}")

    @app.message(r"^echo (.+)$")
    async def echo(ctx: Context) -> None:
        await ctx.say(f"echo:{ctx.matches[0]}|user:{ctx.user.name if ctx.user else '-'}")


async def test_help_in_japanese_by_keyword_and_command(database_url: str) -> None:
    async with harness(database_url) as bot:
        by_keyword = await bot.say("ヘルプ")
        by_command = await bot.command("help")
        by_alias = await bot.command("使い方")
        by_empty = await bot.command("")
    assert by_keyword == by_command == by_alias == by_empty
    assert "できること" in by_keyword[0]
    assert "/dx help" in by_keyword[0]


async def test_full_width_and_spaces_are_tolerated(database_url: str) -> None:
    async with harness(database_url) as bot:
        plain = await bot.command("help")
        wide = await bot.command("　ＨＥＬＰ　")
    assert wide == plain


async def test_unknown_command_suggests_the_closest(database_url: str) -> None:
    async with harness(database_url) as bot:
        answer = await bot.command("helpp")
        nothing_close = await bot.command("zzzzzz")
    assert "「helpp」" in answer[0] and "/dx help" in answer[0]
    assert "のことですか" in answer[0]
    assert "のことですか" not in nothing_close[0]


async def test_not_understood_in_direct_chat_silence_in_group(database_url: str) -> None:
    async with harness(database_url) as bot:
        direct = await bot.say("今日の天気は?")
        group = await bot.say("今日の天気は?", conversation="room-1", conversation_kind="group")
    assert "よくわかりませんでした" in direct[0]
    assert group == []


async def test_middleware_wraps_listener_and_sees_user(database_url: str) -> None:
    async with harness(database_url, register=_custom) as bot:
        answer = await bot.say("echo こんにちは", name="佐藤 一郎")
        calls = bot.app.state_calls  # type: ignore[attr-defined]
    assert answer == ["echo:こんにちは|user:佐藤 一郎"]
    assert calls == ["before:message", "after"]


async def test_typed_number_or_label_selects_offered_choice(database_url: str) -> None:
    async with harness(database_url, register=_custom) as bot:
        await bot.say("色")
        by_number = await bot.say("２")
        await bot.say("色")
        by_label = await bot.say("赤")
        after_choice_cleared = await bot.say("1")
    assert by_number == ["picked:blue"]
    assert by_label == ["picked:red"]
    assert "よくわかりませんでした" in after_choice_cleared[0]


async def test_button_press_reaches_action_listener(database_url: str) -> None:
    async with harness(database_url, register=_custom) as bot:
        pressed = await bot.deliver(make_event(action_id="colour", value="red"))
    assert [m.text for m in pressed] == ["picked:red"]


async def test_language_switch_is_remembered_per_person(database_url: str) -> None:
    async with harness(database_url) as bot:
        changed = await bot.command("lang en")
        english = await bot.say("help")
        other_person = await bot.say("help", user="U002")
        bad = await bot.command("lang fr")
    assert changed == ["The bot will now speak English to you."]
    assert english[0].startswith("dxbot helps")
    assert "できること" in other_person[0]
    assert "ja / en" in bad[0] or "ja" in bad[0]


async def test_listener_error_is_apologised_and_not_retried(database_url: str) -> None:
    def broken(app: App) -> None:
        @app.message(r"^boom$")
        async def boom(ctx: Context) -> None:
            await ctx.say("half-written reply that must not go out")
            raise RuntimeError("bug")

    async with harness(database_url, register=broken) as bot:
        answer = await bot.say("boom")
        again = await bot.runtime.worker.handle_pending()
    assert len(answer) == 1 and "エラーが発生しました" in answer[0]
    assert again == 0


async def test_a_database_timeout_is_not_the_event_s_fault(database_url: str) -> None:
    """A statement that outlived ``command_timeout_seconds`` (a lock held by a migration, a
    network gone quiet) leaves the event pending and uncounted, with no apology: once the
    database answers, it is handled as if nothing had happened."""
    stalls = 6  # more than inbox.max_attempts: counted, the event would have been given up

    def slow_database(app: App) -> None:
        @app.message(r"^待って$")
        async def wait(ctx: Context) -> None:
            nonlocal stalls
            if stalls:
                stalls -= 1
                raise TimeoutError  # what asyncpg raises when command_timeout runs out
            await ctx.say("お待たせしました")

    async with harness(database_url, register=slow_database) as bot:
        answer = await bot.say("待って")  # handling retries until the database answers
        async with bot.runtime.sessions() as session:
            event = (await session.scalars(select(InboxEvent))).one()
    assert stalls == 0 and answer == ["お待たせしました"]
    assert event.status == inbox.DONE and event.attempts == 0
