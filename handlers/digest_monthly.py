"""The monthly policy digest: the pipeline, the month's progress and the 年度 so far.

Policy staff (情報政策課) forward it to the committee, so it speaks in 年度 and in hours saved
(削減時間), and names the sections that have not reported yet this 年度 to follow up on.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from handlers.digest_schedule import Period
from handlers.digest_text import LAST_INSTANT, Digest, Writer, count, days, hours
from storage import digest_queries as queries
from storage import issue_queries
from storage.digest_pipeline import Pipeline, SectionCount
from storage.digest_queries import IssueBrief, Listed, StageMedian
from storage.issues import STATUSES

SECTION_LINES = 10


async def build_monthly(session: AsyncSession, app: App, period: Period, locale: str) -> Digest:
    """The digest of ``period`` (a month, or the month so far); the pipeline as it is now.

    The 年度 is the one the period ends in, so April's digest (on March) closes the year."""
    writer = Writer(app, locale)
    first = writer.calendar.today(period.start)
    month = writer.t("digests.monthly.month", year=first.year, month=first.month)
    reported, changes = await queries.activity(session, period.start, period.end)
    if not (reported or changes):
        return Digest(writer.t("digests.monthly.empty", month=month), empty=True)
    fy = writer.calendar.fiscal_year(writer.calendar.today(period.end - LAST_INSTANT))
    pipeline = await queries.pipeline_of(session, fy)
    limit = app.settings.digest.list_limit
    reached = {
        status: await queries.reached(session, status, period.start, period.end, limit)
        for status in queries.MILESTONES
    }
    lines = [
        writer.t(
            "digests.monthly.title",
            month=month,
            start=writer.date(period.start),
            end=writer.last_day(period.end),
        ),
        writer.t(
            "digests.monthly.activity",
            month=month,
            reported=count(reported),
            changes=count(changes),
        ),
        *_by_status(writer, pipeline.by_status()),
        *(
            line
            for status in queries.MILESTONES
            for line in _reached(writer, month, status, reached)
        ),
        *_medians(writer, month, await queries.stage_medians(session, period.start, period.end)),
        _saved(writer, pipeline),
        *_sections(writer, pipeline.by_section()),
        *await _fiscal_year(session, app, writer, period, fy, pipeline),
    ]
    numbers = [row.number for listed in reached.values() for row in listed.rows]
    if numbers:
        lines.append(writer.t("digests.footer", number=numbers[0]))
    return Digest("\n".join(lines), pipeline=pipeline.by_status())


def _by_status(writer: Writer, counts: dict[str, int]) -> list[str]:
    items = [
        writer.t(
            "digests.monthly.pipeline_item", status=writer.status(s), count=count(counts.get(s, 0))
        )
        for s in STATUSES
    ]
    total = count(sum(counts.values()))
    return [writer.t("digests.monthly.pipeline_title", total=total), writer.join(items)]


def _reached(writer: Writer, month: str, status: str, reached: dict[str, Listed]) -> list[str]:
    listed = reached[status]
    if not listed.total:
        return []
    rows: list[IssueBrief] = listed.rows
    return [
        writer.t(
            "digests.monthly.reached_title",
            month=month,
            status=writer.status(status),
            count=count(listed.total),
        ),
        *(
            writer.t(
                "digests.monthly.reached_line",
                number=row.number,
                title=row.title,
                section=row.section,
                hours=hours(row.annual_hours),
            )
            for row in rows
        ),
        *writer.more(listed),
    ]


def _medians(writer: Writer, month: str, medians: dict[str, StageMedian]) -> list[str]:
    """How long the issues that moved on this month had spent in the stage they left."""
    items = [
        writer.t("digests.monthly.median_item", status=writer.status(s), days=days(medians[s].days))
        for s in STATUSES
        if s in medians
    ]
    title = writer.t("digests.monthly.medians_title", month=month)
    return [title, writer.join(items)] if items else []


def _saved(writer: Writer, pipeline: Pipeline) -> str:
    """Hours a year saved by what is implemented or closed (the committee's 削減時間)."""
    issues, saved = pipeline.saved()
    return writer.t("digests.monthly.saved", hours=hours(saved), count=count(issues))


def _sections(writer: Writer, sections: list[SectionCount]) -> list[str]:
    if not sections:
        return []
    return [
        writer.t("digests.monthly.sections_title"),
        *(
            writer.t(
                "digests.monthly.section_line",
                section=row.section,
                open=count(row.open),
                this_year=count(row.this_year),
            )
            for row in sections[:SECTION_LINES]
        ),
        *writer.more(Listed(len(sections), sections[:SECTION_LINES]), "digests.more_sections"),
    ]


async def _fiscal_year(
    session: AsyncSession, app: App, writer: Writer, period: Period, fy: int, pipeline: Pipeline
) -> list[str]:
    """The 年度's totals so far, and the sections that have reported nothing in it."""
    first, _ = writer.calendar.fiscal_year_range(fy)
    done = await queries.milestones(session, writer.calendar.at(first, 0), period.end)
    known = await issue_queries.section_names(session, app.settings.directory.sections)
    return [
        writer.t("digests.monthly.fiscal_title", reiwa=fy - issue_queries.REIWA_OFFSET, fy=fy),
        writer.t(
            "digests.monthly.fiscal_line",
            reported=count(pipeline.reported_this_year()),
            pilot=count(done.pilot),
            implemented=count(done.implemented),
            hours=hours(done.hours),
        ),
        *_silent(writer, pipeline.silent(known)),
    ]


def _silent(writer: Writer, silent: list[str]) -> list[str]:
    if not silent:
        return [writer.t("digests.monthly.silent_none")]
    return [
        writer.t("digests.monthly.silent_title", count=count(len(silent))),
        writer.join(silent, "digests.list_separator"),
    ]
