"""``/dx export csv|xlsx``: the issues a leader or policy staff may see, as a spreadsheet
for the working group, the committee and headquarters (who read exports, not chat)."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy import select

from bot.app import App
from bot.context import Context
from bot.downloads import offer_file
from bot.forms.definition import pick
from bot.text import fold
from handlers.access import issue_scope
from handlers.export_files import CSV_TYPE, XLSX_TYPE, Cell, to_csv, to_xlsx
from handlers.filters import FilterError, IssueFilters, parse_filters
from handlers.reports import FORM
from storage import issue_queries as queries
from storage.issues import Issue

FORMATS = ("csv", "xlsx")

FILE_STEM = "dxbot-issues"
Column = tuple[str, Callable[[Context, Issue], Cell]]


def _answer(key: str) -> Callable[[Context, Issue], Cell]:
    def value(_ctx: Context, issue: Issue) -> Cell:
        answer = issue.answers.get(key)
        return answer if isinstance(answer, str | int | float) else None

    return value


def _frequency(ctx: Context, issue: Issue) -> Cell:
    """The label the reporter chose (毎日 …), from the form definition."""
    value = issue.answers.get("frequency")
    forms = ctx.app.forms.forms if ctx.app.forms else {}
    if FORM in forms:
        for option in forms[FORM].step("frequency").options:
            if option.value == value:
                return pick(option.label, ctx.locale)
    return str(value or "")


def _reported_on(ctx: Context, issue: Issue) -> Cell:
    return issue.created_at.astimezone(ZoneInfo(ctx.app.timezone)).date()


# (header key under export.columns, value) in the order committees read them.
COLUMNS: tuple[Column, ...] = (
    ("number", lambda _ctx, issue: issue.number),
    ("title", lambda _ctx, issue: issue.title),
    ("section", lambda _ctx, issue: issue.section),
    ("status", lambda ctx, issue: ctx.t(f"status.{issue.status}")),
    ("group", lambda ctx, issue: issue.working_group or ctx.t("reports.policy_queue")),
    ("annual_hours", lambda _ctx, issue: issue.annual_hours),
    ("supporters", lambda _ctx, issue: issue.support_count),
    ("problem", _answer("problem")),
    ("ideal", _answer("ideal")),
    ("frequency", _frequency),
    ("minutes", _answer("minutes")),
    ("staff", _answer("staff")),
    ("ideas", _answer("ideas")),
    ("contact", lambda ctx, issue: ctx.t("forms.yes" if issue.contact_ok else "forms.no")),
    ("reporter", lambda _ctx, issue: issue.reporter_name),
    ("reported_on", _reported_on),
)


async def export_issues(ctx: Context) -> None:
    try:
        filters, words = parse_filters(ctx, ctx.args)
    except FilterError as error:
        await ctx.say(ctx.t(error.key, **error.values) + "\n" + ctx.t("export.usage"))
        return
    if len(words) != 1 or fold(words[0]) not in FORMATS:
        await ctx.say(ctx.t("export.usage"))
        return
    file_format = fold(words[0])
    issues = await _issues(ctx, filters)
    if not issues:
        await ctx.say(ctx.t("export.none"))
        return
    headers = [ctx.t(f"export.columns.{key}") for key, _ in COLUMNS]
    rows = [[value(ctx, issue) for _, value in COLUMNS] for issue in issues]
    now = ctx.app.clock.now()
    today = ctx.today()
    filename = f"{FILE_STEM}-{today.isoformat()}.{file_format}"
    if file_format == "csv":
        data, content_type = to_csv(headers, rows), CSV_TYPE
    else:
        data, content_type = to_xlsx(ctx.t("export.sheet_title"), headers, rows), XLSX_TYPE
    queries.audit(
        ctx.session,
        at=now,
        action="issues.exported",
        subject_type="issue",
        subject_id=None,
        actor=(ctx.event.adapter, ctx.event.user.id),
        detail={"format": file_format, "count": len(rows), "filters": filters.in_use},
    )
    await offer_file(
        ctx,
        filename,
        content_type,
        data,
        text_key="export.ready",
        count=len(rows),
        format=file_format.upper(),
    )


async def _issues(ctx: Context, filters: IssueFilters) -> list[Issue]:
    """Newest first, only what this person may see (``issue_scope``)."""
    query = select(Issue).where(issue_scope(ctx), filters.condition())
    query = query.order_by(Issue.created_at.desc(), Issue.id.desc())
    return list(await ctx.session.scalars(query))


def register(app: App) -> None:
    app.subcommand("export", role="leader")(export_issues)
