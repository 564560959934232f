"""Group commit on the ack path, batched handling, and the backlog bound."""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.request

import pytest
from sqlalchemy import func, select, text, update

from bot import inbox, outbox, worker
from bot.app import App
from bot.context import Context
from bot.dispatcher import OutboxDispatcher
from bot.runtime import Runtime
from handlers import register as register_features
from storage.models import InboxEvent, OutboxMessage
from tests.builders import encode, make_event, relay_payload, signed_headers
from tests.edge import edge
from tests.harness import harness
from tests.waiting import eventually


async def _statuses(sessions) -> dict[str, str]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = await session.execute(select(InboxEvent.event_id, InboxEvent.status))
        return {event_id: status for event_id, status in rows}


async def test_concurrent_requests_share_commits_and_each_is_stored_once(
    database_url: str,
) -> None:
    """60 requests at once, each event twice: 60 new, 60 duplicates, 60 rows, 60 replies."""
    async with edge(database_url) as bot:
        payloads = [relay_payload(text="ヘルプ", user=f"U{n}", event_id=f"e{n}") for n in range(60)]
        replies = await asyncio.gather(*(bot.post(p) for p in payloads + payloads))
        rows = await bot.inbox()
        await bot.settle()
    assert all(r.status == 200 for r in replies)
    assert sum(1 for r in replies if r.body.get("duplicate")) == 60
    assert sorted(r.event_id for r in rows) == sorted(f"e{n}" for n in range(60))
    texts = [d.body["text"] for d in bot.platform.deliveries]
    assert len(texts) == 60 and all("できること" in t for t in texts)


async def test_one_failing_event_in_a_batch_spoils_nothing_else(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch is rolled back and redone one by one: the bad event alone fails (with an
    apology), every other event is handled once and its reply sent once."""
    monkeypatch.setattr(worker, "BATCH_SECONDS", 60.0)  # all 8 in one batch, however slow
    calls: list[str] = []

    def flaky(app: App) -> None:
        register_features(app)

        @app.message(r"^n(\d+)$")
        async def listener(ctx: Context) -> None:
            calls.append(ctx.matches[0])
            await ctx.say(f"ok {ctx.matches[0]}")
            if ctx.matches[0] == "3":
                raise RuntimeError("a bug in one listener")

    async with harness(database_url, register=flaky) as bot:
        for n in range(8):
            await bot.runtime.accept(make_event(f"n{n}", user=f"U{n}", event_id=f"e{n}"))
        handled = await bot.runtime.worker.handle_batch()
        left = await bot.runtime.worker.handle_pending()
        await bot.runtime.dispatcher.drain(5)
        statuses = await _statuses(bot.runtime.sessions)
    assert (handled, left) == (4, 4)  # the batch stopped at the bad event; the rest waited
    assert statuses == {f"e{n}": inbox.FAILED if n == 3 else inbox.DONE for n in range(8)}
    texts = sorted(bot.sender.texts)
    assert [t for t in texts if t.startswith("ok")] == sorted(f"ok {n}" for n in range(8) if n != 3)
    assert sum(1 for t in texts if not t.startswith("ok")) == 1  # the apology
    # 0-3 ran in the rolled-back batch, then alone; 4-7 only in the next batch
    assert [calls.count(str(n)) for n in range(8)] == [2, 2, 2, 2, 1, 1, 1, 1]


async def test_a_stored_payload_that_does_not_parse_fails_alone(database_url: str) -> None:
    """Claims carry the payload as text and parse it only when its turn comes: a row that no
    longer parses (here rewritten in the table) is marked failed, with no one to apologise
    to, and the events around it are handled and answered."""
    async with harness(database_url) as bot:
        for n in range(5):
            await bot.runtime.accept(make_event("ヘルプ", user=f"U{n}", event_id=f"e{n}"))
        async with bot.runtime.sessions() as session, session.begin():
            await session.execute(
                update(InboxEvent).where(InboxEvent.event_id == "e2").values(payload={"x": 1})
            )
        handled = await bot.runtime.worker.handle_pending()
        statuses = await _statuses(bot.runtime.sessions)
        async with bot.runtime.sessions() as session:
            keys = set((await session.scalars(select(OutboxMessage.conversation_key))).all())
    assert handled == 5
    assert statuses == {f"e{n}": inbox.FAILED if n == 2 else inbox.DONE for n in range(5)}
    assert {key.rsplit("-", 1)[-1] for key in keys} == {"U0", "U1", "U3", "U4"}


async def test_a_batch_takes_one_event_per_person_so_order_holds(database_url: str) -> None:
    seen: list[str] = []

    def record(app: App) -> None:
        @app.message(r"^n(\d+)$")
        async def listener(ctx: Context) -> None:
            seen.append(ctx.matches[0])

    async with harness(database_url, register=record) as bot:
        for n in range(5):
            await bot.runtime.accept(make_event(f"n{n}", user="U1"))
        first_batch = await bot.runtime.worker.handle_batch()
        rest = await bot.runtime.worker.handle_pending()
    assert first_batch == 1 and rest == 4
    assert seen == ["0", "1", "2", "3", "4"]


async def test_full_backlog_is_refused_with_503_and_nothing_is_lost(database_url: str) -> None:
    """Past ``max_backlog`` pending events, a request gets 503 + Retry-After and is not
    stored; once the worker catches up the same request is accepted and answered."""
    async with edge(database_url, inbox={"max_backlog": 3}) as bot:
        payloads = [relay_payload(text="ヘルプ", user=f"U{n}", event_id=f"e{n}") for n in range(4)]
        accepted = [await bot.post(p) for p in payloads[:3]]
        refused = await bot.post(payloads[3])
        stored = len(await bot.inbox())
        await bot.settle()
        retried = await bot.post(payloads[3])
        await bot.settle()
        async with bot.runtime.sessions() as session:
            replies = await session.scalar(select(func.count()).select_from(OutboxMessage))
    assert [r.status for r in accepted] == [200, 200, 200]
    assert refused.status == 503 and refused.body["error"] == "busy"
    assert refused.headers["Retry-After"] == "5"
    assert stored == 3
    assert retried.status == 200 and retried.body == {"ok": True}
    assert replies == 4


async def test_a_request_arriving_mid_batch_cuts_the_batch_short(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Handling holds the loop between its awaits (SQLite runs on the loop's thread), yet a
    request sent by another process during a long batch is read, the batch ends after its
    shortest turn, and the request is acked; the rest of the batch waits for the next one.
    (On PostgreSQL the ack has connections of its own and need not wait for the batch.)"""
    if not database_url.startswith("sqlite"):
        pytest.skip("on PostgreSQL the intake has connections of its own")
    monkeypatch.setattr(worker, "BATCH_SECONDS", 60.0)  # only the waiting ack may end it
    first_event = threading.Event()
    acked: list[int] = []

    def slow(app: App) -> None:
        @app.message(r"^n(\d+)$")
        async def listener(ctx: Context) -> None:
            first_event.set()
            time.sleep(0.001)  # noqa: ASYNC251 - blocks the loop, as an inline statement does

    async with edge(database_url, register=slow) as bot:
        for n in range(30):
            await bot.runtime.accept(make_event(f"n{n}", user=f"U{n}", event_id=f"e{n}"))
        raw = encode(relay_payload(text="ヘルプ", user="late", event_id="late"))
        request = urllib.request.Request(
            str(bot.client.make_url("/hooks/relay")), data=raw, headers=signed_headers(raw)
        )

        def another_process() -> None:
            first_event.wait(10)
            with urllib.request.urlopen(request, timeout=10) as response:
                acked.append(response.status)

        sender = threading.Thread(target=another_process)
        sender.start()
        taken = await bot.runtime.worker.handle_batch()
        await asyncio.to_thread(sender.join)
        statuses = await _statuses(bot.runtime.sessions)
    assert acked == [200]
    assert 1 <= taken < 30
    assert statuses["late"] == inbox.PENDING
    assert sum(1 for s in statuses.values() if s == inbox.PENDING) == 30 - taken + 1


async def test_requests_acked_just_before_handling_write_their_answers_first(
    database_url: str,
) -> None:
    """A commit that ends resumes its requests, but they still have to write their answers.
    Handling that started at once held the loop (SQLite's statements never yield it), and those
    answers waited for the whole turn: the worst of the 1-connection probe's latencies."""
    async with harness(database_url) as bot:
        loop = asyncio.get_running_loop()
        committed: asyncio.Future[bool] = loop.create_future()
        answers: list[str] = []

        async def request() -> None:
            await committed  # the request waits for its ack, as ``Intake.store`` does
            answers.append("200")  # then answers in the same step

        task = asyncio.create_task(request())
        await asyncio.sleep(0)
        committed.set_result(True)  # the group commit acks it; nothing else is waiting
        await bot.runtime.intake.acks_first()
        handling_may_start = list(answers)
        await task
    assert handling_may_start == ["200"]


async def test_a_batch_yields_to_the_dispatcher_waiting_for_sqlites_one_connection(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A backlog handled in full-length turns left sending one claim per turn, and replies fell
    far behind: once a claim waits for the connection, the batch ends after its shortest turn."""
    if not database_url.startswith("sqlite"):
        pytest.skip("on PostgreSQL the dispatcher has a connection of its own")
    monkeypatch.setattr(worker, "BATCH_SECONDS", 60.0)
    claims: list[asyncio.Task[int]] = []
    runtimes: list[Runtime] = []

    def slow(app: App) -> None:
        @app.message(r"^n(\d+)$")
        async def listener(ctx: Context) -> None:
            if not claims:  # as if a reply were due: the dispatcher asks for the connection
                dispatcher = runtimes[0].dispatcher
                claims.append(asyncio.create_task(dispatcher.claim_and_start()))
            time.sleep(0.001)  # noqa: ASYNC251 - blocks the loop, as an inline statement does

    async with harness(database_url, register=slow) as bot:
        runtimes.append(bot.runtime)
        for n in range(30):
            await bot.runtime.accept(make_event(f"n{n}", user=f"U{n}", event_id=f"e{n}"))
        taken = await bot.runtime.worker.handle_batch()
        await claims[0]
        rest = await bot.runtime.worker.handle_pending()
    assert 1 <= taken < 30 and taken + rest == 30


async def test_with_a_backlog_a_batch_handles_a_share_of_its_claim_before_yielding(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Turns cut at their shortest held a step or two each under steady arrivals, and their
    fixed cost capped the sustained rate below the arrivals: a turn now handles at least a
    sixth of what it claimed, and at least ``BATCH_MIN_EVENTS``, however early others start
    waiting, and then yields."""
    monkeypatch.setattr(worker, "BATCH_MIN_SECONDS", 0.0)  # only the share keeps it going
    monkeypatch.setattr(worker, "BATCH_SECONDS", 60.0)
    async with harness(database_url) as bot:
        monkeypatch.setattr(bot.runtime.worker, "_others_waiting", lambda: True)
        for n in range(30):
            await bot.runtime.accept(make_event("ヘルプ", user=f"U{n}", event_id=f"e{n}"))
        first = await bot.runtime.worker.handle_batch()
        for n in range(3):
            await bot.runtime.accept(make_event("ヘルプ", user=f"V{n}", event_id=f"v{n}"))
        turns = [first]
        while taken := await bot.runtime.worker.handle_batch():
            turns.append(taken)
        statuses = await _statuses(bot.runtime.sessions)
    expected, left = [], 28  # each claim takes every person's next event, so all that wait
    while left:
        expected.append(min(left, max(worker.BATCH_MIN_EVENTS, left // worker.BACKLOG_SHARE)))
        left -= expected[-1]
    assert first == max(worker.BATCH_MIN_EVENTS, 30 // worker.BACKLOG_SHARE)
    assert turns[1:] == expected  # [4, 4, …]: a sixth of a claim, and never under 4 events
    assert all(s == inbox.DONE for s in statuses.values())


async def test_a_turn_that_took_everything_waits_to_be_woken_not_for_an_empty_claim(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A short claim handled in full is the whole backlog: the worker does not claim again
    (an empty transaction that kept the reply's sender waiting) until a new event wakes it.
    A person's second message, held back behind their first, is taken at once, not at the
    next poll."""
    claims: list[int] = []
    claim_batch = inbox.claim_batch

    async def counted(session, limit):  # type: ignore[no-untyped-def]
        rows = await claim_batch(session, limit)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(inbox, "claim_batch", counted)
    async with harness(database_url, inbox={"poll_interval_seconds": 60}) as bot:

        async def all_done() -> bool:
            statuses = await _statuses(bot.runtime.sessions)
            return all(s == inbox.DONE for s in statuses.values())

        await bot.runtime.accept(make_event("ヘルプ", user="U1", event_id="a1"))
        await bot.runtime.accept(make_event("ヘルプ", user="U1", event_id="a2"))  # behind a1
        loop = asyncio.create_task(bot.runtime.worker.run())
        try:
            await eventually(all_done, seconds=10)
            await asyncio.sleep(0.2)
            after_two = list(claims)
            await bot.runtime.accept(make_event("ヘルプ", user="U2", event_id="b1"))
            await eventually(all_done, seconds=10)
            await asyncio.sleep(0.2)
        finally:
            await bot.runtime.worker.stop()
            await loop
    assert after_two == [1, 1]  # a1 alone (a2 waits for it), then a2; no empty look after
    assert claims == [1, 1, 1]  # woken by b1's arrival: one claim, and nothing after it


async def test_replies_are_claimed_in_the_transactions_that_write_and_record_them(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A handling turn leases the replies it wrote, and the record of a delivery leases what
    that delivery unblocked (the conversation's next message): no reply waits for a claim
    transaction of its own, and none is claimed twice."""
    own_claims: list[int] = []
    claim_and_start = OutboxDispatcher._claim_and_start

    async def counted(self: OutboxDispatcher) -> tuple[int, int]:
        result = await claim_and_start(self)
        own_claims.append(result[0])
        return result

    monkeypatch.setattr(OutboxDispatcher, "_claim_and_start", counted)
    async with harness(database_url) as bot:
        await bot.runtime.accept(make_event("課題を報告", user="U1", event_id="a1"))
        await bot.runtime.worker.handle_pending()  # the dispatcher's own loop is not running

        async def both_recorded() -> bool:  # a send ends before its record commits
            async with bot.runtime.sessions() as session:
                statuses = list(await session.scalars(select(OutboxMessage.status)))
            return statuses == [outbox.SENT, outbox.SENT]

        await eventually(both_recorded, seconds=10)
    assert own_claims == []
    assert len({key for key, _ in bot.sender.sent}) == 2  # two messages, each sent once
    assert bot.sender.texts[1].startswith("(1/")  # the intro, then the first question


async def test_a_reply_waiting_for_a_send_slot_is_claimed_when_one_frees_up(
    database_url: str,
) -> None:
    """With every send slot taken, a turn claims nothing: the dispatcher's own loop is woken
    and sends the reply once a slot frees up (not at the poll: it is a minute here)."""
    settings = {"concurrency": 1, "poll_interval_seconds": 60}
    async with harness(database_url, outbox=settings) as bot:
        release = asyncio.Event()
        send, calls = bot.sender.send, 0

        async def slow_first(message, key):  # type: ignore[no-untyped-def]
            nonlocal calls
            calls += 1
            if calls == 1:
                await release.wait()
            return await send(message, key)

        bot.sender.send = slow_first  # type: ignore[method-assign]
        loop = asyncio.create_task(bot.runtime.dispatcher.run())
        try:
            await bot.runtime.accept(make_event("ヘルプ", user="U1", event_id="a1"))
            await bot.runtime.worker.handle_pending()  # its reply takes the one slot, and hangs
            await bot.runtime.accept(make_event("ヘルプ", user="U2", event_id="b1"))
            await bot.runtime.worker.handle_pending()  # no slot: nothing claimed in the turn
            async with bot.runtime.sessions() as session:
                statuses = select(OutboxMessage.status).order_by(OutboxMessage.id)
                waiting = list(await session.scalars(statuses))
            release.set()

            async def both_sent() -> bool:
                return len(bot.sender.sent) == 2

            await eventually(both_sent, seconds=10)
        finally:
            await bot.runtime.dispatcher.stop()
            await loop
    assert waiting == [outbox.SENDING, outbox.PENDING]
    assert [m.conversation_id for _, m in bot.sender.sent] == ["dm-U1", "dm-U2"]


async def test_a_claim_that_fails_undoes_neither_the_handling_nor_the_record_it_rides_on(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim runs in a savepoint: when it fails (on PostgreSQL a failed statement aborts
    the whole transaction) the event stays handled, once, and a delivery stays recorded, so
    nothing is sent twice; the dispatcher's loop claims instead."""
    claim_due, calls, runs = outbox.claim_due, 0, 0

    async def first_two_fail(session, now, **kw):  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        if calls <= 2:  # the turn's claim, then the claim with the first reply's record
            await session.execute(text("SELECT no_such_column FROM outbox"))
        return await claim_due(session, now, **kw)

    def two_replies(app: App) -> None:
        @app.message(r"^go$")
        async def listener(ctx: Context) -> None:
            nonlocal runs
            runs += 1
            await ctx.say("first")
            await ctx.say("second")  # due once "first" is sent: claimed with its record

    monkeypatch.setattr(outbox, "claim_due", first_two_fail)
    async with harness(database_url, register=two_replies) as bot:
        loop = asyncio.create_task(bot.runtime.dispatcher.run())
        try:
            await bot.runtime.accept(make_event("go", user="U1", event_id="a1"))
            await bot.runtime.worker.handle_pending()

            async def both_sent() -> bool:
                return len(bot.sender.sent) >= 2

            await eventually(both_sent, seconds=10)
            await asyncio.sleep(0.3)
        finally:
            await bot.runtime.dispatcher.stop()
            await loop
        statuses = await _statuses(bot.runtime.sessions)
        async with bot.runtime.sessions() as session:
            sent = list(await session.scalars(select(OutboxMessage.status)))
    assert calls > 2  # the loop's own claims took over
    assert runs == 1 and statuses == {"a1": inbox.DONE}
    assert sent == [outbox.SENT, outbox.SENT]
    assert bot.sender.texts == ["first", "second"]  # each once, in order
