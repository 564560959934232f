"""The inbox worker: handles stored events one transaction each, exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
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


class InboxWorker:
    """Takes pending events in order and runs the App on each.

    The listener's state changes, its outbox rows and the event's ``done`` mark commit
    together: a crash before the commit leaves the event pending, to be handled again
    from scratch; after it, nothing is handled twice.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        app: App,
        settings: InboxSettings,
        clock: Clock,
        on_replies: Callable[[], None] = lambda: None,
        observe: Callable[[float], None] = lambda seconds: None,
    ) -> None:
        self._sessions = sessions
        self._app = app
        self._settings = settings
        self._clock = clock
        self._on_replies = on_replies
        self._observe = observe
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._idle = asyncio.Event()
        self._idle.set()

    def notify(self) -> None:
        self._wakeup.set()

    async def run(self) -> None:
        delay = 0.0
        while not self._stopping:
            try:
                handled = await self.handle_next()
                delay = 0.0
            except (DBAPIError, OSError) as exc:
                delay = min(max(delay * 2, 0.1), 5.0)
                log.warning("inbox unavailable (%s); retrying in %.1fs", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                continue
            if not handled:
                await self._wait_for_work()

    async def _wait_for_work(self) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), self._settings.poll_interval_seconds)
        self._wakeup.clear()

    async def handle_pending(self) -> int:
        """Handle everything pending now (tests and start-up catch-up); returns the count."""
        count = 0
        while await self.handle_next():
            count += 1
        return count

    async def handle_next(self) -> bool:
        """Handle the next pending event, if any. Returns whether one was taken."""
        self._idle.clear()
        try:
            return await self._handle_next()
        finally:
            self._idle.set()

    async def _handle_next(self) -> bool:
        row_id: int | None = None
        event: Event | None = None
        try:
            async with self._sessions() as session, session.begin():
                row = await inbox.claim_next(session)
                if row is None:
                    return False
                row_id = row.id
                event = Event.from_json(row.payload)
                started = time.perf_counter()
                with event_context(event.adapter, event.event_id):
                    await self._app.dispatch(event, session)
                self._observe(time.perf_counter() - started)
                row.status = inbox.DONE
                row.handled_at = self._clock.now()
        except (DBAPIError, OSError, StaleDataError) as exc:
            # StaleDataError: a form changed under us (optimistic version check); try again.
            if row_id is None:
                raise  # the database itself is unreachable: the run loop backs off
            await self._count_failure(row_id, event, exc)
        except Exception as exc:
            if row_id is None:
                raise
            log.exception("listener failed for inbox row %s", row_id)
            await self._give_up(row_id, event, exc)
        self._on_replies()
        return True

    async def _count_failure(self, row_id: int, event: Event | None, exc: Exception) -> None:
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

    async def _give_up(self, row_id: int, event: Event | None, exc: Exception) -> None:
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
        outbox.enqueue(session, event.adapter, message, self._clock.now())

    async def stop(self) -> None:
        """Finish the event in hand, then stop."""
        self._stopping = True
        self._wakeup.set()
        await self._idle.wait()


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]
