"""The outbox dispatcher: sends committed replies, retries, and dead-letters."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.adapters.base import DeliveryError, Sender
from bot.backoff import retry_delay
from bot.clock import Clock
from bot.messages import OutgoingMessage
from bot.render import fit
from config.settings import OutboxSettings
from storage.models import OutboxMessage

log = logging.getLogger(__name__)


class OutboxDispatcher:
    """Claims due outbox rows and sends each through its adapter, in order per conversation."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        senders: Mapping[str, Sender],
        settings: OutboxSettings,
        clock: Clock,
        rng: random.Random | None = None,
        on_failure: Callable[[str, bool], None] = lambda adapter, retryable: None,
    ) -> None:
        self._sessions = sessions
        self._senders = senders
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_failure = on_failure
        self._wakeup = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self._paused: dict[str, datetime] = {}
        self._stopping = False

    def notify(self) -> None:
        """New rows were committed: look now rather than at the next poll."""
        self._wakeup.set()

    async def recover_sqlite(self) -> None:
        """With SQLite there is one process, so rows left 'sending' by a crash are due now."""
        async with self._sessions() as session, session.begin():
            await session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.status == outbox.SENDING)
                .values(status=outbox.PENDING, lease_until=None, next_attempt_at=self._clock.now())
            )

    async def run(self) -> None:
        """Send until ``stop``; database trouble is logged and retried, never fatal."""
        while not self._stopping:
            try:
                claimed = await self.claim_and_start()
            except (DBAPIError, OSError) as exc:
                log.warning("outbox claim failed, will retry: %s", type(exc).__name__)
                claimed = 0
            if claimed == 0:
                await self._wait_for_work()

    async def claim_and_start(self) -> int:
        """Claim what fits in the free send slots and start sending it."""
        free = self._settings.concurrency - len(self._inflight)
        if free <= 0:
            return 0
        now = self._clock.now()
        ready = [name for name in self._senders if self._paused.get(name, now) <= now]
        async with self._sessions() as session, session.begin():
            rows = await outbox.claim_due(
                session,
                now,
                limit=min(free, self._settings.batch_size),
                lease=timedelta(seconds=self._settings.lease_seconds),
                adapters=ready,
            )
            claims = [
                (row.id, row.attempts, row.adapter, row.idempotency_key, row.payload)
                for row in rows
            ]
        for claim in claims:
            task = asyncio.create_task(self._deliver(*claim))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(claims)

    async def _wait_for_work(self) -> None:
        waiter = asyncio.create_task(self._wakeup.wait())
        try:
            await asyncio.wait(
                {waiter, *self._inflight},
                timeout=self._settings.poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        self._wakeup.clear()

    async def _deliver(
        self, row_id: int, attempt: int, adapter: str, key: str, payload: dict[str, object]
    ) -> None:
        try:
            message_id = await self._send(adapter, key, OutgoingMessage.from_json(payload))
        except DeliveryError as exc:
            await self._record_failure(row_id, attempt, adapter, exc)
        except Exception as exc:  # a bug in an adapter must not kill the dispatcher
            log.exception("adapter %s raised while sending outbox row %s", adapter, row_id)
            await self._record_failure(
                row_id, attempt, adapter, DeliveryError(repr(exc), retryable=True)
            )
        else:
            await self._record(row_id, attempt, status=outbox.SENT, message_id=message_id)
        self._wakeup.set()  # the conversation's next message may be due now

    async def _send(self, adapter: str, key: str, message: OutgoingMessage) -> str | None:
        sender = self._senders[adapter]
        parts = fit(message, sender.capabilities)
        first_id: str | None = None
        for index, part in enumerate(parts):
            part_key = key if index == 0 else f"{key}-{index + 1}"
            ref = await sender.send(part, part_key)
            first_id = first_id or ref.message_id
        return first_id

    async def _record_failure(
        self, row_id: int, attempt: int, adapter: str, error: DeliveryError
    ) -> None:
        self._on_failure(adapter, error.retryable)
        if error.retry_after is not None:
            pause = min(error.retry_after, self._settings.max_delay_seconds)
            self._paused[adapter] = self._clock.now() + timedelta(seconds=pause)
        if not error.retryable or attempt >= self._settings.max_attempts:
            log.error(
                "outbox row %s dead-lettered after %s tries: %s", row_id, attempt, error.reason
            )
            await self._record(row_id, attempt, status=outbox.DEAD, error=error.reason)
            return
        delay = retry_delay(
            attempt,
            base=self._settings.base_delay_seconds,
            cap=self._settings.max_delay_seconds,
            retry_after=error.retry_after,
            rng=self._rng,
        )
        log.warning(
            "outbox row %s try %s failed (%s); next in %.1fs", row_id, attempt, error.reason, delay
        )
        await self._record(
            row_id,
            attempt,
            status=outbox.PENDING,
            error=error.reason,
            next_attempt_at=self._clock.now() + timedelta(seconds=delay),
        )

    async def _record(
        self,
        row_id: int,
        attempt: int,
        *,
        status: str,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
        message_id: str | None = None,
    ) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await outbox.finish(
                    session,
                    row_id,
                    attempt,
                    status=status,
                    now=self._clock.now(),
                    error=error,
                    next_attempt_at=next_attempt_at,
                    platform_message_id=message_id,
                )
        except (DBAPIError, OSError) as exc:
            # The lease runs out and the row is tried again under the same idempotency key.
            log.warning("could not record outbox row %s: %s", row_id, type(exc).__name__)

    @property
    def busy(self) -> bool:
        return bool(self._inflight)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a budget, not a cancel
        """Keep sending until nothing is due and nothing is in flight, for at most ``timeout``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            claimed = await self.claim_and_start()
            if claimed == 0 and not self._inflight:
                return
            pending = set(self._inflight)
            if pending:
                await asyncio.wait(
                    pending,
                    timeout=max(0.0, deadline - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )

    async def stop(self, grace: float = 2.0) -> None:
        """Stop claiming; give sends in flight ``grace`` seconds, then abandon them.

        An abandoned row keeps its lease and is sent again later under the same
        idempotency key, so the platform shows it once.
        """
        self._stopping = True
        self._wakeup.set()
        if not self._inflight:
            return
        _, late = await asyncio.wait(set(self._inflight), timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)
