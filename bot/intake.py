"""Group commit for the ack path: the events of concurrent requests share one transaction.

A request is acknowledged only once its event is committed to the inbox. Committing once per
request caps a process at one fsync (SQLite) or one WAL flush (PostgreSQL) per request; here
the requests that arrive while a commit is in progress wait for the next one, which stores
them all. Nobody waits on a timer: one request alone is committed at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from bot import inbox
from bot.clock import Clock
from bot.events import Event
from bot.inbox_writer import writer_for

MAX_BATCH = 128  # events per transaction; bounds one statement's size and one commit's wait
RECOUNT_SECONDS = 1.0
MAX_FLUSHERS = 4  # PostgreSQL: commits in flight at once
QUIET = 0.002  # seconds without a request before handling starts
MAX_DEFER = 0.025  # the longest handling is held back while requests keep coming
_LOOP_TURNS_TO_ANSWER = 2  # an acked request's task resumes, then writes its answer


class BacklogFull(Exception):
    """More events are pending than this process may hold; the platform should retry later."""


@dataclass
class _Waiting:
    event: Event
    done: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Intake:
    """Stores inbound events durably, many requests per commit, and counts the backlog."""

    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        max_backlog: int = 0,
        command_timeout: float | None = None,
    ) -> None:
        self._engine = engine
        self._clock = clock
        # SQLite has one connection (and one write lock): one commit at a time. PostgreSQL
        # flushes concurrent commits together, so a few commits may be in flight at once.
        self._writer = writer_for(engine, MAX_FLUSHERS, command_timeout)
        self._max_backlog = max_backlog
        self.on_stored: Callable[[], None] = lambda: None  # wakes the worker
        self._queue: list[_Waiting] = []
        self._flushers: set[asyncio.Task[None]] = set()
        self._last_request = 0.0
        # Pending events as this process sees them: + what it stores, - what its worker
        # handles; re-counted from the database when it nears the bound.
        self.backlog = 0
        self._counted_at = -RECOUNT_SECONDS

    async def acks_first(self) -> None:
        """Hold back handling while requests are arriving, at most ``MAX_DEFER`` seconds.

        Returns once no request has reached the intake for ``QUIET`` seconds. Acks are what the
        platforms time (Slack retries after 3 s) and handling is throughput work behind a
        durable inbox, so under a flood the handler runs in bounded turns (see
        ``worker.BATCH_MIN_SECONDS``) after each ``MAX_DEFER`` and ``max_backlog`` takes over.
        """
        loop = asyncio.get_running_loop()
        give_up = loop.time() + MAX_DEFER
        while (now := loop.time()) < give_up:
            quiet_for = now - self._last_request
            if not self.waiting() and quiet_for >= QUIET:
                break
            await asyncio.sleep(min(QUIET, give_up - now))
        # A commit that just ended resumed its requests, but none has written its answer yet:
        # a handling turn starting now (SQLite's statements never yield the loop) held those
        # answers for the whole turn, the 1-connection probe's p99.
        for _ in range(_LOOP_TURNS_TO_ANSWER):
            await asyncio.sleep(0)

    def waiting(self) -> bool:
        """Whether a request is waiting for its commit right now."""
        return bool(self._queue) or bool(self._flushers)

    def handled(self, count: int) -> None:
        """The worker finished ``count`` events (of this or another process)."""
        self.backlog = max(0, self.backlog - count)

    async def store(self, event: Event) -> bool:
        """Commit the event to the inbox; True when it is new, False for a duplicate.

        Raises ``BacklogFull`` when the pending backlog is at its bound, and the database's
        ``DBAPIError``/``OSError`` when the commit fails: in both cases nothing is acked.
        """
        if await self._over_bound():
            raise BacklogFull(f"{self.backlog} events pending")
        waiting = _Waiting(event)
        self._queue.append(waiting)
        self._last_request = asyncio.get_running_loop().time()
        if len(self._flushers) < self._writer.concurrency:
            self._flushers.add(asyncio.create_task(self._flush(), name="inbox-intake"))
        return await waiting.done

    async def _over_bound(self) -> bool:
        """Whether the backlog is at its bound; near it, counted in the database (all
        processes' events, handled by any of them) at most once a second."""
        if not self._max_backlog or self.backlog < self._max_backlog:
            return False
        now = asyncio.get_running_loop().time()
        if now - self._counted_at >= RECOUNT_SECONDS:
            self._counted_at = now
            async with self._engine.begin() as conn:
                self.backlog = await inbox.count_pending(conn)
        return self.backlog >= self._max_backlog

    async def _flush(self) -> None:
        """Commit queued events batch by batch until the queue is empty."""
        batch: Sequence[_Waiting] = ()
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                await self._commit(batch)
                batch = ()
        except asyncio.CancelledError:
            for waiting in [*batch, *self._queue]:  # stopped mid-way: none is left hanging
                if not waiting.done.done():
                    waiting.done.set_exception(ConnectionError("intake stopped"))
            self._queue = []
            raise
        finally:
            # Leave the set in the same step as the empty-queue check: a request queued
            # after it starts a new flusher instead of waiting for this finished one.
            self._flushers.discard(asyncio.current_task())

    async def _commit(self, batch: Sequence[_Waiting]) -> None:
        first: dict[tuple[str, str], _Waiting] = {}
        for waiting in batch:
            first.setdefault((waiting.event.adapter, waiting.event.event_id), waiting)
        try:
            new = await self._writer.insert([w.event for w in first.values()], self._clock.now())
        except Exception as exc:  # every waiting request answers 503; none is acked
            for waiting in batch:
                if not waiting.done.done():
                    waiting.done.set_exception(exc)
            return
        for waiting in batch:
            key = (waiting.event.adapter, waiting.event.event_id)
            is_new = key in new and first[key] is waiting
            if not waiting.done.done():
                waiting.done.set_result(is_new)
        if new:
            self.backlog += len(new)
            self.on_stored()

    async def stop(self) -> None:
        """Let the commit in progress finish; requests still queued behind it fail."""
        if self._flushers:
            await asyncio.gather(*self._flushers, return_exceptions=True)
        await self._writer.close()
