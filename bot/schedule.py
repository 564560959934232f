"""In-process timing with APScheduler 3 (Asia/Tokyo), for work that is safe to repeat."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]

# A run that starts late still runs (once: coalesced). APScheduler's default drops a run more
# than a second late, which a busy loop or a slow start (a first start migrates) easily is:
# the catch-up run at start was then skipped with a warning.
JOB_DEFAULTS = {"misfire_grace_time": None, "coalesce": True, "max_instances": 1}
CANCEL_GRACE = 1.0  # seconds a job cut off at shutdown gets to roll back


class Scheduler:
    """A thin wrapper: jobs that fail are logged and tried at their next run; ``stop`` lets a
    running job finish (within a grace period) before the database goes away."""

    def __init__(self, timezone: str) -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone, job_defaults=JOB_DEFAULTS)
        self._running: set[asyncio.Task[object]] = set()
        self._stopping = False

    def every(self, seconds: float, job: Job, name: str, *, now: bool = False) -> None:
        """Run ``job`` every ``seconds``; ``now`` also runs it at start (catch-up)."""

        async def run() -> None:
            task = asyncio.current_task()  # APScheduler runs each coroutine job as a task
            assert task is not None
            self._running.add(task)
            try:
                await job()
            except (DBAPIError, OSError) as exc:
                log.warning("scheduled job %s failed: %s", name, type(exc).__name__)
            except asyncio.CancelledError:
                if not self._stopping:
                    raise
                # Cut off at shutdown: its transaction rolled back and the next start runs it.
                log.info("scheduled job %s stopped at shutdown; it runs again at start", name)
            finally:
                self._running.discard(task)

        first = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(run, "interval", seconds=seconds, id=name, name=name, **first)

    def start(self) -> None:
        self._scheduler.start()

    async def stop(self, grace: float) -> None:
        """Start no more runs; wait up to ``grace`` seconds for those under way, then cut them
        off (each job is one transaction, safe to repeat). Bounded even when a cut-off job's
        rollback hangs on a dead connection: it is left behind after ``CANCEL_GRACE``."""
        self._stopping = True
        if not self._scheduler.running:
            return
        self._scheduler.pause()  # no new runs; shutting down would cancel those under way
        await asyncio.sleep(0)  # a run submitted in this turn takes its first step: it registers
        if self._running:
            await asyncio.wait(set(self._running), timeout=grace)
        for task in self._running:
            task.cancel()
        if self._running:
            await asyncio.wait(set(self._running), timeout=CANCEL_GRACE)
        self._scheduler.shutdown(wait=False)
