"""Shared pieces of the duties feature: the calendar, assignees, rows and wording."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.calendar import MunicipalCalendar
from bot.forms.dates import format_date_ja
from bot.recurrence import Rule, parse_rule
from config.settings import Settings, WorkingGroupSettings
from storage.duties import Duty, DutyOccurrence, add_missing_occurrences

HORIZON = timedelta(days=60)  # occurrences materialized ahead: room for any reminder offset
LOOKBACK = timedelta(days=31)  # past occurrences kept track of (for overdue)


def calendar_of(app: App) -> MunicipalCalendar:
    closures = app.settings.calendar
    return MunicipalCalendar(
        app.timezone,
        extra_closures=closures.extra_closures,
        year_end=closures.year_end_closure,
    )


def rule_of(duty: Duty) -> Rule | None:
    try:
        return parse_rule(duty.rule)
    except ValueError:
        return None


def offsets_of(duty: Duty, settings: Settings) -> list[str]:
    offsets = duty.reminders.get("offsets")
    return list(offsets) if offsets else list(settings.duty.default_reminders)


def assignees(
    duty: Duty, settings: Settings, groups: Sequence[WorkingGroupSettings]
) -> tuple[str, list[str]]:
    """(adapter, user ids) to remind: the group's leaders, one leader, or policy staff.

    ``groups`` are the working groups from config and directory (handlers.directory)."""
    group = next((g for g in groups if g.name == duty.group), None)
    adapter = group.adapter if group else settings.policy.adapter
    kind, _, who = duty.assignee.partition(":")
    if kind == "leader" and who:
        return adapter, [who]
    if kind == "role" and who == "policy":
        return settings.policy.adapter, list(settings.policy.users)
    return adapter, list(group.leaders) if group else []


def is_assignee(
    duty: Duty, settings: Settings, groups: Sequence[WorkingGroupSettings], user_id: str
) -> bool:
    return user_id in assignees(duty, settings, groups)[1]


def when_text(app: App, locale: str, moment: datetime) -> str:
    local = moment.astimezone(calendar_of(app).zone)
    day = format_date_ja(local.date()) if locale == "ja" else local.date().isoformat()
    return f"{day} {local.hour}:{local.minute:02d}"


async def occurrences_in(
    session: AsyncSession, duty: Duty, start: datetime, end: datetime, calendar: MunicipalCalendar
) -> list[DutyOccurrence]:
    """The duty's occurrences in [start, end) as rows, created on first sight."""
    rule = rule_of(duty)
    if rule is None:
        return []
    start = max(start, duty.created_at)
    moments = list(rule.occurrences(start, end, calendar))
    await add_missing_occurrences(session, duty.id, moments)
    rows = await session.scalars(
        select(DutyOccurrence)
        .where(
            DutyOccurrence.duty_id == duty.id,
            DutyOccurrence.due_at >= start,
            DutyOccurrence.due_at < end,
        )
        .order_by(DutyOccurrence.due_at)
    )
    return list(rows)


def reminder_offsets(payload: Any) -> dict[str, list[str]]:
    return {"offsets": [str(o) for o in payload]} if payload else {"offsets": []}
