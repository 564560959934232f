"""課題報告: any staff member reports a business problem through the issue_report form."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from bot.app import App
from bot.context import Context
from bot.forms.definition import FormDefinition, FormDefinitionError
from bot.forms.engine import FormEngine, Interjection
from handlers.audience import readers
from handlers.directory import working_group, working_groups
from handlers.keywords import keyword_pattern
from handlers.routing import route
from storage import issue_queries as queries
from storage.forms import FormSession
from storage.issues import Issue

FORM = "issue_report"
START_ACTION = "report.start"

# Occurrences a year for each answer to 発生頻度 (250 business days a year for 毎日).
OCCURRENCES_PER_YEAR = {"daily": 250, "weekly": 52, "monthly": 12, "yearly": 4}


REQUIRED_STEPS = ("section", "work", "problem", "ideal", "frequency", "minutes", "staff", "contact")


def check_form(form: FormDefinition) -> None:
    """The report reads these answers: a municipality may reword the form, not remove them."""
    ids = {step.id for step in form.steps}
    missing = [s for s in REQUIRED_STEPS if s not in ids]
    if missing:
        raise FormDefinitionError(f"{FORM}: steps {missing} are required by the report")
    unknown = {o.value for o in form.step("frequency").options} - set(OCCURRENCES_PER_YEAR)
    if unknown:
        raise FormDefinitionError(
            f"{FORM}: frequency values {sorted(unknown)} must be among {list(OCCURRENCES_PER_YEAR)}"
        )


def annual_hours(frequency: str, minutes: float, staff: int) -> float:
    """Estimated hours a year the problem costs (削減時間の見込み): used to prioritise."""
    return round(OCCURRENCES_PER_YEAR[frequency] * minutes / 60 * staff, 1)


def format_hours(hours: float) -> str:
    """375.0 → "375", 12.5 → "12.5": hours as people say them."""
    return str(int(hours)) if float(hours).is_integer() else f"{hours:.1f}"


def _searchable(answers: dict[str, Any]) -> str:
    return " ".join(str(answers.get(k) or "") for k in ("work", "problem", "ideal"))


async def start_report(ctx: Context) -> None:
    if not ctx.event.is_direct:
        await ctx.say(ctx.t("reports.direct_only"))
        return
    assert ctx.app.forms is not None
    await ctx.app.forms.start(ctx, FORM)


async def submit_report(ctx: Context, row: FormSession) -> None:
    """Create the issue, give the reporter a receipt, and tell whoever it is routed to."""
    answers = row.answers
    now = ctx.app.clock.now()
    fy = queries.fiscal_year(ctx.today())
    seq = await queries.next_seq(ctx.session, fy)
    groups = await working_groups(ctx.session, ctx.app.settings)
    group = route(groups, answers["section"], _searchable(answers))
    issue = Issue(
        number=queries.issue_number(fy, seq),
        fiscal_year=fy,
        seq=seq,
        title=answers["work"],
        section=answers["section"],
        section_known="section" not in row.progress.get("unlisted", []),
        status="received",
        working_group=group.name if group else None,
        reporter_adapter=row.adapter,
        reporter_id=row.user_id,
        reporter_name=ctx.user.name if ctx.user else row.user_id,
        answers=answers,
        annual_hours=annual_hours(answers["frequency"], answers["minutes"], answers["staff"]),
        contact_ok=bool(answers.get("contact")),
        support_count=0,
        form_session_id=row.id,
        created_at=now,
        updated_at=now,
    )
    ctx.session.add(issue)
    await ctx.session.flush()
    await queries.index_text(ctx.session, issue.id, _searchable(answers))
    queries.audit(
        ctx.session,
        at=now,
        action="issue.created",
        subject_type="issue",
        subject_id=issue.id,
        actor=(row.adapter, row.user_id),
        detail={"number": issue.number, "working_group": issue.working_group},
    )
    destination = group.name if group else ctx.t("reports.policy_queue")
    await ctx.say(
        ctx.t(
            "reports.receipt",
            number=issue.number,
            hours=format_hours(issue.annual_hours),
            group=destination,
        )
    )
    await _notify(ctx, issue)


async def _notify(ctx: Context, issue: Issue) -> None:
    """Tell the working group's channel (in the town's language) and its leaders (each in
    theirs), or policy staff for the queue."""
    settings = ctx.app.settings
    group = await working_group(ctx.session, settings, issue.working_group)
    adapter = group.adapter if group else settings.policy.adapter
    channel = group.channel if group else settings.policy.channel
    people = group.leaders if group else settings.policy.users

    def text(locale: str) -> str:
        catalog = ctx.app.catalog
        return catalog.t(
            locale,
            "reports.new_issue_notice",
            number=issue.number,
            title=issue.title,
            section=issue.section,
            hours=format_hours(issue.annual_hours),
            group=issue.working_group or catalog.t(locale, "reports.policy_queue"),
        )

    for reader in await readers(ctx.session, ctx.app, adapter, channel=channel, people=people):
        await ctx.send(reader.message(text(reader.locale)), adapter=adapter)


async def similar_check(ctx: Context, row: FormSession) -> Interjection | None:
    """Before submitting, show up to three open issues that read alike."""
    found = await queries.similar_open_issues(ctx.session, _searchable(row.answers))
    if not found:
        return None
    lines = [ctx.t("reports.similar_intro")]
    choices = []
    for issue, _score in found:
        lines.append(
            ctx.t(
                "reports.similar_line",
                number=issue.number,
                title=issue.title,
                section=issue.section,
                supporters=issue.support_count,
            )
        )
        choices.append((ctx.t("reports.same_button", number=issue.number), f"same:{issue.id}"))
    lines.append(ctx.t("reports.similar_footer"))
    choices.append((ctx.t("reports.new_button"), "new"))
    return Interjection("\n".join(lines), tuple(choices))


async def similar_choice(ctx: Context, row: FormSession, payload: str) -> bool:
    """「同じ課題です」 records support on that issue instead of a new one (returns True)."""
    kind, _, raw_id = payload.partition(":")
    if kind != "same" or not raw_id.isdigit():
        return False
    issue = await ctx.session.get(Issue, int(raw_id))
    if issue is None:
        return False
    now = ctx.app.clock.now()
    new = await queries.add_support(ctx.session, issue, row.adapter, row.user_id, now)
    if new:
        queries.audit(
            ctx.session,
            at=now,
            action="issue.supported",
            subject_type="issue",
            subject_id=issue.id,
            actor=(row.adapter, row.user_id),
            detail={"form_session_id": row.id, "answers": row.answers},
        )
    key = "reports.supported" if new else "reports.already_supported"
    await ctx.say(ctx.t(key, number=issue.number, supporters=issue.support_count))
    return True


async def sections(ctx: Context) -> list[str]:
    return await queries.section_names(ctx.session, ctx.app.settings.directory.sections)


async def show_mine(ctx: Context) -> None:
    issues = await queries.issues_of_reporter(ctx.session, ctx.event.adapter, ctx.event.user.id)
    if not issues:
        await ctx.say(ctx.t("reports.mine_none"))
        return
    lines = [ctx.t("reports.mine_title")]
    for issue in issues:
        lines.append(
            ctx.t(
                "reports.mine_line",
                number=issue.number,
                title=issue.title,
                status=ctx.t(f"status.{issue.status}"),
                date=issue.created_at.astimezone(ZoneInfo(ctx.app.timezone)).strftime("%Y-%m-%d"),
            )
        )
    await ctx.say("\n".join(lines))


def register(app: App) -> None:
    forms: FormEngine | None = app.forms
    assert forms is not None, "reports need the form engine (App.use_forms)"
    check_form(forms.forms[FORM])
    forms.on_submit(FORM)(submit_report)
    forms.source("sections")(sections)
    forms.before_submit(FORM, similar_check, similar_choice)
    app.subcommand("report")(start_report)
    app.subcommand("mine")(show_mine)
    app.action(START_ACTION)(start_report)
    app.message(keyword_pattern(app.catalog, "keywords.report"))(start_report)
    app.menu.append(("reports.menu_label", START_ACTION))
