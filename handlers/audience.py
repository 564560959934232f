"""Who hears of something, and in which language.

A message to one person is written in the language they chose (``/dx lang``, or the directory
file), else in the town's default; a message to a channel is read by many, so it is written in
the town's default. ``readers`` says so once for every notice, reminder and digest.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.messages import OutgoingMessage
from storage.directory import chosen_locales


@dataclass(frozen=True, slots=True)
class Reader:
    """A channel or a person's direct chat, and the locale to write to it in."""

    locale: str
    conversation_id: str | None = None
    user_id: str | None = None

    def message(self, text: str, **values: Any) -> OutgoingMessage:
        return OutgoingMessage(
            text, conversation_id=self.conversation_id, user_id=self.user_id, **values
        )


async def readers(
    session: AsyncSession,
    app: App,
    adapter: str,
    *,
    channel: str | None = None,
    people: Iterable[str] = (),
) -> list[Reader]:
    """The ``channel`` (if any) first, then each of ``people`` (user ids on ``adapter``)."""
    found = [Reader(app.default_locale, conversation_id=channel)] if channel else []
    wanted = list(dict.fromkeys(people))
    chosen = await chosen_locales(session, adapter, wanted)
    found += [
        Reader(app.catalog.resolve(chosen.get(p) or app.default_locale), user_id=p) for p in wanted
    ]
    return found
