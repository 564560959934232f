"""The inbox worker: once-only handling, restarts, ordering, several processes."""

from __future__ import annotations

import asyncio
import gc
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from bot import inbox
from bot.app import App
from bot.clock import FrozenClock
from bot.context import Context
from bot.runtime import Runtime
from handlers import register as register_features
from storage.models import InboxEvent, OutboxMessage
from tests.builders import make_event
from tests.conftest import fast_settings, truncate_all
from tests.fakes import RecordingSender
from tests.harness import harness


async def _inbox(runtime: Runtime) -> list[InboxEvent]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(InboxEvent).order_by(InboxEvent.id)))


async def _outbox(runtime: Runtime) -> list[OutboxMessage]:
    async with runtime.sessions() as session:
        return list(await session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def _runtime(  # type: ignore[no-untyped-def]
    database_url: str, sender: RecordingSender, register=register_features, clock=None
) -> Runtime:
    return Runtime(
        fast_settings(database_url),
        register=register,
        clock=clock,
        webhooks={},
        senders={"relay": sender},
    )


async def test_duplicate_delivery_is_acknowledged_and_handled_once(database_url: str) -> None:
    async with harness(database_url) as bot:
        event = make_event("ヘルプ")
        first = await bot.runtime.accept(event)
        again = await bot.runtime.accept(event)
        await bot.settle()
        late_again = await bot.runtime.accept(event)
        await bot.settle()
        rows = await _inbox(bot.runtime)
        assert (first, again, late_again) == (True, False, False)
        assert len(rows) == 1 and rows[0].status == inbox.DONE
        assert len(bot.sender.sent) == 1


async def test_event_acked_before_a_crash_is_handled_once_after_restart(database_url: str) -> None:
    """The ack happened (event stored), then the process died before handling it."""
    first_sender = RecordingSender()
    crashed = _runtime(database_url, first_sender)
    await crashed.prepare()
    await crashed.accept(make_event("ヘルプ", event_id="before-crash"))
    await crashed.stop(flush_seconds=0)  # never handled: the worker was not running
    assert first_sender.sent == []

    sender = RecordingSender()
    restarted = _runtime(database_url, sender)
    await restarted.prepare()
    await restarted.start()
    try:
        for _ in range(100):
            if sender.sent:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        rows = await _inbox(restarted)
    finally:
        await restarted.stop()
    assert len(sender.sent) == 1 and "できること" in sender.texts[0]
    assert [r.status for r in rows] == [inbox.DONE]


# A killed transaction leaves its connection unreturned, as a real crash would.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
async def test_kill_during_handling_rolls_back_and_handles_once_later(database_url: str) -> None:
    """Killed mid-listener: nothing it wrote survives; the next process handles it once."""
    entered = asyncio.Event()
    release = asyncio.Event()

    def slow(app: App) -> None:
        @app.message(r"^slow$")
        async def listener(ctx: Context) -> None:
            await ctx.say("half-way")
            entered.set()
            await release.wait()

    sender = RecordingSender()
    dying = _runtime(database_url, sender, register=slow)
    await dying.prepare()
    await dying.accept(make_event("slow", event_id="killed"))
    task = asyncio.create_task(dying.worker.handle_batch())
    await asyncio.wait_for(entered.wait(), 5)
    task.cancel()  # the process dies here
    await asyncio.gather(task, return_exceptions=True)
    await dying.engine.dispose()
    await dying.intake.stop()  # its own PostgreSQL connections: the OS closes a dead process's
    if dying._sqlite_lock is not None:  # the OS drops a dead process's lock
        dying._sqlite_lock.release()
    gc.collect()

    release.set()
    next_sender = RecordingSender()
    restarted = _runtime(database_url, next_sender, register=slow)
    assert [r.status for r in await _inbox(restarted)] == [inbox.PENDING]
    assert await _outbox(restarted) == []
    await restarted.prepare()
    assert await restarted.worker.handle_pending() == 1
    await restarted.dispatcher.drain(5)
    assert await restarted.worker.handle_pending() == 0
    await restarted.stop(flush_seconds=0)
    assert next_sender.texts == ["half-way"]


async def test_reply_committed_but_unsent_is_sent_after_restart_exactly_once(
    database_url: str,
) -> None:
    """The turn committed its reply and started sending it, and the process died before the
    platform answered: the next process sends it once, under the same idempotency key."""
    sender = RecordingSender()
    before = _runtime(database_url, sender)
    await before.prepare()
    hang = asyncio.Event()

    async def never_answers(message, key):  # type: ignore[no-untyped-def]
        await hang.wait()

    sender.send = never_answers  # type: ignore[method-assign]
    await before.accept(make_event("ヘルプ"))
    await before.worker.handle_pending()  # the reply is committed, its send under way
    [leased] = await _outbox(before)
    await before.stop(flush_seconds=0)  # the send is abandoned: the row keeps its lease
    assert leased.status == "sending"

    after_sender = RecordingSender()
    # PostgreSQL waits for the lease to run out (SQLite recovers leases at start: one process).
    later = FrozenClock(datetime.now(UTC) + timedelta(seconds=60))
    after = _runtime(database_url, after_sender, clock=later)
    await after.prepare()
    await after.dispatcher.drain(5)
    await after.dispatcher.drain(1)
    rows = await _outbox(after)
    await after.stop(flush_seconds=0)
    assert len(after_sender.sent) == 1
    assert [r.status for r in rows] == ["sent"]
    assert after_sender.sent[0][0] == rows[0].idempotency_key


async def test_one_users_events_are_handled_in_arrival_order(database_url: str) -> None:
    seen: list[str] = []

    def record(app: App) -> None:
        @app.message(r"^n(\d+)$")
        async def listener(ctx: Context) -> None:
            seen.append(f"{ctx.event.user.id}:{ctx.matches[0]}")

    async with harness(database_url, register=record) as bot:
        for i in range(10):
            for user in ("U1", "U2"):
                await bot.runtime.accept(make_event(f"n{i}", user=user))
        await bot.settle()
    for user in ("U1", "U2"):
        mine = [int(s.split(":")[1]) for s in seen if s.startswith(user)]
        assert mine == list(range(10))


async def test_two_workers_on_postgresql_handle_each_event_once_in_order(
    postgres_url: str,
) -> None:
    """Two processes drain one inbox: no event twice, each user's events in order."""
    await truncate_all(postgres_url)
    seen: list[tuple[str, int, int]] = []

    def record_for(worker: int):  # type: ignore[no-untyped-def]
        def register(app: App) -> None:
            @app.message(r"^n(\d+)$")
            async def listener(ctx: Context) -> None:
                await asyncio.sleep(0.001)
                seen.append((ctx.event.user.id, int(ctx.matches[0]), worker))
                await ctx.say(f"ok {ctx.matches[0]}")

        return register

    runtimes = [_runtime(postgres_url, RecordingSender(), register=record_for(i)) for i in (1, 2)]
    for runtime in runtimes:
        await runtime.prepare()
    # More people than one batch holds, so the second worker finds claimable events.
    users = [f"U{i}" for i in range(40)]
    for n in range(5):
        for user in users:
            await runtimes[0].accept(make_event(f"n{n}", user=user))
    counts = await asyncio.gather(*(r.worker.handle_pending() for r in runtimes))
    counts = [c + await r.worker.handle_pending() for c, r in zip(counts, runtimes, strict=True)]
    outbox_rows = await _outbox(runtimes[0])
    for runtime in runtimes:
        await runtime.stop(flush_seconds=0)
    assert sum(counts) == 200 and len(seen) == 200
    assert len({(u, n) for u, n, _ in seen}) == 200
    assert all(c > 0 for c in counts), "both workers took part"
    for user in users:
        assert [n for u, n, _ in seen if u == user] == list(range(5))
    assert len(outbox_rows) == 200
