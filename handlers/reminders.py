"""The duty reminder job: remind before each due moment, then chase and escalate if overdue.

Every reminder claims a run key first, so several processes send each one once; one missed
while the bot was down is still sent within ``duty.grace_minutes``, and after that the duty
shows up as overdue instead of sending a stale "in 3 days" message.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.app import COMMAND_ACTION, App
from bot.calendar import MunicipalCalendar
from bot.jobs import JobContext
from bot.messages import Choice
from bot.recurrence import RuleError, reminder_times
from config.settings import Settings, WorkingGroupSettings
from handlers.audience import readers
from handlers.directory import working_groups
from handlers.duty_model import (
    HORIZON,
    LOOKBACK,
    assignees,
    calendar_of,
    occurrences_in,
    offsets_of,
    reminder_offsets,
    when_text,
)
from storage.duties import Duty, DutyOccurrence, add_config_duty

log = logging.getLogger(__name__)


async def sync_config_duties(job: JobContext) -> None:
    """``[[duties]]`` in the TOML become rows (kept in step by a stable key)."""
    for item in job.app.settings.duties:
        key = f"config:{item.group}:{item.title}"
        reminders = reminder_offsets(item.reminders)
        await add_config_duty(
            job.session,
            {
                "key": key,
                "group": item.group,
                "title": item.title,
                "rule": item.rule,
                "assignee": item.assignee,
                "reminders": reminders,
                "active": True,
                "created_by": "config",
                "created_at": job.now,
            },
        )
        duty = await job.session.scalar(select(Duty).where(Duty.key == key))
        wanted = (item.rule, item.assignee, reminders)
        if duty is not None and (duty.rule, duty.assignee, duty.reminders) != wanted:
            duty.rule, duty.assignee, duty.reminders = wanted
    await job.session.flush()


async def remind(job: JobContext) -> None:
    await sync_config_duties(job)
    settings = job.app.settings
    calendar = calendar_of(job.app)
    grace = timedelta(minutes=settings.duty.grace_minutes)
    groups = await working_groups(job.session, settings)
    duties = list(await job.session.scalars(select(Duty).where(Duty.active.is_(True))))
    for duty in duties:
        try:
            await _remind_duty(job, duty, groups, calendar, grace)
        except (RuleError, ValueError) as exc:  # one bad duty must not silence the others
            log.error("duty %s (%s) cannot be reminded: %s", duty.id, duty.title, exc)
    await chase_overdue(job, groups)


async def _remind_duty(
    job: JobContext,
    duty: Duty,
    groups: Sequence[WorkingGroupSettings],
    calendar: MunicipalCalendar,
    grace: timedelta,
) -> None:
    settings = job.app.settings
    rows = await occurrences_in(job.session, duty, job.now - LOOKBACK, job.now + HORIZON, calendar)
    for row in rows:
        if row.status != "open" or row.due_at < job.now - grace:
            continue
        for moment in reminder_times(
            row.due_at, offsets_of(duty, settings), calendar, settings.calendar.shift
        ):
            if not job.now - grace <= moment <= job.now or _snoozed(row, moment):
                continue
            if await job.claim(f"duty:{row.id}:{moment.isoformat()}"):
                await _send(job, duty, row, groups, "duties.reminder")


def _snoozed(row: DutyOccurrence, moment: datetime) -> bool:
    return row.snoozed_until is not None and moment < row.snoozed_until


async def chase_overdue(job: JobContext, groups: Sequence[WorkingGroupSettings]) -> None:
    """Once per business day: remind the assignees, then the group, then policy staff."""
    settings = job.app.settings
    calendar = calendar_of(job.app)
    today = calendar.today(job.now)
    hour, _, minute = settings.duty.overdue_reminder_time.partition(":")
    chase_at = calendar.at(today, int(hour), int(minute or 0))
    grace = timedelta(minutes=settings.duty.grace_minutes)
    if not calendar.is_business_day(today) or not chase_at <= job.now <= chase_at + grace:
        return
    rows = await job.session.execute(
        select(DutyOccurrence, Duty)
        .join(Duty, Duty.id == DutyOccurrence.duty_id)
        .where(
            DutyOccurrence.status == "open", DutyOccurrence.due_at < chase_at, Duty.active.is_(True)
        )
    )
    for row, duty in rows:
        if _snoozed(row, job.now):
            continue
        late = calendar.business_days_between(calendar.today(row.due_at), today)
        if late < 1 or not await job.claim(f"overdue:{row.id}:{today.isoformat()}"):
            continue
        await _send(job, duty, row, groups, "duties.overdue", late=late)
        if late >= settings.duty.escalate_to_group_after_days:
            await _escalate_to_group(job, duty, row, late, groups)
        if late >= settings.duty.escalate_to_policy_after_days:
            await _escalate_to_policy(job, duty, row, late, settings)


async def _send(
    job: JobContext,
    duty: Duty,
    row: DutyOccurrence,
    groups: Sequence[WorkingGroupSettings],
    key: str,
    **extra: int,
) -> None:
    adapter, people = assignees(duty, job.app.settings, groups)
    if not people:
        log.warning("duty %s (%s) has nobody to remind", duty.id, duty.title)
    for reader in await readers(job.session, job.app, adapter, people=people):
        locale = reader.locale
        text = job.t(
            locale,
            key,
            title=duty.title,
            group=duty.group,
            id=row.id,
            due=when_text(job.app, locale, row.due_at),
            **extra,
        )
        buttons = (
            Choice(job.t(locale, "duties.done_button"), COMMAND_ACTION, f"done {row.id}"),
            Choice(job.t(locale, "duties.snooze_button"), COMMAND_ACTION, f"snooze {row.id}"),
        )
        await job.send(reader.message(text, choices=buttons), adapter)


async def _escalate_to_group(
    job: JobContext,
    duty: Duty,
    row: DutyOccurrence,
    late: int,
    groups: Sequence[WorkingGroupSettings],
) -> None:
    group = next((g for g in groups if g.name == duty.group), None)
    if group is None or not group.channel:
        return
    for reader in await readers(job.session, job.app, group.adapter, channel=group.channel):
        await job.send(
            reader.message(_escalated(job, duty, row, late, reader.locale)), group.adapter
        )


async def _escalate_to_policy(
    job: JobContext, duty: Duty, row: DutyOccurrence, late: int, settings: Settings
) -> None:
    policy = settings.policy
    everyone = await readers(
        job.session, job.app, policy.adapter, channel=policy.channel, people=policy.users
    )
    for reader in everyone:
        await job.send(
            reader.message(_escalated(job, duty, row, late, reader.locale)), policy.adapter
        )


def _escalated(job: JobContext, duty: Duty, row: DutyOccurrence, late: int, locale: str) -> str:
    return job.t(
        locale,
        "duties.escalated",
        title=duty.title,
        group=duty.group,
        late=late,
        due=when_text(job.app, locale, row.due_at),
        id=row.id,
    )


def register(app: App) -> None:
    app.job("duties.remind", seconds=app.settings.duty.tick_seconds)(remind)
