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
from handlers.access import issue_scope
from handlers.export_files import CSV_TYPE, XLSX_TYPE, Cell, to_csv, to_xlsx
from handlers.export_filters import ExportRequest, UnknownStatus, UsageError, parse_export
from handlers.reports import FORM
from storage import issue_queries as queries
from storage.issues import STATUSES, Issue

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
        request = parse_export(ctx.args, ctx.app.catalog)
    except UnknownStatus as exc:
        labels = [ctx.t(f"status.{status}") for status in STATUSES]
        valid = ctx.t("forms.list_separator").join(labels)
        await ctx.say(ctx.t("export.unknown_status", value=exc.value, valid=valid))
        return
    except UsageError:
        await ctx.say(ctx.t("export.usage"))
        return
    issues = await _issues(ctx, request)
    if not issues:
        await ctx.say(ctx.t("export.none"))
        return
    headers = [ctx.t(f"export.columns.{key}") for key, _ in COLUMNS]
    rows = [[value(ctx, issue) for _, value in COLUMNS] for issue in issues]
    now = ctx.app.clock.now()
    today = now.astimezone(ZoneInfo(ctx.app.timezone)).date()
    filename = f"{FILE_STEM}-{today.isoformat()}.{request.format}"
    if request.format == "csv":
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
        detail={"format": request.format, "count": len(rows), "filters": request.filters},
    )
    await offer_file(
        ctx,
        filename,
        content_type,
        data,
        text_key="export.ready",
        count=len(rows),
        format=request.format.upper(),
    )


async def _issues(ctx: Context, request: ExportRequest) -> list[Issue]:
    """Newest first, only what this person may see (``issue_scope``)."""
    query = select(Issue).where(issue_scope(ctx))
    if request.statuses:
        query = query.where(Issue.status.in_(request.statuses))
    if request.sections:
        query = query.where(Issue.section.in_(request.sections))
    if request.groups:
        query = query.where(Issue.working_group.in_(request.groups))
    query = query.order_by(Issue.created_at.desc(), Issue.id.desc())
    return list(await ctx.session.scalars(query))


def register(app: App) -> None:
    app.subcommand("export", role="leader")(export_issues)
