"""Drive a whole Runtime in-process: accept an event, handle it, deliver the replies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from bot.app import App
from bot.clock import Clock
from bot.events import Event
from bot.messages import OutgoingMessage
from bot.runtime import Register, Runtime
from tests.builders import make_event
from tests.conftest import fast_settings
from tests.fakes import RecordingSender


class Harness:
    """One process's worth of dxbot with a recording platform instead of a real one."""

    def __init__(self, runtime: Runtime, sender: RecordingSender) -> None:
        self.runtime = runtime
        self.sender = sender

    @property
    def app(self) -> App:
        return self.runtime.app

    async def deliver(self, event: Event) -> list[OutgoingMessage]:
        """Accept, handle and send everything that follows from ``event``; return the new sends."""
        before = len(self.sender.sent)
        await self.runtime.accept(event)
        await self.settle()
        return [message for _, message in self.sender.sent[before:]]

    async def say(self, text: str, **kw: Any) -> list[str]:
        """A staff member types ``text``; returns the texts the bot answered."""
        return [m.text for m in await self.deliver(make_event(text, **kw))]

    async def command(self, text: str, **kw: Any) -> list[str]:
        return [m.text for m in await self.deliver(make_event(text, command="dx", **kw))]

    async def settle(self) -> None:
        await self.runtime.worker.handle_pending()
        await self.runtime.dispatcher.drain(5)


@asynccontextmanager
async def harness(
    database_url: str,
    *,
    register: Register | None = None,
    clock: Clock | None = None,
    buttons: bool = True,
    **settings: Any,
) -> AsyncIterator[Harness]:
    sender = RecordingSender("relay", buttons=buttons)
    runtime = Runtime(
        fast_settings(database_url, **settings),
        register=register,
        clock=clock,
        webhooks={},
        senders={"relay": sender},
    )
    await runtime.prepare()
    try:
        yield Harness(runtime, sender)
    finally:
        await runtime.stop(flush_seconds=0)
