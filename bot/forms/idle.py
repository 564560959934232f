"""Forms left idle: one gentle nudge, then the draft is put aside (kept, resumable)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import outbox
from bot.clock import Clock
from bot.forms import store
from bot.forms.definition import FormDefinition, pick
from bot.i18n import Catalog
from bot.messages import OutgoingMessage
from config.settings import FormSettings
from storage.forms import FormSession


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    forms: dict[str, FormDefinition],
    catalog: Catalog,
    clock: Clock,
    settings: FormSettings,
) -> tuple[int, int]:
    """Nudge and expire idle forms; returns (nudged, expired). Safe in several processes."""
    now = clock.now()
    expire_before = now - timedelta(hours=settings.expire_after_hours)
    nudge_before = now - timedelta(minutes=settings.nudge_after_minutes)
    async with sessions() as session, session.begin():
        expired = await store.idle_sessions(session, idle_since=expire_before, only_unnudged=False)
        for row in expired:
            row.status = store.EXPIRED
            row.updated_at = now  # a draft's forms.keep_days count from when it was put aside
            await _tell(session, row, "forms.expired", forms, catalog, clock, settings.keep_days)
        nudged = await store.idle_sessions(session, idle_since=nudge_before, only_unnudged=True)
        for row in nudged:
            row.nudged_at = now
            await _tell(session, row, "forms.nudge", forms, catalog, clock)
    return len(nudged), len(expired)


async def _tell(
    session: AsyncSession,
    row: FormSession,
    key: str,
    forms: dict[str, FormDefinition],
    catalog: Catalog,
    clock: Clock,
    keep_days: int = 0,
) -> None:
    form = forms.get(row.form)
    title = pick(form.title, row.locale) if form else row.form
    text = catalog.t(row.locale, key, title=title)
    if keep_days > 0:  # how long the draft waits (nothing typed is lost without being told)
        text += "\n" + catalog.t(row.locale, "drafts.kept_days", days=keep_days)
    message = OutgoingMessage(text, conversation_id=row.conversation_id)
    await outbox.enqueue(session, row.adapter, message, clock.now())
