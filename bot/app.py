"""The Bolt-style App: register listeners and middleware, dispatch one event."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.adapters.base import Capabilities
from bot.clock import Clock, SystemClock
from bot.commands import CommandRouter
from bot.context import Context
from bot.events import Event, EventType
from bot.i18n import Catalog
from bot.jobs import Job, JobFunction
from bot.middleware import identify_user, resolve_choices
from bot.text import normalize
from config.settings import Settings

if TYPE_CHECKING:
    from bot.forms.engine import FormEngine

COMMAND_ACTION = "command"  # a Choice whose value is a command's text, e.g. "list 2"

Listener = Callable[[Context], Awaitable[None]]
Next = Callable[[], Awaitable[None]]
Middleware = Callable[[Context, Next], Awaitable[None]]
Matcher = Callable[[Event], "tuple[str, ...] | None"]


@dataclass(frozen=True, slots=True)
class _Route:
    matcher: Matcher
    listener: Listener


class App:
    """Listeners are tried in registration order; the first that matches handles the event.

    Middleware wraps every dispatch (``async def mw(ctx, next)``); the built-in ones identify
    the user and turn a typed choice ("1", a label) into the button press it stands for.
    """

    def __init__(
        self,
        catalog: Catalog,
        *,
        clock: Clock | None = None,
        command_name: str = "dx",
        default_locale: str | None = None,
        timezone: str = "Asia/Tokyo",
        settings: Settings | None = None,
    ) -> None:
        self.catalog = catalog
        self.clock: Clock = clock or SystemClock()
        self.command_name = command_name
        self.default_locale = default_locale or catalog.default
        self.timezone = timezone
        self.settings = settings or Settings.model_validate({})
        self.forms: FormEngine | None = None
        self.menu: list[tuple[str, str]] = []  # (label key, action id) for the help menu
        # What each enabled platform can show; the Runtime fills it in.
        self.capabilities: dict[str, Capabilities] = {}
        self.jobs: list[Job] = []
        self.commands = CommandRouter(catalog)
        self._routes: list[_Route] = []
        self._middleware: list[Middleware] = [identify_user, resolve_choices]
        self._fallback: Listener | None = None
        self.command(command_name)(self.commands)
        self.action(COMMAND_ACTION)(self._command_button)

    # -- registration --------------------------------------------------------------------

    def job(self, name: str, *, seconds: float) -> Callable[[JobFunction], JobFunction]:
        """Run ``func(JobContext)`` every ``seconds`` (and once at start-up, to catch up)."""

        def decorator(func: JobFunction) -> JobFunction:
            self.jobs.append(Job(name, seconds, func))
            return func

        return decorator

    def use_forms(self, engine: FormEngine) -> None:
        """Run conversational forms: a running form sees direct messages first."""
        self.forms = engine
        self.middleware(engine.middleware)

    def middleware(self, func: Middleware, *, first: bool = False) -> Middleware:
        """Add ``func`` to every dispatch; ``first`` puts it before the built-in ones."""
        if first:
            self._middleware.insert(0, func)
            return func
        self._middleware.append(func)
        return func

    def command(self, name: str) -> Callable[[Listener], Listener]:
        """Listen for the slash-style command ``/name``."""
        wanted = name.lstrip("/")

        def matcher(event: Event) -> tuple[str, ...] | None:
            hit = event.type == EventType.COMMAND and event.command == wanted
            return () if hit else None

        return self._register(matcher)

    def subcommand(self, name: str, *, role: str = "staff") -> Callable[[Listener], Listener]:
        """Listen for ``/dx name …`` (and its catalogue aliases); ``role`` is the least role
        allowed, checked by the router's guard before the listener runs."""

        def decorator(listener: Listener) -> Listener:
            self.commands.add(name, listener, role)
            return listener

        return decorator

    def message(
        self, pattern: str | re.Pattern[str] | Callable[[Event], bool]
    ) -> Callable[[Listener], Listener]:
        """Listen for messages whose normalized text matches ``pattern`` (``re.search``)."""
        if callable(pattern) and not isinstance(pattern, re.Pattern):
            predicate = pattern

            def by_predicate(event: Event) -> tuple[str, ...] | None:
                return () if event.type == EventType.MESSAGE and predicate(event) else None

            return self._register(by_predicate)
        regex = re.compile(pattern) if isinstance(pattern, str) else pattern

        def by_regex(event: Event) -> tuple[str, ...] | None:
            if event.type != EventType.MESSAGE:
                return None
            found = regex.search(normalize(event.text))
            return tuple(g or "" for g in found.groups()) if found else None

        return self._register(by_regex)

    def action(self, action_id: str) -> Callable[[Listener], Listener]:
        """Listen for presses of buttons made with ``Choice(..., action_id=action_id)``."""

        def matcher(event: Event) -> tuple[str, ...] | None:
            return () if event.type == EventType.ACTION and event.action_id == action_id else None

        return self._register(matcher)

    def fallback(self, listener: Listener) -> Listener:
        """Called when no listener matches."""
        self._fallback = listener
        return listener

    def _register(self, matcher: Matcher) -> Callable[[Listener], Listener]:
        def decorator(listener: Listener) -> Listener:
            self._routes.append(_Route(matcher, listener))
            return listener

        return decorator

    # -- dispatch ------------------------------------------------------------------------

    async def _command_button(self, ctx: Context) -> None:
        """A button carrying a command ("move R8-0001 pilot") runs it as if typed, guard
        and all: buttons are a shortcut, never a way around access control."""
        ctx.event = replace(
            ctx.event, type=EventType.COMMAND, command=self.command_name, text=ctx.event.value
        )
        await self.commands(ctx)

    async def dispatch(self, event: Event, session: AsyncSession) -> Context:
        """Run middleware and the matching listener inside the caller's transaction."""
        ctx = Context(app=self, event=event, session=session, locale=self.default_locale)
        await self._chain(ctx, 0)
        return ctx

    async def _chain(self, ctx: Context, index: int) -> None:
        if index == len(self._middleware):
            await self._route(ctx)
            return
        await self._middleware[index](ctx, lambda: self._chain(ctx, index + 1))

    async def _route(self, ctx: Context) -> None:
        for route in self._routes:
            found = route.matcher(ctx.event)
            if found is not None:
                ctx.matches = found
                await route.listener(ctx)
                return
        if self._fallback is not None:
            await self._fallback(ctx)
