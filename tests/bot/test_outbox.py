"""The outbox dispatcher: retries, Retry-After, dead letters, order, restarts, several senders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import outbox
from bot.adapters.base import DeliveryError, SentRef
from bot.clock import FrozenClock
from bot.dispatcher import OutboxDispatcher
from bot.messages import Choice, OutgoingMessage
from config.settings import OutboxSettings
from storage.models import OutboxMessage
from tests.fakes import RecordingSender

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


def _settings(**overrides: object) -> OutboxSettings:
    base: dict[str, object] = {
        "base_delay_seconds": 1.0,
        "max_delay_seconds": 60.0,
        "max_attempts": 4,
        "lease_seconds": 30,
        "poll_interval_seconds": 0.05,
    }
    return OutboxSettings.model_validate({**base, **overrides})


async def _enqueue(
    sessions: async_sessionmaker[AsyncSession], *texts: str, to: str = "room-1", at=START
) -> None:
    async with sessions() as session, session.begin():
        for text in texts:
            await outbox.enqueue(session, "relay", OutgoingMessage(text, conversation_id=to), at)


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _dispatcher(sessions, sender, clock, **settings) -> OutboxDispatcher:  # type: ignore[no-untyped-def]
    return OutboxDispatcher(sessions, {sender.name: sender}, _settings(**settings), clock)


async def test_sends_with_idempotency_key_and_marks_sent(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    await _enqueue(sessions, "一通目", "二通目")
    await _dispatcher(sessions, sender, clock).drain(5)
    rows = await _rows(sessions)
    assert sender.texts == ["一通目", "二通目"]
    assert [key for key, _ in sender.sent] == [row.idempotency_key for row in rows]
    assert all(row.status == outbox.SENT and row.attempts == 1 for row in rows)
    assert rows[0].platform_message_id == "m1"


async def test_retryable_failure_backs_off_then_succeeds(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    sender.fail_next.append(DeliveryError("relay answered HTTP 503", retryable=True))
    await _enqueue(sessions, "お知らせ")
    dispatcher = _dispatcher(sessions, sender, clock)
    await dispatcher.drain(5)
    [row] = await _rows(sessions)
    assert row.status == outbox.PENDING and row.attempts == 1
    assert row.last_error == "relay answered HTTP 503"
    # Equal jitter on the first retry: between half the base delay and the base delay.
    wait = (row.next_attempt_at - START).total_seconds()
    assert 0.5 <= wait <= 1.0
    await dispatcher.drain(1)
    assert sender.texts == []  # not due yet
    clock.advance(seconds=1)
    await dispatcher.drain(5)
    [row] = await _rows(sessions)
    assert sender.texts == ["お知らせ"] and row.status == outbox.SENT and row.attempts == 2


async def test_retry_after_is_honoured_and_pauses_the_adapter(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    sender.fail_next.append(DeliveryError("HTTP 429", retryable=True, retry_after=30))
    await _enqueue(sessions, "A")
    await _enqueue(sessions, "B", to="room-2")
    dispatcher = _dispatcher(sessions, sender, clock, concurrency=1)
    await dispatcher.drain(5)
    rows = await _rows(sessions)
    assert rows[0].next_attempt_at == START.replace(second=30)
    assert sender.texts == []  # room-2 waits too: the whole adapter is rate-limited
    clock.advance(seconds=29)
    await dispatcher.drain(1)
    assert sender.texts == []
    clock.advance(seconds=2)
    await dispatcher.drain(5)
    assert sender.texts == ["A", "B"]


async def test_permanent_error_dead_letters_at_once_with_reason(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    sender.fail_next.append(DeliveryError("relay answered HTTP 403", retryable=False))
    await _enqueue(sessions, "X")
    await _dispatcher(sessions, sender, clock).drain(5)
    [row] = await _rows(sessions)
    assert row.status == outbox.DEAD and row.attempts == 1
    assert row.last_error == "relay answered HTTP 403"


async def test_dead_letter_after_max_attempts_keeps_last_error(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    for i in range(4):
        sender.fail_next.append(DeliveryError(f"HTTP 500 #{i + 1}", retryable=True))
    await _enqueue(sessions, "X")
    dispatcher = _dispatcher(sessions, sender, clock, max_attempts=4)
    for _ in range(4):
        await dispatcher.drain(5)
        clock.advance(seconds=120)
    [row] = await _rows(sessions)
    assert row.status == outbox.DEAD and row.attempts == 4
    assert row.last_error == "HTTP 500 #4"
    assert sender.attempts == 4


async def test_order_is_kept_per_conversation_not_across(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(), FrozenClock(START)
    sender.fail_next.append(DeliveryError("HTTP 500", retryable=True))
    await _enqueue(sessions, "room1-first", "room1-second")
    await _enqueue(sessions, "room2-only", to="room-2")
    dispatcher = _dispatcher(sessions, sender, clock, concurrency=1)
    await dispatcher.drain(5)
    assert sender.texts == ["room2-only"]  # room-1's second message waits behind its first
    clock.advance(seconds=5)
    await dispatcher.drain(5)
    assert sender.texts == ["room2-only", "room1-first", "room1-second"]


async def test_long_text_is_split_and_choices_numbered_without_buttons(sessions) -> None:  # type: ignore[no-untyped-def]
    sender, clock = RecordingSender(buttons=False, max_text=20), FrozenClock(START)
    message = OutgoingMessage(
        "行1\n" + "あ" * 15 + "\n" + "い" * 15,
        choices=(Choice("はい", "yes"), Choice("いいえ", "no")),
        conversation_id="room-1",
    )
    async with sessions() as session, session.begin():
        await outbox.enqueue(session, "relay", message, START)
    await _dispatcher(sessions, sender, clock).drain(5)
    keys = [key for key, _ in sender.sent]
    assert len(sender.sent) >= 2
    assert keys[1] == f"{keys[0]}-2"
    assert all(len(text) <= 20 for text in sender.texts)
    assert sender.texts[-1].endswith("1. はい\n2. いいえ")
    assert "".join(sender.texts).replace("\n", "").startswith("行1" + "あ" * 15)


async def test_crashed_send_is_retried_under_the_same_key(sessions, database_url) -> None:  # type: ignore[no-untyped-def]
    """A sender died after claiming: the lease runs out (or, on SQLite, start-up resets it)."""
    clock = FrozenClock(START)
    await _enqueue(sessions, "途中で落ちた")
    async with sessions() as session, session.begin():
        [claimed] = await outbox.claim_due(
            session, START, limit=10, lease=_lease(30), adapters=["relay"]
        )
        key = claimed.idempotency_key
    sender = RecordingSender()
    dispatcher = _dispatcher(sessions, sender, clock)
    await dispatcher.drain(1)
    assert sender.texts == []  # the lease is still held
    if database_url.startswith("sqlite"):
        await dispatcher.recover_sqlite()
    else:
        clock.advance(seconds=31)
    await dispatcher.drain(5)
    assert sender.sent[0][0] == key and sender.texts == ["途中で落ちた"]


def _lease(seconds: int):  # type: ignore[no-untyped-def]
    from datetime import timedelta

    return timedelta(seconds=seconds)


async def test_two_dispatchers_on_postgresql_send_each_row_once(postgres_url: str) -> None:
    from storage.engine import create_engine, session_factory
    from tests.conftest import truncate_all

    await truncate_all(postgres_url)
    engines = [create_engine(postgres_url) for _ in range(2)]
    sessions = [session_factory(e) for e in engines]
    try:
        async with sessions[0]() as session, session.begin():
            for i in range(300):
                message = OutgoingMessage(f"m{i}", conversation_id=f"room-{i % 40}")
                await outbox.enqueue(session, "relay", message, START)
        senders = [RecordingSender(), RecordingSender()]
        clock = FrozenClock(START)
        dispatchers = [
            OutboxDispatcher(s, {"relay": snd}, _settings(concurrency=8, batch_size=10), clock)
            for s, snd in zip(sessions, senders, strict=True)
        ]
        await asyncio.gather(*(d.drain(30) for d in dispatchers))
        keys = [key for snd in senders for key, _ in snd.sent]
        assert len(keys) == 300 and len(set(keys)) == 300
        assert all(snd.sent for snd in senders), "both processes took part"
        # Order per conversation held although two processes shared the work.
        by_room: dict[str, list[int]] = {}
        for snd in senders:
            for _, message in snd.sent:
                by_room.setdefault(message.conversation_id or "", []).append(int(message.text[1:]))
        async with sessions[0]() as session:
            sent = await session.scalar(
                select(func.count()).where(OutboxMessage.status == outbox.SENT)
            )
        assert sent == 300
        for numbers in by_room.values():
            assert len(numbers) == len(set(numbers))
    finally:
        for e in engines:
            await e.dispose()


@pytest.mark.parametrize("attempt", [1, 2, 3, 8, 20])
def test_backoff_grows_exponentially_within_jitter_and_cap(attempt: int) -> None:
    import random

    from bot.backoff import retry_delay

    rng = random.Random(attempt)
    delays = [retry_delay(attempt, base=1.0, cap=60.0, rng=rng) for _ in range(200)]
    ceiling = min(60.0, 2.0 ** (attempt - 1))
    assert all(ceiling / 2 <= d <= ceiling for d in delays)
    assert max(delays) - min(delays) > 0  # jittered
    assert retry_delay(attempt, base=1.0, cap=60.0, retry_after=7) == 7


async def test_deliveries_finishing_together_are_recorded_in_one_commit(  # type: ignore[no-untyped-def]
    sessions, engine
) -> None:
    """Sends that finish while a commit runs share the next one; each row is 'sent' with
    its own platform message id."""
    from sqlalchemy import event

    commits: list[int] = []
    event.listen(engine.sync_engine, "commit", lambda conn: commits.append(1))
    sender, clock = RecordingSender(), FrozenClock(START)
    for n in range(16):
        await _enqueue(sessions, f"通知{n}", to=f"room-{n}")
    commits.clear()
    await _dispatcher(sessions, sender, clock, concurrency=16).drain(5)
    rows = await _rows(sessions)
    assert all(row.status == outbox.SENT for row in rows)
    assert len({row.platform_message_id for row in rows}) == len(rows) == 16
    # One claim, then the records: one commit per delivery would be 17.
    assert len(commits) <= 4, commits


async def test_a_delivery_recorded_late_does_not_overwrite_a_newer_claim(sessions) -> None:  # type: ignore[no-untyped-def]
    """finish_sent is fenced by the attempt number, like finish."""
    await _enqueue(sessions, "こんにちは")
    async with sessions() as session, session.begin():
        [row] = await outbox.claim_due(
            session, START, limit=1, lease=timedelta(seconds=1), adapters=["relay"]
        )
        first_attempt = row.attempts
    later = START + timedelta(seconds=5)  # the lease ran out; another sender took the row
    async with sessions() as session, session.begin():
        [row] = await outbox.claim_due(
            session, later, limit=1, lease=timedelta(seconds=30), adapters=["relay"]
        )
    async with sessions() as session, session.begin():
        await outbox.finish_sent(session, [(row.id, first_attempt, "stale")], later)
    [stored] = await _rows(sessions)
    assert stored.status == outbox.SENDING and stored.attempts == first_attempt + 1
    async with sessions() as session, session.begin():
        await outbox.finish_sent(session, [(row.id, first_attempt + 1, "fresh")], later)
    [stored] = await _rows(sessions)
    assert stored.status == outbox.SENT and stored.platform_message_id == "fresh"


async def test_a_record_that_fails_unexpectedly_never_holds_its_send_slot(  # type: ignore[no-untyped-def]
    sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whatever the record commit raises, the senders waiting on it go on: a slot held
    forever would, one failure at a time, stop sending altogether."""
    from bot.recorder import SentRecorder

    async def claim_nothing(session: object, *, freeing: int = 0) -> Callable[[bool], None]:
        return lambda committed: None

    recorder = SentRecorder(sessions, FrozenClock(START), claim_nothing)

    async def broken(batch: object) -> None:
        raise RuntimeError("a bug, not a database error")

    monkeypatch.setattr(recorder, "_commit", broken)
    await asyncio.wait_for(recorder.record((1, 1, "m1")), 5)
    await recorder.stop()
    assert not recorder.waiting()


async def test_on_postgresql_a_claim_walks_the_live_rows_index_instead_of_a_bitmap(
    database_url: str, engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """A bitmap scan never marks the index entries of dead row versions, so between vacuums
    every claim visited every message sent since the last one; an index scan of the live
    rows marks them as it passes. The setting lasts only for the claiming transaction."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite keeps no dead row versions in its indexes")
    await _enqueue(sessions, "one", "two")
    due = outbox._DUE.params(now=START, adapters=["relay"], limit=32)
    plan_sql = str(
        due.compile(
            dialect=postgresql.dialect(),
            compile_kwargs={"literal_binds": True, "render_postcompile": True},
        )
    )
    async with engine.connect() as conn:  # one connection throughout: the check after commit
        async with AsyncSession(bind=conn) as session, session.begin():
            claimed = await outbox.claim_due(
                session, START, limit=32, lease=timedelta(seconds=60), adapters=["relay"]
            )
            during = await session.scalar(text("SHOW enable_bitmapscan"))
            # Two rows: a sequential scan would be cheapest; what matters is no bitmap.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(await session.scalars(text(f"EXPLAIN {plan_sql}")))
        after = await conn.scalar(text("SHOW enable_bitmapscan"))
        await conn.rollback()
    assert [row.adapter for row in claimed] == ["relay"]  # one per conversation: "one"
    assert (during, after) == ("off", "on")
    assert "Index Scan using ix_outbox_live" in plan and "Bitmap" not in plan


async def test_drain_sends_what_a_delivery_recorded_during_its_claim_unblocked(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A conversation's next message is claimed with the record of the one before; while
    drain's own claim is under way that claim is skipped and only a notice is left. Drain must
    heed the notice, not return with the next message unsent (it made a harness test flaky on
    PostgreSQL). On SQLite a record cannot commit during a claim: there is one connection."""
    from storage.engine import create_engine, session_factory
    from tests.conftest import truncate_all
    from tests.waiting import eventually

    await truncate_all(postgres_url)
    engine = create_engine(postgres_url)
    sessions = session_factory(engine)
    gate = asyncio.Event()

    class GatedSender(RecordingSender):
        async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
            await gate.wait()
            return await super().send(message, idempotency_key)

    sender = GatedSender()
    dispatcher = _dispatcher(sessions, sender, FrozenClock(START))
    real_claim = outbox.claim_due
    first = [True]

    async def claim_open_during_the_record(*args: Any, **kwargs: Any) -> list[outbox.Claimed]:
        rows = await real_claim(*args, **kwargs)  # the first is leased, unsent: nothing due
        if first and first.pop():
            gate.set()  # the first is sent and recorded while this claim is still open
            await eventually(lambda: sender.texts == ["一通目"] and not dispatcher._inflight)
        return rows

    try:
        await _enqueue(sessions, "一通目", "二通目")
        assert await dispatcher.claim_and_start() == 1  # the first is on its way, held
        monkeypatch.setattr(outbox, "claim_due", claim_open_during_the_record)
        await dispatcher.drain(5)
        assert sender.texts == ["一通目", "二通目"]
    finally:
        await engine.dispose()
