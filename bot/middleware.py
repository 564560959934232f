"""Built-in middleware: who is speaking, in which language, and typed choices."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from bot import choices
from bot.context import UserInfo
from bot.events import EventType
from storage.directory import staff_with_entry
from storage.models import Staff

if TYPE_CHECKING:
    from bot.context import Context

Next = Callable[[], Awaitable[None]]
DISPLAY_NAME_LENGTH = 255  # the staff.display_name column
MAX_CHOICE_TEXT = 100


async def identify_user(ctx: Context, next: Next) -> None:
    """Load (or first create) the staff record for the sender; set ``ctx.user`` and locale.

    Someone the directory lists keeps the directory's name (the platform's display name may be
    a nickname); someone it marks inactive keeps only a staff member's rights.
    """
    event = ctx.event
    name = (event.user.name or event.user.id)[:DISPLAY_NAME_LENGTH]
    staff, entry = await staff_with_entry(ctx.session, event.adapter, event.user.id)
    if staff is None:
        staff = Staff(
            adapter=event.adapter,
            external_id=event.user.id,
            display_name=name,
            role="staff",
            created_at=ctx.app.clock.now(),
        )
        ctx.session.add(staff)
        await ctx.session.flush()
    if event.user.name and staff.display_name != name and not entry.listed:
        staff.display_name = name
    ctx.locale = ctx.app.catalog.resolve(staff.locale or ctx.app.default_locale)
    ctx.user = UserInfo(
        staff_id=staff.id,
        external_id=staff.external_id,
        name=staff.display_name,
        role=staff.role if entry.active else "staff",
        locale=ctx.locale,
        groups=entry.groups,
    )
    await next()


async def resolve_choices(ctx: Context, next: Next) -> None:
    """A typed "1" / "１" / label answering offered choices becomes that button press."""
    # A choice is a number or a short label: longer text never needs the lookup.
    if ctx.event.type == EventType.MESSAGE and len(ctx.event.text) <= MAX_CHOICE_TEXT:
        ctx.event = await choices.resolve(ctx.session, ctx.event, ctx.choices_clear)
    await next()
