"""The inbox worker: handles stored events one transaction each, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import NamedTuple, Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot import inbox, outbox
from bot.app import App
from bot.clock import Clock
from bot.events import Event
from bot.logging import event_context
from bot.messages import OutgoingMessage
from config.settings import InboxSettings
from storage.models import InboxEvent, Staff

log = logging.getLogger(__name__)

# Wall-clock bounds of one batch. The longest bounds how long the write transaction (on
# SQLite, the database's one write lock) is held; past the shortest, a batch ends as soon as
# a request waits for its ack. With ``intake.MAX_DEFER`` this gives handling about a sixth
# of the time under a flood of requests, and all of it otherwise.
BATCH_MIN_SECONDS = 0.0025
BATCH_SECONDS = 0.05
_LOOP_TURNS_TO_READ_A_REQUEST = 3
# Past the shortest turn, a batch still handles this share of what it claimed, and at least
# ``BATCH_MIN_EVENTS``, before it yields: with a backlog, turns cut at 5 ms held a step or two
# each on a slow machine, and their fixed cost (claim, mark done, commit, a claim by the
# dispatcher) capped the sustained rate below the arrivals (200 form steps/s: answers seconds
# late); with small claims (steady arrivals near capacity, 300/s), turns cut at 2.5 ms did the
# same (p50 13 -> 49 ms) until they took 4 events. A claim is at most one event per person.
BACKLOG_SHARE = 6
BATCH_MIN_EVENTS = 4
# After a statement timed out: the wait itself paced the retries; this keeps them from
# spinning should a timeout ever come at once.
TIMEOUT_PAUSE_SECONDS = 0.05


class _Turn(NamedTuple):
    taken: int  # events handled
    more: bool  # whether events may still be pending: look again at once, not at the next wakeup


class Replies(Protocol):
    """Where the replies of a turn go (the outbox dispatcher)."""

    async def claim_in(self, session: AsyncSession) -> outbox.HandOver:
        """Lease due replies in the turn's transaction; call the result once it has ended,
        with whether it committed."""

    def notify(self) -> None:
        """Replies were committed outside a turn's own claim: look for them."""


class InboxWorker:
    """Takes pending events in order and runs the App on each.

    The listeners' state changes, their outbox rows and the events' ``done`` marks commit
    together, for a batch of events at a time (one commit for many): a crash before the
    commit leaves them pending, to be handled again from scratch; after it, nothing is
    handled twice. A batch that fails is rolled back and its events are redone one by one,
    so one bad event neither spoils nor holds back the others.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        app: App,
        settings: InboxSettings,
        clock: Clock,
        replies: Replies,
        observe: Callable[[float], None] = lambda seconds: None,
        *,
        acks_first: Callable[[], Awaitable[None]] | None = None,
        others_waiting: Callable[[], bool] = lambda: False,
        on_handled: Callable[[int], None] = lambda count: None,
    ) -> None:
        self._sessions = sessions
        self._app = app
        self._settings = settings
        self._clock = clock
        self._replies = replies
        self._observe = observe
        self._acks_first = acks_first
        self._others_waiting = others_waiting
        self._on_handled = on_handled
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def notify(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        delay = 0.0
        while not self._stopping:
            if self._acks_first is not None:
                await self._acks_first()
            try:
                turn = await self._turn()
                delay = 0.0
            except (SQLAlchemyError, OSError) as exc:
                delay = min(max(delay * 2, 0.1), 5.0)
                log.warning("inbox unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if not turn.more:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_interval_seconds)

    async def handle_pending(self) -> int:
        """Handle everything pending now (tests and start-up catch-up); returns the count."""
        count = 0
        while taken := await self.handle_batch():
            count += taken
        return count

    async def handle_batch(self) -> int:
        """Handle up to ``batch_size`` pending events in one transaction; returns the count."""
        return (await self._turn()).taken

    async def _turn(self) -> _Turn:
        self._idle.clear()
        try:
            turn = await self._handle_batch()
        finally:
            self._idle.set()
        if turn.taken:
            self._on_handled(turn.taken)
        return turn

    async def _handle_batch(self) -> _Turn:
        taken: list[inbox.Claimed] = []
        limit = self._settings.batch_size
        hand_over: outbox.HandOver | None = None
        # The claim sees every event stored so far: only a notice from now on means news.
        self._wakeup.clear()
        try:
            async with self._sessions() as session, session.begin():
                rows = await inbox.claim_batch(session, limit)
                started = time.perf_counter()
                for row in rows:
                    if taken and await self._turn_is_over(
                        time.perf_counter() - started, len(taken), len(rows)
                    ):
                        break  # the rest stay pending: acks and other work get their turn
                    taken.append(row)
                    await self._run_listeners(row.event(), session)
                await inbox.mark_done(session, [row.id for row in taken], self._clock.now())
                more = await _more_pending(session, len(rows), len(taken), limit)
                if outbox.wrote(session):
                    hand_over = await self._replies.claim_in(session)
        except Exception as exc:
            if hand_over is not None:
                hand_over(False)  # the commit failed: nothing was leased
            if not taken:
                raise  # the claim itself failed: the database is unreachable; the loop backs off
            await self._redo(taken, exc)
            return _Turn(len(taken), more=True)
        if hand_over is not None:
            hand_over(True)  # the replies' sends start now, with no claim of their own
        return _Turn(len(taken), more)

    async def _redo(self, taken: list[inbox.Claimed], exc: Exception) -> None:
        """After a failed batch: each event again in its own transaction (or given up)."""
        try:
            if len(taken) == 1:
                await self._failed(taken[0].id, _parse(taken[0]), exc)
            else:
                log.info(
                    "a batch of %s events failed (%s); redoing them one by one",
                    len(taken),
                    type(exc).__name__,
                )
                for row in taken:
                    await self._handle_one(row.id)
        finally:
            self._replies.notify()  # their replies and apologies, claimed by the dispatcher

    async def _turn_is_over(self, elapsed: float, handled: int, claimed: int) -> bool:
        """A batch runs at least ``BATCH_MIN_SECONDS`` and ``_share(claimed)`` events, then
        yields to others waiting for the database (acks; sending the replies), and never holds
        its transaction longer than ``BATCH_SECONDS``. On SQLite's one connection, a backlog
        handled in full-length turns left the dispatcher one claim per turn, and replies fell
        far behind the handling; an ack arriving in a turn waits for it (the shortest turn is
        most of the 1-connection probe's p99)."""
        if elapsed >= BATCH_SECONDS:
            return True
        if elapsed < BATCH_MIN_SECONDS or handled < _share(claimed):
            return False
        # SQLite statements run on the loop's thread and never yield it, so a request that
        # arrived meanwhile is still unread: let the loop read it and hand it to the intake
        # (the socket's callback, then the request's task) before asking.
        for _ in range(_LOOP_TURNS_TO_READ_A_REQUEST):
            await asyncio.sleep(0)
        return self._others_waiting()

    async def _handle_one(self, row_id: int) -> None:
        """Handle one event of a failed batch in its own transaction."""
        event: Event | None = None
        try:
            async with self._sessions() as session, session.begin():
                row = await inbox.claim_row(session, row_id)
                if row is None:
                    return  # handled meanwhile by another process
                event = row.event()
                await self._run_listeners(event, session)
                await inbox.mark_done(session, [row_id], self._clock.now())
        except Exception as exc:
            await self._failed(row_id, event, exc)

    async def _run_listeners(self, event: Event, session: AsyncSession) -> None:
        started = time.perf_counter()
        with event_context(event.adapter, event.event_id):
            await self._app.dispatch(event, session)
        self._observe(time.perf_counter() - started)

    async def _failed(self, row_id: int, event: Event | None, exc: BaseException) -> None:
        if isinstance(exc, TimeoutError):
            # The database did not answer within ``command_timeout_seconds`` (a lock held for
            # long, as by a migration beside running processes; a network gone quiet): nothing
            # is wrong with the event, so it stays pending, uncounted, and no one is told sorry.
            log.warning("inbox row %s: the database did not answer in time; it waits", row_id)
            await asyncio.sleep(TIMEOUT_PAUSE_SECONDS)
        elif isinstance(exc, DBAPIError | OSError | StaleDataError):
            # StaleDataError: a form changed under us (optimistic version check); try again.
            await self._count_failure(row_id, event, exc)
        else:
            log.error("listener failed for inbox row %s", row_id, exc_info=exc)
            await self._give_up(row_id, event, exc)

    async def _count_failure(self, row_id: int, event: Event | None, exc: BaseException) -> None:
        """A database error: try again later, up to ``max_attempts`` times."""
        async with self._sessions() as session, session.begin():
            row = await session.get(InboxEvent, row_id)
            if row is None or row.status != inbox.PENDING:
                return
            row.attempts += 1
            row.last_error = _describe(exc)
            attempts = row.attempts
        log.warning("inbox row %s failed on the database (try %s)", row_id, attempts)
        if attempts >= self._settings.max_attempts:
            await self._give_up(row_id, event, exc)
        else:
            await asyncio.sleep(0.05 * attempts)

    async def _give_up(self, row_id: int, event: Event | None, exc: BaseException) -> None:
        """Mark a failing event failed and apologise to the user, in one transaction."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(InboxEvent)
                .where(InboxEvent.id == row_id)
                .values(
                    status=inbox.FAILED,
                    attempts=InboxEvent.attempts + 1,
                    last_error=_describe(exc),
                    handled_at=self._clock.now(),
                )
            )
            if event is not None:
                await self._apologise(session, event)

    async def _apologise(self, session: AsyncSession, event: Event) -> None:
        locale = await session.scalar(
            select(Staff.locale).where(
                Staff.adapter == event.adapter, Staff.external_id == event.user.id
            )
        )
        text = self._app.catalog.t(locale or self._app.default_locale, "errors.internal")
        message = OutgoingMessage(text=text, conversation_id=event.conversation.id)
        await outbox.enqueue(session, event.adapter, message, self._clock.now())

    async def stop(self) -> None:
        """Finish the event in hand, then stop."""
        self._stopping = True
        self._wakeup.set()
        await self._idle.wait()


async def _more_pending(session: AsyncSession, claimed: int, handled: int, limit: int) -> bool:
    """Whether to look again at once after a turn, in its transaction. Not after an empty
    claim, nor after a short one handled in full unless events it could not take wait (a
    person's next message, behind the one just handled; another process's): that look was
    an empty transaction after nearly every turn, ahead of the dispatcher sending the reply.
    New events wake the worker anyway (``notify``)."""
    if claimed == 0:
        return False
    if handled < claimed or claimed >= limit:
        return True
    return await inbox.any_pending(session)


def _share(claimed: int) -> int:
    """How many of its ``claimed`` events a turn handles before it may yield."""
    return max(BATCH_MIN_EVENTS, claimed // BACKLOG_SHARE)


def _parse(row: inbox.Claimed) -> Event | None:
    try:
        return row.event()
    except Exception:  # a payload that does not parse: no one to apologise to
        return None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
