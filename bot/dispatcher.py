"""The outbox dispatcher: sends committed replies, paced per platform, retries, dead-letters.

Pacing: each adapter with a rate limit (``[outbox] rate_limits``) gets a token bucket a little
below the platform's limit, and the dispatcher claims only what that bucket lets it send
before it would look again, so claimed rows never wait out their lease. A 429 with
Retry-After is the platform's pacing, not a failure: the adapter pauses, its bucket slows,
and the row goes back uncounted, so a burst never dead-letters anything.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.adapters.base import DeliveryError, Sender
from bot.backoff import retry_delay
from bot.clock import Clock
from bot.messages import OutgoingMessage
from bot.pacing import Pacer
from bot.recorder import SentRecorder
from bot.render import fit
from config.settings import OutboxSettings
from storage.models import OutboxMessage

log = logging.getLogger(__name__)

LEASE_SHARE = 0.5  # a row waiting for a send slot is given back past this part of its lease
# While sends are in flight, claim again only once this share of the slots (a quarter) is free:
# a paced adapter's sends finish one by one, and a claim for each cost a transaction per send.
REFILL_SHARE = 4

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Claim:
    row: outbox.Claimed
    give_back_after: float  # timestamp: past it, a row still waiting for a slot goes back


@dataclass(frozen=True, slots=True)
class _Plan:
    now: datetime
    free: int  # send slots a claim may fill
    unpaced: list[str]  # adapters without a rate limit
    paced: list[tuple[str, int]]  # adapters with one, and what their bucket allows now
    give_back_after: float


class _GiveBack(Exception):
    """No send slot in time (or stopping): the row goes back, due at ``due``."""

    def __init__(self, due: float) -> None:
        super().__init__(due)
        self.due = due


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
        sleep: Sleep = asyncio.sleep,
        acks_first: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._sessions = sessions
        self._senders = senders
        self._settings = settings
        self._clock = clock
        self._rng = rng or random.Random()
        self._on_failure = on_failure
        self._sleep = sleep  # tests pass one that moves a FrozenClock instead of waiting
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        start = clock.now().timestamp()
        self._pacers = {
            name: Pacer(settings.rate_limit(name), start, settings.max_delay_seconds)
            for name in senders
        }
        self._stopping = False
        self._recorder = SentRecorder(sessions, clock, self.claim_in, acks_first)
        self._claiming = False
        self._missed = False  # a claim was skipped while another was under way
        self._reserved = 0  # rows claimed in a transaction not yet ended (``claim_in``)
        self._acks_first = acks_first

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
            if self._acks_first is not None:
                await self._acks_first()  # sending is background work, like handling
            try:
                claimed, asked = await self._claim_and_start()
            except (SQLAlchemyError, OSError) as exc:
                log.warning("outbox claim failed, will retry: %s", type(exc).__name__)
                claimed = asked = 0
            # Fewer rows than asked for: nothing else is due now, and a look at once would be
            # an empty transaction ahead of the next handling turn. A claim that asked for
            # nothing was short of send slots (or pace): a finished send may free one. A new
            # reply, a failed send or the poll wakes this loop; a conversation's next message,
            # due once the one before it is sent, is claimed with the record of that send.
            if claimed == 0 or claimed < asked:
                await self._wait_for_work(on_sends=asked == 0)

    @property
    def _horizon(self) -> float:
        """How far ahead a paced adapter's rows are claimed: until the next look."""
        return min(self._settings.poll_interval_seconds, self._settings.lease_seconds / 4)

    async def claim_and_start(self) -> int:
        """Claim what fits in the free send slots and the adapters' pace; start sending it.
        Returns how many rows were claimed."""
        return (await self._claim_and_start())[0]

    async def _claim_and_start(self) -> tuple[int, int]:
        """``claim_and_start``, returning the rows claimed and the rows asked for."""
        plan = self._plan()
        if plan is None:
            return 0, 0
        self._wakeup.clear()  # the claim sees every row committed so far
        self._claiming = True
        try:
            async with self._sessions() as session, session.begin():
                rows, asked = await self._claim(session, plan)
        finally:
            self._claiming = False
            self._missed = False  # a claim_in skipped meanwhile wakes this loop itself
        self._start(rows, plan.give_back_after)
        return len(rows), asked

    async def claim_in(self, session: AsyncSession, *, freeing: int = 0) -> outbox.HandOver:
        """Claim due rows in the caller's transaction: the handling turn that wrote the
        replies leases them itself, and saves their claim a transaction of its own (on SQLite
        a ``BEGIN IMMEDIATE`` and a disk flush per turn, ahead of the reply's send).
        ``freeing``: send slots the caller is about to give back (deliveries it records).

        The caller must call the returned hand-over once its transaction has ended: committed,
        it starts the sends; rolled back, the rows were never leased. Either way it wakes this
        dispatcher when the claim may have left something due. The claim never raises, and
        runs in a savepoint on PostgreSQL (``outbox.guarded``): its failure must not undo the
        work it rides on (a handled event, or the record of a delivery, which would then be
        sent twice); the loop claims instead.
        """
        plan = self._plan(freeing)
        if plan is None:
            return self._wake_after
        self._claiming = True
        try:
            async with outbox.guarded(session):
                rows, asked = await self._claim(session, plan)
        except (SQLAlchemyError, OSError) as exc:
            log.warning("outbox claim in a transaction failed: %s", type(exc).__name__)
            return self._wake_after
        finally:
            self._claiming = False
        missed, self._missed = self._missed, False
        self._reserved += len(rows)
        for row in rows:  # a paced adapter's bucket counts them from now, not from the commit
            self._pacers[row.adapter].waiting.add(row.id)

        def hand_over(committed: bool) -> None:
            self._reserved -= len(rows)
            if committed:
                self._start(rows, plan.give_back_after)
            else:
                for row in rows:
                    self._pacers[row.adapter].waiting.discard(row.id)
            if not committed or missed or len(rows) >= asked:
                self.notify()  # more may be due than this claim took, or it never counted

        return hand_over

    def _wake_after(self, committed: bool) -> None:
        self.notify()

    def _plan(self, freeing: int = 0) -> _Plan | None:
        """What a claim now may take: the free send slots and each adapter's pace. None when
        there is nothing to claim for, or another claim is under way (it is told to look
        again when it ends)."""
        if self._claiming:
            self._missed = True
            return None
        busy = max(0, len(self._inflight) + self._reserved - freeing)
        free = min(self._settings.concurrency - busy, self._settings.batch_size)
        refill = self._settings.concurrency // REFILL_SHARE
        if self._stopping or free <= 0 or (busy and free < refill):
            return None  # a claim for each slot that frees up cost a transaction per send
        now = self._clock.now()
        stamp = now.timestamp()
        unpaced: list[str] = []
        paced: list[tuple[str, int]] = []
        for name, pacer in self._pacers.items():
            allowance = pacer.allowance(stamp, self._horizon)
            if allowance is None:
                unpaced.append(name)
            elif allowance > 0:
                paced.append((name, allowance))
        if not unpaced and not paced:
            return None
        return _Plan(now, free, unpaced, paced, stamp + self._settings.lease_seconds * LEASE_SHARE)

    async def _claim(self, session: AsyncSession, plan: _Plan) -> tuple[list[outbox.Claimed], int]:
        """Lease the rows ``plan`` allows in ``session``; the rows and how many were asked for."""
        lease = timedelta(seconds=self._settings.lease_seconds)
        rows: list[outbox.Claimed] = []
        asked = 0
        for names, limit in [*(([n], a) for n, a in plan.paced), (plan.unpaced, plan.free)]:
            limit = min(limit, plan.free - len(rows))
            if names and limit > 0:
                asked += limit
                rows += await outbox.claim_due(
                    session, plan.now, limit=limit, lease=lease, adapters=names
                )
        return rows, asked

    def _start(self, rows: list[outbox.Claimed], give_back_after: float) -> None:
        """Send each row in a task of its own (``stop`` waits for those started meanwhile)."""
        for row in rows:
            self._pacers[row.adapter].waiting.add(row.id)
            task = asyncio.create_task(self._deliver(_Claim(row, give_back_after)))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)

    def waiting(self) -> bool:
        """Whether sending waits for the database: a claim, or deliveries to record."""
        return self._claiming or self._recorder.waiting()

    async def _wait_for_work(self, on_sends: bool = True) -> None:
        """Until notified or the poll; with ``on_sends``, also until a send in flight ends."""
        waiter = asyncio.create_task(self._wakeup.wait())
        try:
            await asyncio.wait(
                {waiter, *(self._inflight if on_sends else ())},
                timeout=self._settings.poll_interval_seconds,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            waiter.cancel()
        self._wakeup.clear()

    async def _deliver(self, claim: _Claim) -> None:
        adapter = claim.row.adapter
        try:
            message_id = await self._send(claim, OutgoingMessage.from_json(claim.row.payload))
        except _GiveBack as back:
            await self._release(claim, datetime.fromtimestamp(back.due, UTC))
        except DeliveryError as exc:
            await self._record_failure(claim, exc)
        except Exception as exc:  # a bug in an adapter must not kill the dispatcher
            log.exception("adapter %s raised while sending outbox row %s", adapter, claim.row.id)
            await self._record_failure(claim, DeliveryError(repr(exc), retryable=True))
        else:
            self._pacers[adapter].delivered()
            # Its transaction claims what is due next, this conversation's next message too.
            await self._recorder.record((claim.row.id, claim.row.attempts, message_id))
            return
        finally:
            self._pacers[adapter].waiting.discard(claim.row.id)
        self._wakeup.set()  # the conversation's next message may be due now

    async def _send(self, claim: _Claim, message: OutgoingMessage) -> str | None:
        sender = self._senders[claim.row.adapter]
        parts = fit(message, sender.capabilities)
        key = claim.row.idempotency_key
        first_id: str | None = None
        for index, part in enumerate(parts):
            await self._turn(claim)
            part_key = key if index == 0 else f"{key}-{index + 1}"
            ref = await sender.send(part, part_key)
            first_id = first_id or ref.message_id
        return first_id

    async def _turn(self, claim: _Claim) -> None:
        """Wait for the adapter's next send slot and take it.

        Raises ``_GiveBack`` instead of waiting past the row's ``give_back_after`` (a long
        429 pause) or while stopping, so no lease runs out on a row that was never sent.
        """
        pacer = self._pacers[claim.row.adapter]
        async with pacer.lock:
            while True:
                now = self._clock.now().timestamp()
                delay = pacer.wait(now)
                if delay <= 0:
                    pacer.take(now)
                    pacer.waiting.discard(claim.row.id)
                    return
                if self._stopping or now + delay > claim.give_back_after:
                    raise _GiveBack(now + delay)
                await self._nap(delay)

    async def _nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if the dispatcher is stopped meanwhile."""
        sleeper = asyncio.ensure_future(self._sleep(seconds))
        stopper = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            stopper.cancel()

    async def _record_failure(self, claim: _Claim, error: DeliveryError) -> None:
        row_id, attempt, adapter = claim.row.id, claim.row.attempts, claim.row.adapter
        self._on_failure(adapter, error.retryable)
        if error.retry_after is not None:
            # The platform's pacing, not a failure: pause, slow down, and try again uncounted.
            pause = min(error.retry_after, self._settings.max_delay_seconds)
            now = self._clock.now()
            self._pacers[adapter].limited(now.timestamp(), pause)
            log.info("outbox row %s: %s; %s paused %.1fs", row_id, error.reason, adapter, pause)
            await self._release(claim, now + timedelta(seconds=pause), error=error.reason)
            return
        if not error.retryable or attempt >= self._settings.max_attempts:
            log.error(
                "outbox row %s dead-lettered after %s tries: %s", row_id, attempt, error.reason
            )
            await self._record(claim, status=outbox.DEAD, error=error.reason)
            return
        delay = retry_delay(
            attempt,
            base=self._settings.base_delay_seconds,
            cap=self._settings.max_delay_seconds,
            rng=self._rng,
        )
        log.warning(
            "outbox row %s try %s failed (%s); next in %.1fs", row_id, attempt, error.reason, delay
        )
        await self._record(
            claim,
            status=outbox.PENDING,
            error=error.reason,
            next_attempt_at=self._clock.now() + timedelta(seconds=delay),
        )

    async def _release(
        self, claim: _Claim, next_attempt_at: datetime, error: str | None = None
    ) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await outbox.release(
                    session,
                    claim.row.id,
                    claim.row.attempts,
                    next_attempt_at=next_attempt_at,
                    error=error,
                )
        except (SQLAlchemyError, OSError) as exc:
            # The lease runs out and the row is claimed again: counted once too often, no loss.
            log.warning("could not give back outbox row %s: %s", claim.row.id, type(exc).__name__)

    async def _record(
        self,
        claim: _Claim,
        *,
        status: str,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        try:
            async with self._sessions() as session, session.begin():
                await outbox.finish(
                    session,
                    claim.row.id,
                    claim.row.attempts,
                    status=status,
                    error=error,
                    next_attempt_at=next_attempt_at,
                )
        except (SQLAlchemyError, OSError) as exc:
            # The lease runs out and the row is tried again under the same idempotency key.
            log.warning("could not record outbox row %s: %s", claim.row.id, type(exc).__name__)

    @property
    def busy(self) -> bool:
        return bool(self._inflight)

    async def drain(self, timeout: float) -> None:  # noqa: ASYNC109 - a budget, not a cancel
        """Keep sending until nothing is due and nothing is in flight, for at most ``timeout``.

        A paced adapter that is only short of tokens is waited for; one paused by a 429 is not.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            claimed = await self.claim_and_start()
            if claimed == 0 and not self._inflight:
                if self._claiming or self._reserved:  # a claim under way starts its sends soon
                    await asyncio.sleep(min(0.01, max(0.0, deadline - loop.time())))
                    continue
                if self._wakeup.is_set():  # noticed since the claim began: a record that
                    self._wakeup.clear()  # committed meanwhile (its own claim was skipped)
                    continue  # may have unblocked a conversation's next message

                refill = self._next_token()
                if refill is None:
                    return
                await self._nap(min(refill, max(0.0, deadline - loop.time())))
                continue
            pending = set(self._inflight)
            if pending:
                await asyncio.wait(
                    pending,
                    timeout=max(0.0, deadline - loop.time()),
                    return_when=asyncio.FIRST_COMPLETED,
                )

    def _next_token(self) -> float | None:
        """Seconds until a paced adapter that is short of tokens (not paused) has one."""
        now = self._clock.now().timestamp()
        waits = [
            pacer.wait(now)
            for pacer in self._pacers.values()
            if pacer.rate is not None
            and now >= pacer.blocked_until
            and pacer.allowance(now, self._horizon) == 0
        ]
        return min(waits) if waits else None

    async def stop(self, grace: float = 2.0) -> None:
        """Stop claiming; rows waiting for a send slot go back; give sends in flight ``grace``
        seconds, then abandon them.

        An abandoned row keeps its lease and is sent again later under the same
        idempotency key, so the platform shows it once.
        """
        self._stopping = True
        self._stopped.set()
        self._wakeup.set()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            # A claim that began before the stop (a record's, a batch's) may start sends
            # while its commit ends: they are waited for (or abandoned) too.
            await self._recorder.stop()
            if not self._inflight:
                return
            _, late = await asyncio.wait(
                set(self._inflight), timeout=max(0.0, deadline - loop.time())
            )
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
