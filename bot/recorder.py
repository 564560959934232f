"""Group commit of deliveries: the sends that finish while one commit runs share the next.

Recording each delivered message in its own transaction cost the dispatcher a commit (on
SQLite a disk flush, and the one connection) per message; under load that was more work than
the handling that produced the message. The same transaction claims what is due next (a
conversation's next message waits for the one before it to be sent), so a delivery is not
followed by a claim transaction of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.clock import Clock

log = logging.getLogger(__name__)

Sent = tuple[int, int, str | None]  # outbox row id, attempt, the platform's message id


class ClaimIn(Protocol):
    """Claims due rows in the given transaction, counting ``freeing`` send slots as free;
    its result is called once that transaction has ended, with whether it committed."""

    async def __call__(self, session: AsyncSession, *, freeing: int = 0) -> outbox.HandOver: ...


class SentRecorder:
    """Marks delivered outbox rows ``sent``, many per transaction."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        clock: Clock,
        claim_next: ClaimIn,
        acks_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._claim_next = claim_next
        self._acks_first = acks_first
        self._queue: list[tuple[Sent, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None

    def waiting(self) -> bool:
        """Whether deliveries wait to be recorded (their send slots stay taken until then)."""
        return bool(self._queue)

    async def record(self, sent: Sent) -> None:
        """Return once the delivery is recorded (or recording failed: then the lease runs out
        and the row is sent again under the same idempotency key)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((sent, done))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush(), name="outbox-recorder")
        await asyncio.shield(done)  # a cancelled sender must not cancel the others' commit

    async def _flush(self) -> None:
        try:
            while self._queue:
                if self._acks_first is not None:
                    await self._acks_first()  # recording is background work, like sending
                batch, self._queue = self._queue, []
                try:
                    await self._commit([sent for sent, _ in batch])
                except Exception:  # a bug: log it, and go on recording what queued meanwhile
                    log.exception("recording %s deliveries failed", len(batch))
                finally:  # whatever happened, no sender may wait forever (its slot with it)
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._flushing = None

    async def _commit(self, batch: list[Sent]) -> None:
        hand_over: outbox.HandOver | None = None
        committed = False
        try:
            async with self._sessions() as session, session.begin():
                await outbox.finish_sent(session, batch, self._clock.now())
                hand_over = await self._claim_next(session, freeing=len(batch))
            committed = True
        except (SQLAlchemyError, OSError) as exc:
            ids = ", ".join(str(row_id) for row_id, _, _ in batch[:10])
            log.warning(
                "could not record %s sent outbox rows (%s…): %s",
                len(batch),
                ids,
                type(exc).__name__,
            )
        finally:
            if hand_over is not None:
                hand_over(committed)

    async def stop(self) -> None:
        """Wait for the commit in progress (and what queued behind it)."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
