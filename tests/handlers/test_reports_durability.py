"""課題報告 under restarts, idle time, routing and a burst of 200 people at once."""

from __future__ import annotations

import asyncio
import random

from sqlalchemy import func, select

from bot.clock import FrozenClock
from bot.events import Event
from bot.runtime import Runtime
from storage.forms import FormSession
from storage.issues import Issue
from tests.builders import make_event
from tests.conftest import fast_settings
from tests.edge import edge
from tests.fakes import RecordingSender
from tests.handlers.test_reports import NOW
from tests.harness import harness
from tests.seeds import REPORT_ANSWERS


async def test_restart_mid_form_continues_at_the_same_step(database_url: str) -> None:
    async with edge(database_url, clock=FrozenClock(NOW)) as before:
        await before.say("課題を報告")
        for answer in REPORT_ANSWERS[:3]:
            asked = await before.say(answer)
        assert asked[0].startswith("(4/9)")
    # A new process (new App, new adapter, new HTTP server) on the same database.
    async with edge(database_url, clock=FrozenClock(NOW)) as after:
        helped = await after.say("ヘルプ")
        assert helped[1] == asked[0]
        for answer in REPORT_ANSWERS[3:]:
            await after.say(answer)
        receipt = await after.say("送信")
        assert "R8-0001" in receipt[0]
        async with after.runtime.sessions() as session:
            issue = await session.scalar(select(Issue))
    assert issue is not None and issue.answers["problem"] == REPORT_ANSWERS[2]


async def test_two_messages_at_once_are_applied_in_order(database_url: str) -> None:
    async with harness(database_url, clock=FrozenClock(NOW)) as bot:
        await bot.say("課題を報告")
        await bot.say("市民課")
        # Both stored before either is handled: each must meet its own step.
        await bot.runtime.accept(make_event("住民票の交付"))
        await bot.runtime.accept(make_event("紙の申請書をExcelに手入力で転記している"))
        await bot.settle()
        async with bot.runtime.sessions() as session:
            row = await session.scalar(select(FormSession))
    assert row is not None
    assert row.answers["work"] == "住民票の交付"
    assert row.answers["problem"] == "紙の申請書をExcelに手入力で転記している"
    assert row.step == "ideal"


async def test_idle_form_is_nudged_once_then_kept_as_a_draft(database_url: str) -> None:
    clock = FrozenClock(NOW)
    async with harness(database_url, clock=clock) as bot:
        await bot.say("課題を報告")
        await bot.say("市民課")
        clock.advance(minutes=31)
        assert await bot.runtime.sweep_forms() == (1, 0)
        assert await bot.runtime.sweep_forms() == (0, 0)  # one nudge only
        await bot.settle()
        assert "入力が途中のまま" in bot.sender.texts[-1]
        clock.advance(hours=24)
        assert await bot.runtime.sweep_forms() == (0, 1)
        await bot.settle()
        assert "/dx resume" in bot.sender.texts[-1]
        assert "一時保存してから90日たつと消えます" in bot.sender.texts[-1]
        ignored = await bot.say("住民票の交付")  # the form no longer takes messages
        assert "よくわかりませんでした" in ignored[0]
        listed = await bot.command("drafts")
        assert "1. 課題の報告" in listed[0] and "1問回答済み" in listed[0]
        resumed = await bot.command("resume")
        assert resumed[0] == "保存していた下書きから再開します。"
        assert resumed[1].startswith("(2/9)")
        for answer in REPORT_ANSWERS[1:]:
            await bot.say(answer)
        receipt = await bot.say("送信")
        assert "R8-0001" in receipt[0]
        nothing = await bot.command("resume")
        assert "その下書きは再開できません" in nothing[0]


async def test_routing_by_section_then_keyword_then_policy_queue(database_url: str) -> None:
    groups = [
        {
            "name": "窓口部会",
            "channel": "room-madoguchi",
            "leaders": ["L1"],
            "sections": ["市民課"],
        },
        {"name": "ペーパーレス部会", "channel": "room-paper", "keywords": ["印刷"]},
    ]
    policy = {"channel": "room-policy", "users": ["P1"]}
    async with harness(database_url, clock=FrozenClock(NOW), groups=groups, policy=policy) as bot:
        cases = [
            (
                "市民課",
                "窓口予約",
                "窓口予約を電話で受けていて一日中電話対応に追われる",
                {"room-madoguchi", "user:L1"},
            ),
            (
                "総務課",
                "会議資料",
                "会議資料を印刷配布していて差し替えのたびに刷り直す",
                {"room-paper"},
            ),
            (
                "総務課",
                "出張旅費の精算",
                "出張旅費の精算に押印が3つ必要",
                {"room-policy", "user:P1"},
            ),
        ]
        for n, (section, work, problem, expected) in enumerate(cases):
            before, me = len(bot.sender.sent), f"R{n}"
            await bot.say("課題を報告", user=me)
            await bot.say(section, user=me)
            await bot.say(work, user=me)
            for answer in [problem, "手間なく済む", *REPORT_ANSWERS[4:]]:
                await bot.say(answer, user=me)
            await bot.say("送信", user=me)
            sent = bot.sender.sent[before:]
            others = [m for _, m in sent if m.conversation_id != f"dm-{me}"]
            targets = {m.conversation_id or f"user:{m.user_id}" for m in others}
            assert targets == expected, (section, work, [m.text for _, m in sent][-2:])
            notice = others[0].text
            assert "新しい課題が報告されました" in notice and work in notice


async def test_two_hundred_people_at_once_with_duplicates_and_late_retries(
    database_url: str,
) -> None:
    """Deliveries interleaved across people, 10 % repeated, some repeats arriving late."""
    rng = random.Random(42)
    people = [f"S{i:03d}" for i in range(200)]

    def unique_text() -> str:  # distinct wording, so no report looks like another
        return "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(24))

    problems = {p: unique_text() for p in people}
    scripts = {
        p: [
            "課題を報告",
            REPORT_ANSWERS[0],
            f"業務{p}",
            problems[p],
            unique_text(),
            *REPORT_ANSWERS[4:],
            "送信",
        ]
        for p in people
    }
    events: dict[str, list[Event]] = {
        p: [make_event(text, user=p) for text in script] for p, script in scripts.items()
    }
    sender = RecordingSender()
    runtime = Runtime(
        fast_settings(database_url),
        clock=FrozenClock(NOW),
        webhooks={},
        senders={"relay": sender},
    )
    await runtime.prepare()
    await runtime.start()
    cursors = dict.fromkeys(people, 0)
    deliveries: list[Event] = []
    while any(cursors[p] < len(events[p]) for p in people):
        person = rng.choice([p for p in people if cursors[p] < len(events[p])])
        event = events[person][cursors[person]]
        cursors[person] += 1
        deliveries.append(event)
        if rng.random() < 0.10:
            # the platform retries: now, or much later (after newer messages)
            position = len(deliveries) + rng.choice([0, rng.randint(1, 400)])
            deliveries.insert(min(position, len(deliveries)), event)
    # Arrivals overlap across people (up to 20 in flight); one person's own messages arrive
    # one after another, as a chat platform sends them.
    accepted: list[bool] = []
    batch: dict[str, Event] = {}
    for event in [*deliveries, None]:
        if event is None or event.user.id in batch or len(batch) == 20:
            accepted += await asyncio.gather(*(runtime.accept(e) for e in batch.values()))
            batch = {}
        if event is not None:
            batch[event.user.id] = event
    for _ in range(600):  # until every report is filed and its receipt delivered
        async with runtime.sessions() as session:
            done = await session.scalar(select(func.count()).select_from(Issue))
        receipts = [m for _, m in sender.sent if "受付番号" in m.text]
        if done == len(receipts) == len(people):
            break
        await asyncio.sleep(0.1)
    async with runtime.sessions() as session:
        issues = list(await session.scalars(select(Issue)))
    await runtime.stop()
    total = sum(len(v) for v in events.values())
    print(f"deliveries={len(deliveries)} unique={total} accepted_new={sum(accepted)}")
    assert sum(accepted) == total
    assert len(issues) == len(people)
    assert sorted(i.title for i in issues) == sorted(f"業務{p}" for p in people)
    assert len({i.number for i in issues}) == len(people)
    for issue in issues:
        person = issue.title.removeprefix("業務")
        assert issue.reporter_id == person and issue.answers["problem"] == problems[person]
        assert issue.answers["staff"] == 3 and issue.answers["frequency"] == "daily"
        assert set(issue.answers) == {
            "section",
            "work",
            "problem",
            "ideal",
            "frequency",
            "minutes",
            "staff",
            "ideas",
            "contact",
        }
    assert len([m for _, m in sender.sent if "受付番号" in m.text]) == len(people)
