"""Retention: handled events and finished messages go after their ``keep_days``; nothing that
still waits is touched; each run deletes a bounded batch, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import inbox, outbox, retention
from bot.clock import FrozenClock
from storage.engine import create_engine, session_factory
from storage.models import InboxEvent, OutboxMessage
from tests.builders import make_event
from tests.harness import harness

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _event(n: int, status: str, age: timedelta) -> InboxEvent:
    at = NOW - age
    return InboxEvent(
        adapter="relay",
        event_id=f"e{n}",
        serial_key=f"relay:U{n}",
        payload={},
        status=status,
        attempts=0,
        received_at=at,
        handled_at=None if status == inbox.PENDING else at,
    )


def _message(n: int, status: str, age: timedelta) -> OutboxMessage:
    at = NOW - age
    return OutboxMessage(
        adapter="relay",
        conversation_key=f"relay:c{n}",
        idempotency_key=f"k{n}",
        payload={},
        status=status,
        attempts=1,
        next_attempt_at=at,
        created_at=at,
        sent_at=at if status == outbox.SENT else None,
    )


async def _seed(sessions: async_sessionmaker[AsyncSession], rows: list[object]) -> None:
    async with sessions() as session, session.begin():
        session.add_all(rows)


async def _left(sessions: async_sessionmaker[AsyncSession]) -> tuple[list[str], list[str]]:
    async with sessions() as session:
        events = await session.scalars(select(InboxEvent.event_id).order_by(InboxEvent.id))
        messages = await session.scalars(
            select(OutboxMessage.idempotency_key).order_by(OutboxMessage.id)
        )
        return list(events), list(messages)


async def test_only_finished_rows_past_their_days_are_deleted(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    old, young = timedelta(days=40), timedelta(days=20)
    await _seed(
        sessions,
        [
            _event(1, inbox.DONE, old),
            _event(2, inbox.FAILED, old),
            _event(3, inbox.PENDING, old),  # still to handle, however old
            _event(4, inbox.DONE, young),
            _message(1, outbox.SENT, timedelta(days=100)),
            _message(2, outbox.DEAD, timedelta(days=100)),
            _message(3, outbox.PENDING, timedelta(days=100)),
            _message(4, outbox.SENDING, timedelta(days=100)),
            _message(5, outbox.SENT, old),  # past the inbox's 30 days, not the outbox's 90
        ],
    )
    try:
        pruned = await retention.prune(sessions, NOW, inbox_days=30, outbox_days=90)
        assert pruned == retention.Pruned(events=2, messages=2)
        assert await _left(sessions) == (["e3", "e4"], ["k3", "k4", "k5"])
        again = await retention.prune(sessions, NOW, inbox_days=30, outbox_days=90)
        assert again == retention.Pruned(0, 0)
    finally:
        await engine.dispose()


async def test_zero_days_keeps_everything(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    ancient = timedelta(days=3650)
    await _seed(sessions, [_event(1, inbox.DONE, ancient), _message(1, outbox.SENT, ancient)])
    try:
        pruned = await retention.prune(sessions, NOW, inbox_days=0, outbox_days=0)
        assert pruned == retention.Pruned(0, 0)
        assert await _left(sessions) == (["e1"], ["k1"])
    finally:
        await engine.dispose()


async def test_a_run_deletes_one_bounded_batch_oldest_first(database_url: str) -> None:
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    await _seed(sessions, [_event(n, inbox.DONE, timedelta(days=60 - n)) for n in range(5)])
    try:
        counts = []
        for _ in range(4):
            pruned = await retention.prune(sessions, NOW, inbox_days=30, outbox_days=0, batch=2)
            counts.append(pruned.events)
            if pruned.events == 2:
                left, _ = await _left(sessions)
                assert left == [f"e{n}" for n in range(sum(counts), 5)]  # the oldest went
        assert counts == [2, 2, 1, 0]
    finally:
        await engine.dispose()


async def test_rows_that_wait_at_the_oldest_ids_do_not_stop_the_deleting(
    database_url: str,
) -> None:
    """Messages for an adapter no process serves wait for good, below everything else; the
    window of each run is made of finished rows only, so it steps over them."""
    engine = create_engine(database_url)
    sessions = session_factory(engine)
    stuck = [_message(n, outbox.PENDING, timedelta(days=200)) for n in range(3)]
    sent = [_message(n, outbox.SENT, timedelta(days=150 - n)) for n in range(3, 8)]
    await _seed(sessions, stuck + sent)
    try:
        first = await retention.prune(sessions, NOW, inbox_days=0, outbox_days=90, batch=3)
        second = await retention.prune(sessions, NOW, inbox_days=0, outbox_days=90, batch=3)
        assert (first.messages, second.messages) == (3, 2)
        assert await _left(sessions) == ([], ["k0", "k1", "k2"])
    finally:
        await engine.dispose()


async def test_a_conversation_is_kept_for_its_days_then_deleted(database_url: str) -> None:
    """Through the runtime: a staff member's message and the bot's answer stay 30 days (a
    duplicate delivery is still recognised), then both rows go."""
    clock = FrozenClock(NOW)
    async with harness(database_url, clock=clock) as bot:
        assert await bot.say("ヘルプ", user="U1", event_id="help-1")
        clock.advance(days=29)
        assert await bot.runtime.prune() == retention.Pruned(0, 0)
        duplicate = make_event("ヘルプ", user="U1", event_id="help-1")
        assert await bot.runtime.accept(duplicate) is False  # recognised: not handled again
        clock.advance(days=2)
        assert await bot.runtime.prune() == retention.Pruned(events=1, messages=0)
        clock.advance(days=60)
        pruned = await bot.runtime.prune()
        assert pruned.events == 0 and pruned.messages >= 1
        async with bot.runtime.sessions() as session:
            events = await session.scalar(select(func.count()).select_from(InboxEvent))
            messages = await session.scalar(select(func.count()).select_from(OutboxMessage))
        assert (events, messages) == (0, 0)


async def test_a_form_given_up_goes_after_its_days_and_one_being_filled_in_never(
    database_url: str,
) -> None:
    """Through the runtime, in Japanese: one person cancels a report, another stops half-way
    (a draft), a third is still answering. After forms.keep_days (90) since each was last
    touched (a draft: since it was put aside, as it is told), the cancelled form and the draft
    are deleted; the active one stays."""
    from storage.forms import FormSession

    clock = FrozenClock(NOW)
    async with harness(database_url, clock=clock) as bot:
        await bot.say("課題を報告", user="U1")
        await bot.say("やめる", user="U1")
        assert "やめました" in "".join(await bot.say("はい", user="U1"))
        await bot.say("課題を報告", user="U2")
        clock.advance(days=1)
        await bot.say("市民課", user="U2")  # U2's last answer: day 1
        clock.advance(days=2)
        await bot.runtime.sweep_forms()  # idle for two days: put aside as a draft on day 3
        await bot.settle()
        assert "下書きは、一時保存してから90日たつと消えます。" in bot.sender.texts[-1]
        await bot.say("課題を報告", user="U3")
        clock.advance(days=87, hours=12)  # day 90.5
        assert (await bot.runtime.prune()).forms == 1  # the cancelled one, from day 0
        clock.advance(days=2)  # day 92.5
        assert (await bot.runtime.prune()).forms == 0  # the draft counts from day 3
        clock.advance(days=1)  # day 93.5
        assert (await bot.runtime.prune()).forms == 1
        clock.advance(days=365)
        assert (await bot.runtime.prune()).forms == 0
        async with bot.runtime.sessions() as session:
            left = (await session.execute(select(FormSession.user_id, FormSession.status))).all()
        assert [tuple(row) for row in left] == [("U3", "active")]


async def test_after_a_quiet_spell_a_new_report_gets_a_new_id_and_is_submitted(
    database_url: str,
) -> None:
    """SQLite numbers a new row max(id) + 1. Had retention deleted the newest form session (a
    submitted report, after 90 quiet days), the next form would take its id back, and its
    issue would clash with the old issue's unique form_session_id: the report could never be
    sent. The newest row of each table stays."""
    from storage.forms import FormSession
    from storage.issues import Issue
    from tests.seeds import REPORT_ANSWERS

    work = {"S1": "会議室の予約", "S2": "公用車の運行記録", "S3": "防災無線の原稿作成"}
    problem = {
        "S1": "予約を紙の台帳に手で書いて管理している",
        "S2": "運行日誌を手書きして月末にExcelへ転記している",
        "S3": "原稿を毎回ゼロから作り、読み上げ時間を手で計っている",
    }

    async def report(user: str) -> list[str]:
        answers = [*REPORT_ANSWERS]
        answers[1], answers[2] = work[user], problem[user]
        await bot.say("課題を報告", user=user)
        for answer in answers:
            await bot.say(answer, user=user)
        sent = await bot.say("送信", user=user)
        if any("似ている課題" in text for text in sent):  # same section: asked first
            sent = await bot.say("新しい課題として送信", user=user)
        return sent

    clock = FrozenClock(NOW)
    async with harness(database_url, clock=clock) as bot:
        for user in ("S1", "S2"):
            assert any("受付番号は" in text for text in await report(user))
            clock.advance(days=1)
        clock.advance(days=91)
        assert (await bot.runtime.prune()).forms == 1  # S1's; S2's is the newest and stays
        sent = await report("S3")
        async with bot.runtime.sessions() as session:
            ids = list(await session.scalars(select(FormSession.id).order_by(FormSession.id)))
            issues = await session.scalar(select(func.count()).select_from(Issue))
    assert any("受付番号は" in text for text in sent), sent
    assert issues == 3 and len(set(ids)) == len(ids) == 2
