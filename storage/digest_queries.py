"""SQL aggregates behind the digests: counts, sums, medians and short lists, never whole issues.

A digest runs over every issue of a town or of a shared deployment (100,000 and more), so each
function asks the database one GROUP BY / COUNT / SUM question and gets a handful of rows back.
Lists come with their full count (``COUNT(*) OVER ()``) so "ほか N件" costs no second query.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Index,
    Select,
    case,
    distinct,
    extract,
    func,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.issues import OPEN_STATUSES, Issue, IssueEvent

# Stages where an issue is expected to move; 保留 (on hold) is still on purpose.
ACTIVE_STATUSES = ("received", "triage", "solution", "pilot", "implemented")
SAVED_STATUSES = ("implemented", "closed")  # their annual hours count as saved

# A literal, not a bound parameter: only then may SQLite and PostgreSQL's generic plans use
# the partial indexes below (an index "WHERE kind = 'status'" must be implied by the query).
STATUS_EVENT = literal_column("'status'")

# Created by migration 0007; declared here, beside the queries that need them. On tables not yet
# analyzed (just after a bulk import), PostgreSQL takes any index whose columns match for a
# lookup by issue and scans it whole once per issue: so these are partial (status events only,
# no leading ``kind``) and hold no ``issue_id``, leaving that lookup to ix_issue_events_issue.
DIGEST_INDEXES = (
    Index(
        "ix_issue_events_status_at",
        IssueEvent.at,
        postgresql_where=IssueEvent.kind == STATUS_EVENT,
        sqlite_where=IssueEvent.kind == STATUS_EVENT,
    ),
    # Moves to 試験導入 / 本格導入. No issue_id in it: PostgreSQL would scan it for one.
    Index(
        "ix_issue_events_status_moves",
        IssueEvent.to_value,
        IssueEvent.at,
        postgresql_where=IssueEvent.kind == STATUS_EVENT,
        sqlite_where=IssueEvent.kind == STATUS_EVENT,
    ),
    Index("ix_issues_created", Issue.created_at),
    Index("ix_issues_group_created", Issue.working_group, Issue.created_at),
    Index("ix_issues_group_updated", Issue.working_group, Issue.updated_at),
    Index("ix_issues_fy_section", Issue.fiscal_year, Issue.section),
    # Covering: the per-section counts read the index, not 100,000 rows of answers.
    Index("ix_issues_section_status", Issue.section, Issue.status, Issue.fiscal_year),
)


class IssueBrief(NamedTuple):
    number: str
    title: str
    section: str
    status: str
    annual_hours: float
    moved_at: datetime  # created, changed or last updated: what the list is about


class StatusChange(NamedTuple):
    number: str
    title: str
    before: str
    after: str
    at: datetime


class Listed(NamedTuple):
    """The first rows of a list and how many there are in all."""

    total: int
    rows: list[Any]


class SectionCount(NamedTuple):
    section: str
    open: int
    this_year: int


class StageMedian(NamedTuple):
    days: float
    stays: int  # how many stays the median is taken over


class FiscalTotals(NamedTuple):
    reported: int
    pilot: int
    implemented: int
    hours: float


_BRIEF = (Issue.number, Issue.title, Issue.section, Issue.status, Issue.annual_hours)
_TOTAL = func.count().over().label("total")


async def _listed(session: AsyncSession, query: Select[*tuple[Any, ...]], limit: int) -> Listed:
    rows = (await session.execute(query.add_columns(_TOTAL).limit(limit))).all()
    total = int(rows[0].total) if rows else 0
    return Listed(total, [tuple(row)[:-1] for row in rows])


def _briefs(listed: Listed) -> Listed:
    return Listed(listed.total, [IssueBrief(*row) for row in listed.rows])


# ------------------------------------------------------------------------ a working group


async def new_issues(
    session: AsyncSession, group: str, start: datetime, end: datetime, limit: int
) -> Listed:
    """Issues routed to ``group`` that were reported in [start, end), oldest first."""
    query = (
        select(*_BRIEF, Issue.created_at)
        .where(Issue.working_group == group, Issue.created_at >= start, Issue.created_at < end)
        .order_by(Issue.created_at, Issue.id)
    )
    return _briefs(await _listed(session, query, limit))


async def status_changes(
    session: AsyncSession, group: str | None, start: datetime, end: datetime, limit: int
) -> Listed:
    """Status moves in [start, end) of ``group``'s issues (every group's with None)."""
    query = (
        select(Issue.number, Issue.title, IssueEvent.from_value, IssueEvent.to_value, IssueEvent.at)
        .join(Issue, Issue.id == IssueEvent.issue_id)
        .where(IssueEvent.kind == STATUS_EVENT, IssueEvent.at >= start, IssueEvent.at < end)
        .order_by(IssueEvent.at, IssueEvent.id)
    )
    if group is not None:
        query = query.where(Issue.working_group == group)
    listed = await _listed(session, query, limit)
    return Listed(listed.total, [StatusChange(*row) for row in listed.rows])


async def stale_issues(session: AsyncSession, group: str, before: datetime, limit: int) -> Listed:
    """``group``'s issues in an active stage untouched since ``before``, longest idle first."""
    query = (
        select(*_BRIEF, Issue.updated_at)
        .where(
            Issue.working_group == group,
            Issue.updated_at < before,
            Issue.status.in_(ACTIVE_STATUSES),
        )
        .order_by(Issue.updated_at, Issue.id)
    )
    return _briefs(await _listed(session, query, limit))


async def top_open_issues(session: AsyncSession, group: str, limit: int) -> list[IssueBrief]:
    """``group``'s open issues with the most estimated annual hours (削減時間)."""
    rows = await session.execute(
        select(*_BRIEF, Issue.updated_at)
        .where(Issue.working_group == group, Issue.status.in_(OPEN_STATUSES))
        .order_by(Issue.annual_hours.desc(), Issue.id)
        .limit(limit)
    )
    return [IssueBrief(*row) for row in rows]


# ------------------------------------------------------------------------- the pipeline


class StatusTotal(NamedTuple):
    issues: int
    hours: float  # the sum of their estimated annual hours


async def totals_by_status(session: AsyncSession) -> dict[str, StatusTotal]:
    """Issues and their annual hours per status: the pipeline and the hours saved at once."""
    rows = await session.execute(
        select(Issue.status, func.count(), func.sum(Issue.annual_hours)).group_by(Issue.status)
    )
    return {status: StatusTotal(int(n), float(h or 0.0)) for status, n, h in rows}


async def counts_by_section(session: AsyncSession, fiscal_year: int, limit: int) -> Listed:
    """Per section: open issues and this 年度's reports, the busiest first."""
    open_ = func.sum(case((Issue.status.in_(OPEN_STATUSES), 1), else_=0))
    this_year = func.sum(case((Issue.fiscal_year == fiscal_year, 1), else_=0))
    query = (
        select(Issue.section, open_, this_year)
        .group_by(Issue.section)
        .having(or_(open_ > 0, this_year > 0))
        .order_by(open_.desc(), this_year.desc(), Issue.section)
    )
    listed = await _listed(session, query, limit)
    return Listed(listed.total, [SectionCount(s, int(o), int(y)) for s, o, y in listed.rows])


async def activity(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """(issues reported, status changes) in [start, end)."""
    reported = await session.scalar(
        select(func.count()).where(Issue.created_at >= start, Issue.created_at < end)
    )
    changes = await session.scalar(
        select(func.count()).where(
            IssueEvent.kind == STATUS_EVENT, IssueEvent.at >= start, IssueEvent.at < end
        )
    )
    return int(reported or 0), int(changes or 0)


async def reached(
    session: AsyncSession, status: str, start: datetime, end: datetime, limit: int
) -> Listed:
    """Issues moved to ``status`` in [start, end), in the order they got there."""
    query = (
        select(*_BRIEF, IssueEvent.at)
        .join(Issue, Issue.id == IssueEvent.issue_id)
        .where(
            IssueEvent.kind == STATUS_EVENT,
            IssueEvent.to_value == status,
            IssueEvent.at >= start,
            IssueEvent.at < end,
        )
        .order_by(IssueEvent.at, IssueEvent.id)
    )
    return _briefs(await _listed(session, query, limit))


def _days(session: AsyncSession, later: Any, earlier: Any) -> ColumnElement[Any]:
    """Days between two timestamps, as a number, in the database's own arithmetic."""
    if session.get_bind().dialect.name == "postgresql":
        return extract("epoch", later - earlier) / 86400.0
    return func.julianday(later) - func.julianday(earlier)


async def stage_medians(
    session: AsyncSession, since: datetime, until: datetime
) -> dict[str, StageMedian]:
    """Median days an issue spent in each stage, over the stays that ended in [since, until).

    A stay in a stage ends with a status event leaving it (``from_value``) and began with the
    issue's previous status event, or its report for 受付. Portable SQL: the middle row(s) of
    each stage picked with window functions, so not one duration travels to Python.
    """
    moving = aliased(IssueEvent)
    moved = (
        select(moving.issue_id)
        .where(moving.kind == STATUS_EVENT, moving.at >= since, moving.at < until)
        .scalar_subquery()
    )
    stays = (
        select(
            IssueEvent.issue_id,
            IssueEvent.from_value.label("stage"),
            IssueEvent.at.label("left_at"),
            func.lag(IssueEvent.at)
            .over(partition_by=IssueEvent.issue_id, order_by=(IssueEvent.at, IssueEvent.id))
            .label("entered_at"),
        )
        .where(IssueEvent.kind == STATUS_EVENT, IssueEvent.issue_id.in_(moved))
        .subquery()
    )
    # Only a stay in 受付 has no event before it; its issue row is read for those alone.
    reported = select(Issue.created_at).where(Issue.id == stays.c.issue_id).scalar_subquery()
    entered = func.coalesce(stays.c.entered_at, reported)
    days = _days(session, stays.c.left_at, entered).label("days")
    durations = (
        select(stays.c.stage, days)
        .where(stays.c.left_at >= since, stays.c.left_at < until, stays.c.stage.is_not(None))
        .subquery()
    )
    ranked = select(
        durations.c.stage,
        durations.c.days,
        func.row_number()
        .over(partition_by=durations.c.stage, order_by=durations.c.days)
        .label("rank"),
        func.count().over(partition_by=durations.c.stage).label("stays"),
    ).subquery()
    middle = or_(
        ranked.c.rank == (ranked.c.stays + 1) // 2, ranked.c.rank == (ranked.c.stays + 2) // 2
    )
    rows = await session.execute(
        select(ranked.c.stage, func.avg(ranked.c.days), func.max(ranked.c.stays))
        .where(middle)
        .group_by(ranked.c.stage)
    )
    return {stage: StageMedian(float(median), int(n)) for stage, median, n in rows}


async def fiscal_totals(
    session: AsyncSession, fiscal_year: int, since: datetime, until: datetime
) -> FiscalTotals:
    """This 年度 so far: reports, issues that reached 試験導入 / 本格導入, and the hours
    saved by those implemented in it (still implemented or closed)."""
    reported = await session.scalar(
        select(func.count()).select_from(Issue).where(Issue.fiscal_year == fiscal_year)
    )
    in_year = (
        IssueEvent.kind == STATUS_EVENT,
        IssueEvent.at >= since,
        IssueEvent.at < until,
    )
    moves = await session.execute(
        select(IssueEvent.to_value, func.count(distinct(IssueEvent.issue_id)))
        .where(*in_year, IssueEvent.to_value.in_(("pilot", "implemented")))
        .group_by(IssueEvent.to_value)
    )
    reached_count = {status: int(n) for status, n in moves}
    implemented_now = select(IssueEvent.issue_id).where(
        *in_year, IssueEvent.to_value == "implemented"
    )
    hours = await session.scalar(
        select(func.coalesce(func.sum(Issue.annual_hours), 0.0)).where(
            Issue.status.in_(SAVED_STATUSES), Issue.id.in_(implemented_now)
        )
    )
    return FiscalTotals(
        int(reported or 0),
        reached_count.get("pilot", 0),
        reached_count.get("implemented", 0),
        float(hours or 0.0),
    )


async def silent_sections(
    session: AsyncSession, fiscal_year: int, known: Iterable[str]
) -> list[str]:
    """The known sections that have reported nothing in ``fiscal_year``, in their order."""
    reporting = set(
        await session.scalars(
            select(Issue.section).where(Issue.fiscal_year == fiscal_year).distinct()
        )
    )
    return [name for name in dict.fromkeys(known) if name not in reporting]
