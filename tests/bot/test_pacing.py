"""Pacing of the outbox per platform, and 429s that slow it down without costing tries.

Time is virtual: the dispatcher's ``sleep`` moves the FrozenClock instead of waiting, so the
send times the fake platform records are exact and nothing here depends on the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.adapters.base import DeliveryError, SentRef
from bot.clock import FrozenClock
from bot.dispatcher import OutboxDispatcher
from bot.messages import OutgoingMessage
from bot.pacing import PACE, Pacer
from config.settings import OutboxSettings, RateLimitSettings, load_settings
from storage.models import OutboxMessage
from tests.fakes import RecordingSender

START = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


class TimedSender(RecordingSender):
    """Records when (on the dispatcher's clock) each delivered message reached the platform."""

    def __init__(self, clock: FrozenClock, name: str = "relay") -> None:
        super().__init__(name)
        self.clock = clock
        self.times: list[datetime] = []

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        ref = await super().send(message, idempotency_key)
        self.times.append(self.clock.now())
        return ref


def _virtual_sleep(clock: FrozenClock):  # type: ignore[no-untyped-def]
    async def sleep(seconds: float) -> None:
        clock.advance(seconds=seconds)
        await asyncio.sleep(0)

    return sleep


def _dispatcher(
    sessions: async_sessionmaker[AsyncSession],
    sender: TimedSender,
    *,
    per_minute: float,
    burst: int,
    virtual: bool = True,
    **overrides: object,
) -> OutboxDispatcher:
    settings = OutboxSettings.model_validate(
        {
            "base_delay_seconds": 1.0,
            "max_delay_seconds": 60.0,
            "max_attempts": 2,
            "lease_seconds": 30,
            "poll_interval_seconds": 0.05,
            "concurrency": 8,
            "rate_limits": {sender.name: {"per_minute": per_minute, "burst": burst}},
            **overrides,
        }
    )
    sleep = _virtual_sleep(sender.clock) if virtual else asyncio.sleep
    return OutboxDispatcher(sessions, {sender.name: sender}, settings, sender.clock, sleep=sleep)


async def _reminders(sessions: async_sessionmaker[AsyncSession], count: int) -> None:
    """``count`` reminders due now, each to its own person, as the reminder job enqueues them."""
    async with sessions() as session, session.begin():
        for n in range(count):
            message = OutgoingMessage(f"当番のお知らせ {n}", user_id=f"U{n:05d}")
            await outbox.enqueue(session, "relay", message, START)


async def _rows(sessions: async_sessionmaker[AsyncSession]) -> list[OutboxMessage]:
    async with sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _rejected_by_bucket(times: Sequence[datetime], per_minute: float, burst: int) -> int:
    """How many of these sends a strict token bucket at exactly the limit would refuse."""
    rate, tokens, last, refused = per_minute / 60, float(burst), times[0], 0
    for at in times:
        tokens = min(burst, tokens + (at - last).total_seconds() * rate)
        last = at
        if tokens >= 1 - 1e-9:
            tokens -= 1
        else:
            refused += 1
    return refused


async def test_sends_stay_within_the_platforms_bucket_at_close_to_its_rate(sessions) -> None:  # type: ignore[no-untyped-def]
    sender = TimedSender(FrozenClock(START))
    await _reminders(sessions, 80)
    await _dispatcher(sessions, sender, per_minute=120, burst=3).drain(30)
    assert len(sender.sent) == 80
    assert _rejected_by_bucket(sender.times, per_minute=120, burst=3) == 0
    # The burst less one kept in reserve goes at once; then a cautious start, speeding up
    # with each delivery to one every 1 / (2/s × PACE) seconds.
    assert sender.times[:2] == [START, START]
    gaps = [(b - a).total_seconds() for a, b in zip(sender.times, sender.times[1:], strict=False)]
    assert gaps[1] > gaps[-1]
    assert abs(gaps[-1] - 1 / (2 * PACE)) < 1e-3
    assert all(row.status == outbox.SENT and row.attempts == 1 for row in await _rows(sessions))


async def test_claims_only_what_the_pace_lets_it_send_before_its_next_look(sessions) -> None:  # type: ignore[no-untyped-def]
    sender = TimedSender(FrozenClock(START))
    await _reminders(sessions, 10)
    dispatcher = _dispatcher(sessions, sender, per_minute=60, burst=3)
    # 8 free slots and 10 rows due, but only the burst (3, one kept back) can go before the
    # next look.
    assert await dispatcher.claim_and_start() == 2
    assert await dispatcher.claim_and_start() == 0
    statuses = [row.status for row in await _rows(sessions)]
    assert statuses.count(outbox.PENDING) == 8  # the rest wait in the table, not under a lease
    await dispatcher.drain(30)
    assert len(sender.sent) == 10


async def test_rows_claimed_in_an_open_transaction_already_count_against_the_pace(  # type: ignore[no-untyped-def]
    sessions, database_url: str
) -> None:
    """A handling turn leases its replies before it commits; meanwhile (another connection,
    on PostgreSQL) the loop's own claim must find the bucket spent, or it claims rows that
    then wait for tokens and go back. A rolled-back claim gives its share of the bucket back."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite has one connection: no claim runs while a transaction is open")
    sender = TimedSender(FrozenClock(START))
    await _reminders(sessions, 10)
    dispatcher = _dispatcher(sessions, sender, per_minute=60, burst=3)
    async with sessions() as session, session.begin():
        hand_over = await dispatcher.claim_in(session)
        meanwhile = await dispatcher.claim_and_start()
    hand_over(True)
    await dispatcher.drain(30)
    sent_first = len(sender.sent)
    await _reminders(sessions, 4)
    sender.clock.advance(seconds=10)  # the bucket is full again
    async with sessions() as session:
        rolled_back = await dispatcher.claim_in(session)
        await session.rollback()
    rolled_back(False)
    again = await dispatcher.claim_and_start()
    await dispatcher.drain(30)
    assert meanwhile == 0
    assert sent_first == 10 and len({key for key, _ in sender.sent[:10]}) == 10
    assert again == 2  # the rolled-back claim holds no share of the bucket
    assert len(sender.sent) == 14


async def test_with_sends_in_flight_slots_are_refilled_a_quarter_at_a_time(  # type: ignore[no-untyped-def]
    sessions, monkeypatch
) -> None:
    """Paced sends finish one by one; claiming for each freed slot cost a transaction per send
    (at 100 sends/s the dispatcher took 83 % of a core, now 34 %)."""
    claims: list[int] = []
    claim_due = outbox.claim_due

    async def counted(*args, **kwargs):  # type: ignore[no-untyped-def]
        rows = await claim_due(*args, **kwargs)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim_due", counted)
    sender = TimedSender(FrozenClock(START))
    await _reminders(sessions, 40)
    dispatcher = _dispatcher(
        sessions, sender, per_minute=6000, burst=10, concurrency=32, poll_interval_seconds=1.0
    )
    loop = asyncio.get_running_loop()
    stuck = [loop.create_future() for _ in range(30)]  # sends that have not finished
    dispatcher._inflight.update(stuck)  # type: ignore[arg-type]
    assert await dispatcher.claim_and_start() == 0  # 2 slots free: not worth a transaction
    assert claims == []
    for task in stuck[:6]:
        dispatcher._inflight.discard(task)  # type: ignore[arg-type]
    assert await dispatcher.claim_and_start() == 8  # a quarter free: refilled together
    assert claims == [8]
    dispatcher._inflight.difference_update(stuck)
    await dispatcher.drain(30)
    assert len(sender.sent) == 40
    assert _rejected_by_bucket(sender.times, per_minute=6000, burst=10) == 0


async def test_429s_never_dead_letter_a_message(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock(START)
    sender = TimedSender(clock)
    for _ in range(5):  # more 429s than max_attempts (2)
        sender.fail_next.append(DeliveryError("HTTP 429", retryable=True, retry_after=1))
    await _reminders(sessions, 1)
    dispatcher = _dispatcher(sessions, sender, per_minute=60, burst=1)
    for _ in range(10):
        await dispatcher.drain(5)
        [row] = await _rows(sessions)
        if row.status != outbox.PENDING:
            break
        assert row.attempts == 0 and row.last_error == "HTTP 429"
        clock.advance(seconds=1)
    assert row.status == outbox.SENT and row.attempts == 1
    assert sender.attempts == 6 and sender.texts == ["当番のお知らせ 0"]


async def test_retry_after_pauses_the_adapter_then_it_goes_slower(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock(START)
    sender = TimedSender(clock)
    sender.fail_next.append(DeliveryError("HTTP 429", retryable=True, retry_after=10))
    await _reminders(sessions, 6)
    dispatcher = _dispatcher(sessions, sender, per_minute=60, burst=1)
    await dispatcher.drain(5)
    assert sender.sent == [] and sender.attempts == 1  # paused: nothing else was tried
    first = (await _rows(sessions))[0]
    assert first.status == outbox.PENDING and first.attempts == 0
    assert first.next_attempt_at == START + timedelta(seconds=10)
    clock.advance(seconds=10)
    await dispatcher.drain(30)
    assert sender.texts == [f"当番のお知らせ {n}" for n in range(6)]
    assert sender.times[0] == START + timedelta(seconds=10)  # not a moment before Retry-After
    gaps = [(b - a).total_seconds() for a, b in zip(sender.times, sender.times[1:], strict=False)]
    assert min(gaps) > 1 / PACE  # slower than before the 429 ...
    assert gaps[-1] < gaps[0]  # ... and speeding up again with each delivery


async def test_a_long_pause_gives_waiting_rows_back_before_their_lease_runs_out(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock(START)
    sender = TimedSender(clock)  # not paced: only the 429 holds it back
    sender.fail_next.append(DeliveryError("HTTP 429", retryable=True, retry_after=100))
    await _reminders(sessions, 2)
    settings = OutboxSettings(max_delay_seconds=300, lease_seconds=30, max_attempts=2)
    dispatcher = OutboxDispatcher(sessions, {"relay": sender}, settings, clock)
    assert await dispatcher.claim_and_start() == 2
    await dispatcher.drain(5)
    rows = await _rows(sessions)
    assert sender.attempts == 1  # the second never went out during the pause
    assert [(r.status, r.attempts) for r in rows] == [(outbox.PENDING, 0), (outbox.PENDING, 0)]
    assert all(r.next_attempt_at == START + timedelta(seconds=100) for r in rows)
    assert rows[1].last_error is None  # given back, not failed


async def test_stopping_gives_back_rows_still_waiting_for_their_turn(sessions) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock(START)
    sender = TimedSender(clock)
    await _reminders(sessions, 2)
    # One a minute; looking 100 s ahead, the second row is claimed to wait for its turn.
    dispatcher = _dispatcher(
        sessions,
        sender,
        per_minute=1,
        burst=1,
        virtual=False,
        poll_interval_seconds=100,
        lease_seconds=600,
    )
    assert await dispatcher.claim_and_start() == 2
    for _ in range(200):  # bounded: the first send needs only a few loop turns
        if sender.sent:
            break
        await asyncio.sleep(0.01)
    await dispatcher.stop(grace=5)
    rows = await _rows(sessions)
    assert [(r.status, r.attempts) for r in rows] == [(outbox.SENT, 1), (outbox.PENDING, 0)]


def test_pacer_survives_the_clock_being_set_back() -> None:
    pacer = Pacer(RateLimitSettings(per_minute=60, burst=1), now=1000.0, max_pause=300)
    pacer.take(1000.0)
    pacer.limited(1000.0, pause=30)
    assert pacer.wait(1010.0) == 20
    # An hour back: the pause is cut to at most max_pause from the new time, not an hour more.
    assert pacer.wait(1000.0 - 3600) <= 300
    assert pacer.wait(1000.0 - 3600 + 301) == 0


def test_lineworks_is_paced_by_default_and_a_listed_adapter_replaces_only_its_own() -> None:
    default = load_settings().outbox
    assert default.rate_limit("lineworks") == RateLimitSettings(per_minute=240, burst=4)
    assert default.rate_limit("relay") is None and default.rate_limit("slack") is None
    chosen = OutboxSettings.model_validate(
        {"rate_limits": {"relay": {"per_minute": 600, "burst": 10}}}
    )
    assert chosen.rate_limit("relay") == RateLimitSettings(per_minute=600, burst=10)
    assert chosen.rate_limit("lineworks") == RateLimitSettings(per_minute=240, burst=4)
    off = OutboxSettings.model_validate({"rate_limits": {"lineworks": {"per_minute": 0}}})
    assert off.rate_limit("lineworks") is None
