"""In-process timing with APScheduler 3 (Asia/Tokyo), for work that is safe to repeat."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)

Job = Callable[[], Awaitable[object]]


class Scheduler:
    """A thin wrapper: jobs that fail are logged and tried at their next run."""

    def __init__(self, timezone: str) -> None:
        self._scheduler = AsyncIOScheduler(timezone=timezone)

    def every(self, seconds: float, job: Job, name: str, *, now: bool = False) -> None:
        """Run ``job`` every ``seconds``; ``now`` also runs it at start (catch-up)."""

        async def run() -> None:
            try:
                await job()
            except (DBAPIError, OSError) as exc:
                log.warning("scheduled job %s failed: %s", name, type(exc).__name__)

        first = {"next_run_time": datetime.now(UTC)} if now else {}
        self._scheduler.add_job(
            run, "interval", seconds=seconds, id=name, max_instances=1, coalesce=True, **first
        )

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
