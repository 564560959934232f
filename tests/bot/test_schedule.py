"""The scheduler: a late catch-up run still runs; shutdown lets a running job finish, and cuts
off one that overstays its grace without an error in the log."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot import schedule
from bot.schedule import Scheduler


async def test_a_catch_up_run_that_starts_late_still_runs() -> None:
    """A first start migrates between adding the jobs and starting them: over a second here,
    which APScheduler's default would count as a missed run and skip."""
    ran = asyncio.Event()

    async def job() -> None:
        ran.set()

    scheduler = Scheduler("Asia/Tokyo")
    scheduler.every(3600, job, "digests.post", now=True)
    await asyncio.sleep(1.2)
    scheduler.start()
    try:
        await asyncio.wait_for(ran.wait(), 5)
    finally:
        await scheduler.stop(grace=1)


async def test_stop_lets_a_running_job_finish(caplog: pytest.LogCaptureFixture) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()

    scheduler = Scheduler("Asia/Tokyo")
    scheduler.every(3600, job, "duties.remind", now=True)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await scheduler.stop(grace=5)
    assert finished.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


async def test_a_job_past_the_grace_is_cut_off_quietly(caplog: pytest.LogCaptureFixture) -> None:
    """No "job raised an exception" traceback at shutdown: the job's transaction rolls back
    and the next start runs it again."""
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def job() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    caplog.set_level(logging.INFO)
    scheduler = Scheduler("Asia/Tokyo")
    scheduler.every(3600, job, "digests.post", now=True)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    await asyncio.wait_for(scheduler.stop(grace=0.05), 5)
    assert cancelled.is_set()
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("digests.post stopped at shutdown" in r.getMessage() for r in caplog.records)


async def test_a_run_submitted_as_stop_begins_is_waited_for() -> None:
    """The catch-up runs start with the scheduler: a stop in that same moment still lets them
    finish before it returns (the engine goes away after it)."""
    events: list[str] = []

    async def job() -> None:
        events.append("started")
        await asyncio.sleep(0.05)
        events.append("finished")

    scheduler = Scheduler("Asia/Tokyo")
    scheduler.every(3600, job, "duties.remind", now=True)
    scheduler.start()
    await asyncio.sleep(0)  # the scheduler submits the run; its task has not stepped yet
    await scheduler.stop(grace=5)
    events.append("stopped")
    assert events == ["started", "finished", "stopped"]


async def test_stop_is_bounded_when_a_cut_off_job_cannot_roll_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A rollback on a dead connection may never end; shutdown goes on without it."""
    monkeypatch.setattr(schedule, "CANCEL_GRACE", 0.1)
    started = asyncio.Event()
    hung = asyncio.Event()  # never set: the database does not answer

    async def job() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.shield(asyncio.ensure_future(hung.wait()))  # a rollback that hangs

    scheduler = Scheduler("Asia/Tokyo")
    scheduler.every(3600, job, "digests.post", now=True)
    scheduler.start()
    await asyncio.wait_for(started.wait(), 5)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await asyncio.wait_for(scheduler.stop(grace=0.1), 5)
    assert loop.time() - began < 2
