"""Reading issues: ``/dx status``, ``/dx list``, ``/dx show N``, ``/dx search WORDS``."""

from __future__ import annotations

from dataclasses import replace
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.app import COMMAND_ACTION, App
from bot.context import Context
from bot.forms.definition import pick
from bot.forms.values import display
from bot.messages import Choice
from handlers.access import access_of, can_see, can_steer, deny_issue, issue_scope
from handlers.filters import FilterError, parse_filters
from handlers.issue_refs import find_issue
from handlers.lifecycle import allowed_moves
from handlers.reports import FORM, format_hours
from storage import issue_queries as queries
from storage.issues import STATUSES, Issue, IssueEvent

PAGE_SIZE = 10


def _date(ctx: Context, issue: Issue) -> str:
    return issue.created_at.astimezone(ZoneInfo(ctx.app.timezone)).strftime("%Y-%m-%d")


def issue_line(ctx: Context, issue: Issue) -> str:
    return ctx.t(
        "issues.line",
        number=issue.number,
        title=issue.title,
        section=issue.section,
        status=ctx.t(f"status.{issue.status}"),
        hours=format_hours(issue.annual_hours),
        supporters=issue.support_count,
    )


async def pipeline(ctx: Context) -> None:
    """Counts by status within what this person may see, and this fiscal year's total."""
    scope = issue_scope(ctx)
    rows = await ctx.session.execute(
        select(Issue.status, func.count()).where(scope).group_by(Issue.status)
    )
    counts = {status: count for status, count in rows}
    today = ctx.today()
    fy = queries.fiscal_year(today)
    this_year = await ctx.session.scalar(
        select(func.count()).select_from(Issue).where(scope, Issue.fiscal_year == fy)
    )
    lines = [
        ctx.t(
            "issues.pipeline_title",
            year=fy - queries.REIWA_OFFSET,
            this_year=this_year or 0,
            total=sum(counts.values()),
        )
    ]
    for status in STATUSES:
        lines.append(
            ctx.t(
                "issues.pipeline_line",
                status=ctx.t(f"status.{status}"),
                count=counts.get(status, 0),
            )
        )
    await ctx.say("\n".join(lines))


async def list_issues(ctx: Context) -> None:
    try:
        filters, words = parse_filters(ctx, ctx.args)
        if any(not word.isdigit() for word in words):
            raise FilterError("filters.unknown", token=next(w for w in words if not w.isdigit()))
    except FilterError as error:
        await ctx.say(ctx.t(error.key, **error.values) + "\n" + ctx.t("issues.usage.list"))
        return
    if words:
        filters = replace(filters, page=max(1, int(words[-1])))
    where = (issue_scope(ctx), filters.condition())
    total = await ctx.session.scalar(select(func.count()).select_from(Issue).where(*where)) or 0
    if total == 0:
        await ctx.say(ctx.t("issues.list_empty"))
        return
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(filters.page, pages)
    issues = await ctx.session.scalars(
        select(Issue)
        .where(*where)
        .order_by(Issue.fiscal_year.desc(), Issue.seq.desc())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    first = (page - 1) * PAGE_SIZE + 1
    lines = [
        ctx.t(
            "issues.list_title",
            total=total,
            first=first,
            last=min(total, page * PAGE_SIZE),
            page=page,
            pages=pages,
        )
    ]
    lines += [issue_line(ctx, issue) for issue in issues]
    choices = []
    if page < pages:
        command = _next_page(ctx, page + 1)
        lines.append(ctx.t("issues.list_next", command=f"/{ctx.app.command_name} {command}"))
        choices.append(Choice(ctx.t("issues.next_button"), COMMAND_ACTION, command))
    await ctx.say("\n".join(lines), choices=choices)


def _next_page(ctx: Context, page: int) -> str:
    kept = [t for t in ctx.args.split() if not t.isdigit() and not t.startswith("page:")]
    return " ".join(["list", *kept, str(page)])


async def show_issue(ctx: Context) -> None:
    if not ctx.args:
        await ctx.say(ctx.t("issues.usage.show"))
        return
    issue = await find_issue(ctx, ctx.args.split()[0])
    if issue is None:
        await ctx.say(ctx.t("issues.not_found", ref=ctx.args.split()[0]))
        return
    access = access_of(ctx)
    if not can_see(ctx, issue, access):
        await deny_issue(ctx, issue.number)
        return
    lines = _details(ctx, issue)
    history = await ctx.session.scalars(
        select(IssueEvent)
        .where(IssueEvent.issue_id == issue.id)
        .order_by(IssueEvent.id.desc())
        .limit(5)
    )
    events = list(history)
    if events:
        lines.append(ctx.t("issues.history_title"))
        lines += [_event_line(ctx, e) for e in reversed(events)]
    choices = []
    if can_steer(ctx, issue, access):
        choices = [
            Choice(
                ctx.t("issues.move_button", status=ctx.t(f"status.{s}")),
                COMMAND_ACTION,
                f"move {issue.number} {s}",
            )
            for s in allowed_moves(issue.status)
        ]
        moves = ctx.t("forms.list_separator").join(
            ctx.t(f"status.{s}") for s in allowed_moves(issue.status)
        )
        lines.append(ctx.t("issues.moves_hint", number=issue.number, moves=moves or "-"))
    await ctx.say("\n".join(lines), choices=choices)


def _details(ctx: Context, issue: Issue) -> list[str]:
    lines = [
        ctx.t("issues.show_title", number=issue.number, title=issue.title),
        ctx.t(
            "issues.show_status",
            status=ctx.t(f"status.{issue.status}"),
            group=issue.working_group or ctx.t("reports.policy_queue"),
            assignee=issue.assignee or "-",
            supporters=issue.support_count,
        ),
        ctx.t(
            "issues.show_reporter",
            section=issue.section,
            name=issue.reporter_name,
            date=_date(ctx, issue),
            hours=format_hours(issue.annual_hours),
        ),
    ]
    form = ctx.app.forms.forms.get(FORM) if ctx.app.forms else None
    if form is not None:
        for step in form.steps:
            if step.id in issue.answers and step.id not in ("section", "work"):
                value = display(
                    step, issue.answers[step.id], catalog=ctx.app.catalog, locale=ctx.locale
                )
                lines.append(f"{pick(step.label, ctx.locale)}: {value}")
    return lines


def _event_line(ctx: Context, event: IssueEvent) -> str:
    when = event.at.astimezone(ZoneInfo(ctx.app.timezone)).strftime("%Y-%m-%d")
    if event.kind == "status":
        change = ctx.t(
            "issues.history_status",
            before=ctx.t(f"status.{event.from_value}"),
            after=ctx.t(f"status.{event.to_value}"),
        )
    elif event.kind == "assign":
        change = ctx.t("issues.history_assign", after=event.to_value or "-")
    else:
        change = ctx.t("issues.history_comment")
    note = ctx.t("issues.history_note", comment=event.comment) if event.comment else ""
    return ctx.t("issues.history_line", date=when, name=event.actor_name, change=change, note=note)


async def search(ctx: Context) -> None:
    words = ctx.args.strip()
    if not words:
        await ctx.say(ctx.t("issues.usage.search"))
        return
    found = await queries.search_issues(ctx.session, words, scope=issue_scope(ctx))
    if not found:
        await ctx.say(ctx.t("issues.search_none", words=words))
        return
    lines = [ctx.t("issues.search_title", words=words, count=len(found))]
    lines += [issue_line(ctx, issue) for issue in found]
    await ctx.say("\n".join(lines))


def register(app: App) -> None:
    app.subcommand("status")(pipeline)
    app.subcommand("list")(list_issues)
    app.subcommand("show")(show_issue)
    app.subcommand("search")(search)
