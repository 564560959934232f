"""Routing of ``/dx SUBCOMMAND args`` to subcommand listeners, with catalogue aliases."""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.context import Context
from bot.i18n import Catalog
from bot.text import fold, normalize

Listener = Callable[[Context], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Subcommand:
    name: str
    listener: Listener
    summary_key: str
    role: str = "staff"  # the least role allowed to run it (see handlers.access)


Guard = Callable[[Context, Subcommand], Awaitable[bool]]


async def _allow_all(_ctx: Context, _sub: Subcommand) -> bool:
    return True


class CommandRouter:
    """``/dx help``, ``/dx ヘルプ`` … → the ``help`` listener; the rest of the text is ``args``.

    Aliases are read from the catalogue under ``commands.<name>.aliases`` in every locale.
    """

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._subcommands: dict[str, Subcommand] = {}
        self._lookup: dict[str, str] = {}
        self.guard: Guard = _allow_all

    def add(self, name: str, listener: Listener, role: str = "staff") -> None:
        self._subcommands[name] = Subcommand(name, listener, f"commands.{name}.summary", role)
        for word in [name, *self._catalog.words(f"commands.{name}.aliases")]:
            self._lookup[fold(word)] = name

    @property
    def subcommands(self) -> list[Subcommand]:
        return list(self._subcommands.values())

    def resolve(self, text: str) -> tuple[str | None, str, str]:
        """(subcommand or None, the word typed, the rest) for a command's text."""
        word, _, rest = normalize(text).partition(" ")
        return self._lookup.get(fold(word)), word, rest.strip()

    def closest(self, word: str) -> str | None:
        found = difflib.get_close_matches(fold(word), list(self._lookup), n=1, cutoff=0.5)
        return self._lookup[found[0]] if found else None

    async def __call__(self, ctx: Context) -> None:
        name, word, rest = self.resolve(ctx.event.text)
        if name is None and not word and "help" in self._subcommands:
            name = "help"
        if name is None:
            await self._unknown(ctx, word)
            return
        ctx.args = rest
        subcommand = self._subcommands[name]
        if await self.guard(ctx, subcommand):
            await subcommand.listener(ctx)

    async def _unknown(self, ctx: Context, word: str) -> None:
        suggestion = self.closest(word)
        key = "commands.unknown_with_suggestion" if suggestion else "commands.unknown"
        await ctx.say(ctx.t(key, word=word, suggestion=suggestion or ""))
