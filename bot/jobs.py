"""Scheduled jobs: features register them on the App; the Runtime runs each in a transaction.

A job sends through the outbox and claims run keys in the same transaction, so a run that
fails leaves nothing half-done and several processes still fire each period once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import choices, outbox
from bot.messages import OutgoingMessage
from storage.schedule_runs import claim_run

if TYPE_CHECKING:
    from bot.app import App

OWNER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(slots=True)
class JobContext:
    """What a job sees: the App, its transaction and the time it runs at."""

    app: App
    session: AsyncSession
    now: datetime

    def t(self, locale: str | None, key: str, /, **values: Any) -> str:
        return self.app.catalog.t(locale, key, **values)

    async def send(self, message: OutgoingMessage, adapter: str) -> None:
        await outbox.enqueue(self.session, adapter, message, self.now)
        # A typed "1" must answer this message's buttons, not ones offered earlier.
        await choices.remember(self.session, adapter, message, self.now)

    async def claim(self, key: str) -> bool:
        """True once per ``key`` across all processes (see ``schedule_runs``)."""
        return await claim_run(self.session, key, self.now, OWNER)


JobFunction = Callable[[JobContext], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    seconds: float
    run: JobFunction
