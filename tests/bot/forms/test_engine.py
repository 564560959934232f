"""The form engine on a form using every step type, conditional steps and stale buttons."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.app import App
from bot.clock import FrozenClock
from bot.context import Context
from bot.forms.definition import parse_form
from storage.forms import FormSession
from tests.builders import make_event
from tests.harness import harness

NOW = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)  # 2026-12-01 (火) 10:00 JST
SURVEY = {
    "name": "survey",
    "title": {"ja": "アンケート", "en": "Survey"},
    "steps": [
        {
            "id": "tools",
            "type": "multi_choice",
            "prompt": "使っている道具は?",
            "options": [
                {"value": "paper", "label": "紙"},
                {"value": "excel", "label": "Excel"},
                {"value": "chat", "label": "チャット"},
            ],
        },
        {
            "id": "sheets",
            "type": "number",
            "unit": "times",
            "min": 1,
            "max": 100,
            "prompt": "月に何回印刷しますか?",
            "when": {"step": "tools", "in": ["paper"]},
        },
        {"id": "due", "type": "date", "prompt": "いつまでに?"},
        {"id": "agree", "type": "yes_no", "prompt": "同意しますか?"},
    ],
}


def _with_survey(submitted: list[dict[str, Any]]):  # type: ignore[no-untyped-def]
    def register(app: App) -> None:
        from handlers import register as features

        features(app)
        assert app.forms is not None
        app.forms.forms["survey"] = parse_form(SURVEY)

        @app.message(r"^アンケート$")
        async def start(ctx: Context) -> None:
            assert ctx.app.forms is not None
            await ctx.app.forms.start(ctx, "survey")

        @app.forms.on_submit("survey")
        async def done(ctx: Context, row: FormSession) -> None:
            submitted.append(dict(row.answers))
            await ctx.say("ok")

    return register


async def test_every_step_type_and_a_conditional_step(database_url: str) -> None:
    submitted: list[dict[str, Any]] = []
    async with harness(
        database_url, register=_with_survey(submitted), clock=FrozenClock(NOW)
    ) as bot:
        first = await bot.say("アンケート")
        assert "1. 紙" in first[1] and "(1/3)" in first[1]  # the conditional step is hidden yet
        bad = await bot.say("4")
        assert "(1/3)" in bad[0] and bad[0] != first[1]
        sheets = await bot.say("１、３")
        assert sheets[0].startswith("(2/4) 月に何回")
        due = await bot.say("２０回")
        assert due[0].startswith("(3/4)")
        impossible = await bot.say("2月30日")
        assert "(3/4)" in impossible[0]
        await bot.say("明日")
        summary = await bot.say("y")
        assert "3. due: 2026年12月2日(水)" in summary[0]  # no label: the step id shows
        # Dropping 紙 hides the conditional step and its answer.
        await bot.say("1を修正")
        back = await bot.say("Excel")
        assert "月に何回" not in back[0]
        await bot.say("送信")
    assert submitted == [
        {"tools": ["excel"], "due": "2026-12-02", "agree": True},
    ]


async def test_a_button_from_an_earlier_question_is_refused(database_url: str) -> None:
    submitted: list[dict[str, Any]] = []
    async with harness(
        database_url, register=_with_survey(submitted), clock=FrozenClock(NOW)
    ) as bot:
        await bot.say("アンケート")
        stale = await bot.deliver(make_event(action_id="form", value="answer:yes"))
        assert "今の質問のもの" in stale[0].text and "(1/3)" in stale[0].text


async def test_keep_takes_the_current_answer_again_and_is_an_answer_where_there_is_none(
    database_url: str,
) -> None:
    """「そのまま」 after 戻る or an edit moves on without retyping; at a question not answered
    yet it is what the person typed (here: not a date, so the question is asked again)."""
    submitted: list[dict[str, Any]] = []
    async with harness(
        database_url, register=_with_survey(submitted), clock=FrozenClock(NOW)
    ) as bot:
        await bot.say("アンケート")
        await bot.say("1、3")
        await bot.say("20回")
        back = await bot.say("戻る")
        assert back[0].startswith("(2/4) 月に何回") and "いまの回答: 20" in back[0]
        assert "(変えない場合は「そのまま」と送ってください)" in back[0]
        kept = await bot.say("そのまま")
        assert kept[0].startswith("(3/4) いつまでに")
        not_yet = await bot.say("そのまま")
        assert not_yet[0].startswith("日付で入力してください") and "(3/4)" in not_yet[0]
        await bot.say("明日")
        await bot.say("はい")
        edit = await bot.say("2を修正")
        assert edit[0].startswith("(2/4) 月に何回")
        summary = await bot.say("変更なし")
        assert "2. sheets: 20" in summary[0]
        await bot.say("送信")
    assert submitted == [
        {"tools": ["paper", "chat"], "sheets": 20, "due": "2026-12-02", "agree": True},
    ]
