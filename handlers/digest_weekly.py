"""The weekly working-group digest: what is new, what moved, what is stuck, what is due.

Leaders read it in the group's channel on Monday morning, so each part is a few lines and every
issue carries its number (R8-0042) for ``/dx show``. A quiet week is one line, or nothing.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from config.settings import WorkingGroupSettings
from handlers.digest_schedule import Period
from handlers.digest_text import Digest, Writer, count, hours
from handlers.duty_model import LOOKBACK, calendar_of, occurrences_in
from storage import digest_queries as queries
from storage.digest_queries import IssueBrief, Listed, StatusChange
from storage.duties import Duty

UPCOMING = timedelta(days=7)  # "the coming week" of duties

DutyLine = tuple[datetime, str, int]  # (due, title, occurrence id)


async def due_duties(
    session: AsyncSession, app: App, group: str, now: datetime
) -> tuple[list[DutyLine], list[DutyLine]]:
    """(due in the coming week, overdue) open occurrences of the group's duties."""
    calendar = calendar_of(app)
    duties = list(
        await session.scalars(select(Duty).where(Duty.group == group, Duty.active.is_(True)))
    )
    upcoming: list[DutyLine] = []
    overdue: list[DutyLine] = []
    for duty in duties:
        for row in await occurrences_in(session, duty, now - LOOKBACK, now + UPCOMING, calendar):
            if row.status == "open":
                (overdue if row.due_at < now else upcoming).append((row.due_at, duty.title, row.id))
    return sorted(upcoming), sorted(overdue)


async def build_weekly(
    session: AsyncSession,
    app: App,
    group: WorkingGroupSettings,
    period: Period,
    now: datetime,
    locale: str,
) -> Digest:
    """The digest of ``period`` for ``group``; duties, stale and top issues as of ``now``."""
    writer = Writer(app, locale)
    settings = app.settings.digest
    limit = settings.list_limit
    new = await queries.new_issues(session, group.name, period.start, period.end, limit)
    changes = await queries.status_changes(session, group.name, period.start, period.end, limit)
    idle_since = now - timedelta(days=settings.stale_days)
    stale = await queries.stale_issues(session, group.name, idle_since, limit)
    upcoming, overdue = await due_duties(session, app, group.name, now)
    if not (new.total or changes.total or stale.total or upcoming or overdue):
        return Digest(writer.t("digests.weekly.empty", group=group.name), empty=True)
    top = await queries.top_open_issues(session, group.name, settings.top_issues)
    lines = [
        writer.t(
            "digests.weekly.title",
            group=group.name,
            start=writer.date(period.start),
            end=writer.last_day(period.end),
        ),
        *_new(writer, new),
        *_changes(writer, changes),
        *_stale(writer, stale, now, settings.stale_days),
        *_duties(writer, "due", upcoming),
        *_duties(writer, "overdue", overdue),
        *_top(writer, top),
    ]
    numbers = [row.number for row in [*new.rows, *changes.rows, *stale.rows, *top]]
    if numbers:
        lines.append(writer.t("digests.footer", number=numbers[0]))
    return Digest("\n".join(lines))


def _new(writer: Writer, new: Listed) -> list[str]:
    if not new.total:
        return []
    rows: list[IssueBrief] = new.rows
    return [
        writer.t("digests.weekly.new_title", count=count(new.total)),
        *(
            writer.t(
                "digests.weekly.new_line",
                number=row.number,
                title=row.title,
                section=row.section,
                hours=hours(row.annual_hours),
            )
            for row in rows
        ),
        *writer.more(new),
    ]


def _changes(writer: Writer, changes: Listed) -> list[str]:
    if not changes.total:
        return []
    rows: list[StatusChange] = changes.rows
    return [
        writer.t("digests.weekly.changes_title", count=count(changes.total)),
        *(
            writer.t(
                "digests.weekly.change_line",
                number=row.number,
                title=row.title,
                before=writer.status(row.before),
                after=writer.status(row.after),
            )
            for row in rows
        ),
        *writer.more(changes),
    ]


def _stale(writer: Writer, stale: Listed, now: datetime, days: int) -> list[str]:
    if not stale.total:
        return []
    rows: list[IssueBrief] = stale.rows
    return [
        writer.t("digests.weekly.stale_title", days=days, count=count(stale.total)),
        *(
            writer.t(
                "digests.weekly.stale_line",
                number=row.number,
                title=row.title,
                status=writer.status(row.status),
                idle=(now - row.moved_at).days,
            )
            for row in rows
        ),
        *writer.more(stale),
    ]


def _duties(writer: Writer, kind: str, rows: list[DutyLine]) -> list[str]:
    if not rows:
        return []
    return [
        writer.t(f"digests.weekly.{kind}_title", count=count(len(rows))),
        *(
            writer.t(f"digests.weekly.{kind}_line", due=writer.when(due), title=title, id=row_id)
            for due, title, row_id in rows
        ),
    ]


def _top(writer: Writer, top: list[IssueBrief]) -> list[str]:
    if not top:
        return []
    return [
        writer.t("digests.weekly.top_title"),
        *(
            writer.t(
                "digests.weekly.top_line",
                rank=rank,
                number=row.number,
                title=row.title,
                hours=hours(row.annual_hours),
                status=writer.status(row.status),
            )
            for rank, row in enumerate(top, start=1)
        ),
    ]
