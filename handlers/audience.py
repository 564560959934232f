"""In which language each person hears of something.

A message to one person is written in the language they chose (``/dx lang``, or the directory
file), else in the town's default; a message to a channel is read by many, so it is written in
the town's default.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from storage.directory import chosen_locales


async def languages(
    session: AsyncSession, app: App, adapter: str, people: Iterable[str]
) -> dict[str, str]:
    """Each of ``people`` (user ids on ``adapter``) → the locale to write to them in."""
    wanted = list(dict.fromkeys(people))
    chosen = await chosen_locales(session, adapter, wanted)
    return {p: app.catalog.resolve(chosen.get(p) or app.default_locale) for p in wanted}
