"""SQL aggregates behind the digests: counts, sums, medians and short lists, never whole issues.

A digest runs over every issue of a town or of a shared deployment (100,000 and more), so each
function asks the database one GROUP BY / COUNT / SUM question and gets a handful of rows back.
Lists come with their full count (``COUNT(*) OVER ()``) so "ほか N件" costs no second query.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    ColumnElement,
    Index,
    Select,
    and_,
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

from storage.digest_pipeline import SAVED_STATUSES, Pipeline, PipelineCell
from storage.issues import OPEN_STATUSES, Issue, IssueEvent
from storage.models import partial_index

# Stages where an issue is expected to move; 保留 (on hold) is still on purpose.
ACTIVE_STATUSES = ("received", "triage", "solution", "pilot", "implemented")

# A literal, not a bound parameter: only then may SQLite and PostgreSQL's generic plans use
# the partial indexes below (an index "WHERE kind = 'status'" must be implied by the query).
STATUS_EVENT: ColumnElement[str] = literal_column("'status'")
MILESTONES = ("pilot", "implemented")  # 試験導入 and 本格導入: what the committee asks about
MILESTONE_EVENT = (
    IssueEvent.kind == STATUS_EVENT,
    IssueEvent.to_value.in_([literal_column(f"'{status}'") for status in MILESTONES]),
)

# Created by migration 0007; declared here, beside the queries that need them. The plans must
# hold on tables not yet analyzed (right after a bulk import): the events index is partial
# (status events only) and leads with ``at``, and no query looks events up per issue with
# ``kind = 'status'``, which such a planner may answer by scanning that index once per issue.
DIGEST_INDEXES = (
    # Status events by time; covering for the counts and for which issues moved.
    partial_index(
        "ix_issue_events_status_at",
        IssueEvent.at,
        IssueEvent.to_value,
        IssueEvent.issue_id,
        where=IssueEvent.kind == STATUS_EVENT,
    ),
    # Moves to 試験導入 / 本格導入 only: the 年度's milestones counted from a small index.
    partial_index(
        "ix_issue_events_milestones",
        IssueEvent.to_value,
        IssueEvent.at,
        IssueEvent.issue_id,
        where=and_(*MILESTONE_EVENT),
    ),
    Index("ix_issues_created", Issue.created_at),
    Index("ix_issues_group_created", Issue.working_group, Issue.created_at),
    Index("ix_issues_group_updated", Issue.working_group, Issue.updated_at),
    # Covering: the pipeline (digest_pipeline) reads the index, not 100,000 rows of answers.
    Index(
        "ix_issues_pipeline",
        Issue.section,
        Issue.status,
        Issue.fiscal_year,
        Issue.annual_hours,
    ),
)


class StageMedian(NamedTuple):
    days: float
    stays: int  # how many stays the median is taken over


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


class Milestones(NamedTuple):
    """Issues that reached 試験導入 / 本格導入 in a stretch of time."""

    pilot: int
    implemented: int
    hours: float  # annual hours of those implemented, if still implemented or closed


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
    session: AsyncSession, group: str, start: datetime, end: datetime, limit: int
) -> Listed:
    """Status moves of ``group``'s issues in [start, end), in the order they happened."""
    query = (
        select(Issue.number, Issue.title, IssueEvent.from_value, IssueEvent.to_value, IssueEvent.at)
        .join(Issue, Issue.id == IssueEvent.issue_id)
        .where(
            IssueEvent.kind == STATUS_EVENT,
            IssueEvent.at >= start,
            IssueEvent.at < end,
            Issue.working_group == group,
        )
        .order_by(IssueEvent.at, IssueEvent.id)
    )
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


# ------------------------------------------------------------------------------ a month


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


async def milestones(session: AsyncSession, since: datetime, until: datetime) -> Milestones:
    """Issues moved to 試験導入 / 本格導入 in [since, until) (each once), and the hours saved
    by those implemented that still are (or are closed since)."""
    in_time = (*MILESTONE_EVENT, IssueEvent.at >= since, IssueEvent.at < until)
    moves = await session.execute(
        select(IssueEvent.to_value, func.count(distinct(IssueEvent.issue_id)))
        .where(*in_time)
        .group_by(IssueEvent.to_value)
    )
    counted = {status: int(n) for status, n in moves}
    # Joined from the moves' side, never looked up per issue (see DIGEST_INDEXES).
    implemented = (
        select(IssueEvent.issue_id)
        .where(*in_time, IssueEvent.to_value == literal_column("'implemented'"))
        .distinct()
        .subquery()
    )
    hours = await session.scalar(
        select(func.coalesce(func.sum(Issue.annual_hours), 0.0))
        .select_from(implemented)
        .join(Issue, Issue.id == implemented.c.issue_id)
        .where(Issue.status.in_(SAVED_STATUSES))
    )
    return Milestones(counted.get("pilot", 0), counted.get("implemented", 0), float(hours or 0))


# ------------------------------------------------------ the pipeline, and the time in each stage


async def pipeline_of(session: AsyncSession, fiscal_year: int) -> Pipeline:
    """Every issue counted by section and status (``this_year``: reported in ``fiscal_year``)."""
    rows = await session.execute(
        select(
            Issue.section,
            Issue.status,
            func.count(),
            func.sum(case((Issue.fiscal_year == fiscal_year, 1), else_=0)),
            func.sum(Issue.annual_hours),
        ).group_by(Issue.section, Issue.status)
    )
    return Pipeline(
        tuple(
            PipelineCell(section, status, int(n), int(year or 0), float(hours or 0.0))
            for section, status, n, year, hours in rows
        )
    )


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
    # All the events of those issues, of every kind: a condition on ``kind`` here would let a
    # planner without statistics look each issue up through a status-only index, scanned whole.
    is_status = IssueEvent.kind == STATUS_EVENT
    entered = func.max(case((is_status, IssueEvent.at))).over(
        partition_by=IssueEvent.issue_id,
        order_by=(IssueEvent.at, IssueEvent.id),
        rows=(None, -1),  # the latest status event before this one
    )
    stays = (
        select(
            IssueEvent.issue_id,
            IssueEvent.kind,
            IssueEvent.from_value.label("stage"),
            IssueEvent.at.label("left_at"),
            entered.label("entered_at"),
        )
        .where(IssueEvent.issue_id.in_(moved))
        .subquery()
    )
    # Only a stay in 受付 has no event before it; its issue row is read for those alone.
    reported = select(Issue.created_at).where(Issue.id == stays.c.issue_id).scalar_subquery()
    days = _days(session, stays.c.left_at, func.coalesce(stays.c.entered_at, reported))
    durations = (
        select(stays.c.stage, days.label("days"))
        .where(
            stays.c.kind == STATUS_EVENT,
            stays.c.left_at >= since,
            stays.c.left_at < until,
            stays.c.stage.is_not(None),
        )
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
