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
from storage.digest_queries import IssueBrief, Listed
from storage.issues import STATUSES

MILESTONES = ("pilot", "implemented")  # 試験導入 and 本格導入: what the committee asks about
SECTION_LINES = 10


async def build_monthly(session: AsyncSession, app: App, period: Period, locale: str) -> Digest:
    """The digest of ``period`` (a month, or the month so far); the pipeline as it is now."""
    writer = Writer(app, locale)
    first = writer.calendar.today(period.start)
    month = writer.t("digests.monthly.month", year=first.year, month=first.month)
    reported, changes = await queries.activity(session, period.start, period.end)
    if not (reported or changes):
        return Digest(writer.t("digests.monthly.empty", month=month), empty=True)
    totals = await queries.totals_by_status(session)
    pipeline = {status: total.issues for status, total in totals.items()}
    limit = app.settings.digest.list_limit
    reached = {
        status: await queries.reached(session, status, period.start, period.end, limit)
        for status in MILESTONES
    }
    medians = await queries.stage_medians(session, period.start, period.end)
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
        *_pipeline(writer, pipeline),
        *(line for status in MILESTONES for line in _reached(writer, month, status, reached)),
        *_medians(writer, month, medians),
        _saved(writer, totals),
        *await _fiscal_year(session, app, writer, period),
    ]
    numbers = [row.number for listed in reached.values() for row in listed.rows]
    if numbers:
        lines.append(writer.t("digests.footer", number=numbers[0]))
    return Digest("\n".join(lines), pipeline=pipeline)


def _pipeline(writer: Writer, pipeline: dict[str, int]) -> list[str]:
    items = [
        writer.t(
            "digests.monthly.pipeline_item",
            status=writer.status(s),
            count=count(pipeline.get(s, 0)),
        )
        for s in STATUSES
    ]
    total = count(sum(pipeline.values()))
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


async def _fiscal_year(
    session: AsyncSession, app: App, writer: Writer, period: Period
) -> list[str]:
    """By section, 年度 totals and the sections still silent.

    The 年度 is the one the period ends in, so April's digest (on March) closes the year."""
    fy = writer.calendar.fiscal_year(writer.calendar.today(period.end - LAST_INSTANT))
    first, _ = writer.calendar.fiscal_year_range(fy)
    since = writer.calendar.at(first, 0)
    sections = await queries.counts_by_section(session, fy, SECTION_LINES)
    totals = await queries.fiscal_totals(session, fy, since, period.end)
    known = await issue_queries.section_names(session, app.settings.directory.sections)
    silent = await queries.silent_sections(session, fy, known)
    return [
        *_sections(writer, sections),
        writer.t("digests.monthly.fiscal_title", reiwa=fy - issue_queries.REIWA_OFFSET, fy=fy),
        writer.t(
            "digests.monthly.fiscal_line",
            reported=count(totals.reported),
            pilot=count(totals.pilot),
            implemented=count(totals.implemented),
            hours=hours(totals.hours),
        ),
        *_silent(writer, silent),
    ]


def _sections(writer: Writer, sections: Listed) -> list[str]:
    if not sections.total:
        return []
    rows: list[queries.SectionCount] = sections.rows
    return [
        writer.t("digests.monthly.sections_title"),
        *(
            writer.t(
                "digests.monthly.section_line",
                section=row.section,
                open=count(row.open),
                this_year=count(row.this_year),
            )
            for row in rows
        ),
        *writer.more(sections, "digests.more_sections"),
    ]


def _medians(writer: Writer, month: str, medians: dict[str, queries.StageMedian]) -> list[str]:
    """How long the issues that moved on this month had spent in the stage they left."""
    items = [
        writer.t("digests.monthly.median_item", status=writer.status(s), days=days(medians[s].days))
        for s in STATUSES
        if s in medians
    ]
    title = writer.t("digests.monthly.medians_title", month=month)
    return [title, writer.join(items)] if items else []


def _saved(writer: Writer, totals: dict[str, queries.StatusTotal]) -> str:
    """Hours a year saved by what is implemented or closed (the committee's 削減時間)."""
    saved = [totals[s] for s in queries.SAVED_STATUSES if s in totals]
    return writer.t(
        "digests.monthly.saved",
        hours=hours(sum(t.hours for t in saved)),
        count=count(sum(t.issues for t in saved)),
    )


def _silent(writer: Writer, silent: list[str]) -> list[str]:
    if not silent:
        return [writer.t("digests.monthly.silent_none")]
    return [
        writer.t("digests.monthly.silent_title", count=count(len(silent))),
        writer.join(silent, "digests.list_separator"),
    ]
