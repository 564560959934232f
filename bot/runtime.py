"""Wiring of one dxbot process: storage, App, adapters, inbox worker and outbox dispatcher."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Mapping
from contextlib import suppress
from functools import partial
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from bot import retention
from bot.adapters.base import Sender, WebhookAdapter
from bot.adapters.registry import platform_factories
from bot.adapters.relay import RelayAdapter
from bot.app import App
from bot.clock import Clock, SystemClock
from bot.dispatcher import OutboxDispatcher
from bot.events import Event
from bot.forms import idle
from bot.forms.definition import load_forms
from bot.forms.engine import FormEngine
from bot.i18n import Catalog
from bot.intake import Intake
from bot.jobs import Job, JobContext
from bot.metrics import Metrics
from bot.ratelimit import RateLimit
from bot.schedule import Scheduler
from bot.worker import InboxWorker
from config.settings import Settings
from storage import migrate
from storage.engine import create_engine, session_factory
from storage.sqlite_lock import SQLiteLock, database_path

log = logging.getLogger(__name__)

Register = Callable[[App], None]
DEFAULT_HANDLERS = "handlers:register"
STOP_GRACE = 5.0  # seconds each shutdown step may take before it is abandoned


class SchemaOutOfDate(RuntimeError):
    """The database schema is older than this version of dxbot."""


def load_register(spec: str = DEFAULT_HANDLERS) -> Register:
    """Import ``module:function`` that adds the features' listeners to an App."""
    module, _, name = spec.partition(":")
    register: Register = getattr(importlib.import_module(module), name or "register")
    return register


def webhooks_from_settings(settings: Settings) -> dict[str, WebhookAdapter]:
    """Every platform adapter whose settings enable it (see bot/adapters/*)."""
    found: dict[str, WebhookAdapter] = {}
    for make in (relay_from_settings, *platform_factories()):
        adapter = make(settings)
        if adapter is not None:
            found[adapter.name] = adapter
    return found


def relay_from_settings(settings: Settings) -> RelayAdapter | None:
    relay = settings.relay
    if not relay.enabled or relay.secret is None:
        return None
    previous = relay.previous_secret.get_secret_value() if relay.previous_secret else None
    return RelayAdapter(
        relay.secret.get_secret_value(),
        previous_secret=previous or None,
        outbound_url=relay.outbound_url,
        outbound_token=relay.outbound_token.get_secret_value() if relay.outbound_token else None,
        buttons=relay.buttons,
        tolerance_seconds=relay.timestamp_tolerance_seconds,
        send_timeout_seconds=relay.send_timeout_seconds,
    )


class Runtime:
    """Everything one process needs; ``start`` and ``stop`` bracket its life."""

    def __init__(
        self,
        settings: Settings,
        *,
        register: Register | None = None,
        clock: Clock | None = None,
        webhooks: Mapping[str, WebhookAdapter] | None = None,
        senders: Mapping[str, Sender] | None = None,
        catalog: Catalog | None = None,
    ) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.engine = create_engine(
            settings.database.url,
            pool_size=settings.database.pool_size,
            sqlite_synchronous=settings.database.sqlite_synchronous,
            command_timeout=settings.database.command_timeout_seconds,
        )
        self.sessions = session_factory(self.engine)
        self.catalog = catalog or Catalog.load(
            default=settings.locale.default, terms=settings.locale.terms()
        )
        self.app = App(
            self.catalog,
            clock=self.clock,
            default_locale=settings.locale.default,
            timezone=settings.locale.timezone,
            settings=settings,
        )
        limit = RateLimit(settings.inbox.user_rate_per_second, settings.inbox.user_burst)
        self.app.middleware(limit.middleware, first=True)  # before any database work
        self.forms = FormEngine(load_forms(site=settings.forms.directory))
        self.app.use_forms(self.forms)
        (register or load_register())(self.app)
        self.webhooks: dict[str, WebhookAdapter] = dict(webhooks or {})
        if webhooks is None:
            self.webhooks.update(webhooks_from_settings(settings))
        self.senders: dict[str, Sender] = {**self.webhooks, **(senders or {})}
        self.app.capabilities = {name: s.capabilities for name, s in self.senders.items()}
        self.metrics = Metrics()
        self.intake = Intake(
            self.engine,
            self.clock,
            max_backlog=settings.inbox.max_backlog,
            command_timeout=settings.database.command_timeout_seconds,
        )
        self.dispatcher = OutboxDispatcher(
            self.sessions,
            self.senders,
            settings.outbox,
            self.clock,
            on_failure=lambda adapter, retryable: self.metrics.delivery_failures.labels(
                adapter, str(retryable).lower()
            ).inc(),
            acks_first=self.intake.acks_first,
        )
        self.worker = InboxWorker(
            self.sessions,
            self.app,
            settings.inbox,
            self.clock,
            self.dispatcher,
            observe=self.metrics.handler_seconds.observe,
            acks_first=self.intake.acks_first,
            others_waiting=lambda: self.intake.waiting() or self.dispatcher.waiting(),
            on_handled=self.intake.handled,
        )
        self.intake.on_stored = self.worker.notify
        self._tasks: list[asyncio.Task[None]] = []
        self.scheduler = Scheduler(settings.locale.timezone)
        self.scheduler.every(settings.forms.sweep_interval_seconds, self.sweep_forms, "forms.sweep")
        self.scheduler.every(retention.EVERY_SECONDS, self.prune, "retention.prune")
        for job in self.app.jobs:
            self.scheduler.every(job.seconds, partial(self.run_job, job), job.name, now=True)
        self._sqlite_lock: SQLiteLock | None = None

    async def prepare(self) -> None:
        """Make sure the schema is current (migrating SQLite if allowed) and recover."""
        db = self.settings.database
        path = database_path(db.url) if db.is_sqlite else None
        if path is not None:
            self._sqlite_lock = SQLiteLock(path)
            self._sqlite_lock.acquire()
        if not await migrate.is_up_to_date(self.engine):
            if not (db.is_sqlite and db.auto_migrate_sqlite):
                current = await migrate.current_revision(self.engine)
                raise SchemaOutOfDate(
                    f"schema revision {current or 'none'} != {migrate.head_revision()}"
                )
            await self._migrate_sqlite(path)
        if db.is_sqlite:
            await self.dispatcher.recover_sqlite()

    async def _migrate_sqlite(self, path: Path | None) -> None:
        """A new database gets the head schema from the snapshot; an older one is migrated."""
        from storage import sqlite_schema  # SQLite only: it loads sqlite3

        head = migrate.head_revision()
        if await sqlite_schema.create_if_empty(self.engine):
            log.info("created the SQLite database's schema at %s", head)
            return
        log.info("migrating the SQLite database to %s", head)
        if path is None:  # in memory: only this process's connection sees it
            await migrate.upgrade(self.engine)
        else:  # a child, so that this long-lived process never loads Alembic
            await migrate.upgrade_in_child(self.settings.database.url)

    async def start(self) -> None:
        """Start handling; events left pending by a previous process are handled first."""
        self._tasks = [
            asyncio.create_task(self.worker.run(), name="inbox-worker"),
            asyncio.create_task(self.dispatcher.run(), name="outbox-dispatcher"),
        ]
        for task in self._tasks:
            task.add_done_callback(_report_death)
        self.scheduler.start()

    async def sweep_forms(self) -> tuple[int, int]:
        """Nudge idle forms and put long-idle ones aside as drafts."""
        result = await idle.sweep(
            self.sessions, self.forms.forms, self.catalog, self.clock, self.settings.forms
        )
        self.dispatcher.notify()
        return result

    async def prune(self) -> retention.Pruned:
        """Delete handled events, finished messages and finished forms past their
        ``keep_days``."""
        return await retention.prune(
            self.sessions,
            self.clock.now(),
            inbox_days=self.settings.inbox.keep_days,
            outbox_days=self.settings.outbox.keep_days,
            form_days=self.settings.forms.keep_days,
        )

    async def run_job(self, job: Job) -> None:
        """One run of a scheduled job, in one transaction; replies go out after it commits."""
        try:
            async with self.sessions() as session, session.begin():
                await job.run(JobContext(self.app, session, self.clock.now()))
        except Exception:
            self.metrics.job_misses.labels(job.name).inc()
            raise
        self.metrics.job_runs.labels(job.name).inc()
        self.dispatcher.notify()

    async def accept(self, event: Event) -> bool:
        """Store the event durably (committed with those of concurrent requests), then wake
        the worker. True if it was new.

        Raises ``DBAPIError``/``OSError`` when it cannot be stored and ``BacklogFull`` when
        too many events wait: the caller must not ack.
        """
        return await self.intake.store(event)

    async def _join_tasks(self, grace: float = 5.0) -> None:
        """Let the loops see the stop flag and leave cleanly; cancel what does not."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(self._tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def healthy(self) -> bool:
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except (DBAPIError, OSError):
            return False
        return True

    async def stop(self, flush_seconds: float | None = None) -> None:
        """Finish the event in hand and the jobs under way, flush due replies for a bounded
        time, release all."""
        await self.scheduler.stop(STOP_GRACE)
        with suppress(TimeoutError):
            await asyncio.wait_for(self.intake.stop(), STOP_GRACE)
        with suppress(TimeoutError):  # an event stuck on a dead connection is retried later
            await asyncio.wait_for(self.worker.stop(), STOP_GRACE)
        flush = flush_seconds
        if flush is None:
            flush = self.settings.outbox.shutdown_flush_seconds
        # Bounded even when the database hangs: the platform retries what is left unsent.
        with suppress(DBAPIError, OSError, TimeoutError):
            await asyncio.wait_for(self.dispatcher.drain(flush), flush + 1)
        await self.dispatcher.stop()
        await self._join_tasks()
        for sender in {id(s): s for s in self.senders.values()}.values():
            await sender.close()
        started = asyncio.get_running_loop().time()
        with suppress(TimeoutError, DBAPIError, OSError):
            await asyncio.wait_for(self.engine.dispose(), STOP_GRACE)
        log.debug("engine disposed in %.1fs", asyncio.get_running_loop().time() - started)
        if self._sqlite_lock is not None:
            self._sqlite_lock.release()


def _report_death(task: asyncio.Task[None]) -> None:
    """A loop that should run until stopped ended by an exception: say so at once (its task
    is held, so asyncio would never report it); /healthz and the logs then tell the operator."""
    if not task.cancelled() and (exc := task.exception()) is not None:
        log.critical("%s stopped: %s", task.get_name(), type(exc).__name__, exc_info=exc)
