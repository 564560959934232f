"""Leaders' duties in chat: ``/dx duties``, ``/dx done ID``, ``/dx snooze ID [days]``,
``/dx overdue`` (policy staff) and ``/dx duty add|list`` (policy staff to add)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import delete, select

from bot.app import App
from bot.context import Context
from bot.recurrence import RuleError, describe, parse_offset, parse_rule
from bot.text import normalize
from handlers.access import access_of
from handlers.directory import working_groups
from handlers.duty_model import (
    LOOKBACK,
    assignees,
    calendar_of,
    is_assignee,
    occurrences_in,
    when_text,
)
from storage import issue_queries as queries
from storage.duties import Duty, DutyOccurrence

UPCOMING = timedelta(days=14)
_QUOTED = re.compile(r"^(\S+)\s+[「\"](.+?)[」\"]\s+(.+)$")
_OFFSET_SEPARATOR = re.compile(r"[,、，]")


async def my_duties(ctx: Context) -> None:
    """Open duties due in the next two weeks or overdue, for the person asking."""
    now = ctx.app.clock.now()
    calendar = calendar_of(ctx.app)
    lines = []
    groups = await working_groups(ctx.session, ctx.app.settings)
    duties = await ctx.session.scalars(select(Duty).where(Duty.active.is_(True)))
    for duty in duties:
        if not is_assignee(duty, ctx.app.settings, groups, ctx.event.user.id):
            continue
        for row in await occurrences_in(
            ctx.session, duty, now - LOOKBACK, now + UPCOMING, calendar
        ):
            if row.status == "open":
                lines.append((row.due_at, _line(ctx, duty, row, overdue=row.due_at < now)))
    if not lines:
        await ctx.say(ctx.t("duties.none"))
        return
    await ctx.say("\n".join([ctx.t("duties.title"), *(text for _, text in sorted(lines))]))


def _line(ctx: Context, duty: Duty, row: DutyOccurrence, *, overdue: bool) -> str:
    key = "duties.line_overdue" if overdue else "duties.line"
    return ctx.t(
        key,
        id=row.id,
        title=duty.title,
        group=duty.group,
        due=when_text(ctx.app, ctx.locale, row.due_at),
    )


async def _occurrence(ctx: Context, usage: str) -> tuple[DutyOccurrence, Duty] | None:
    word = normalize(ctx.args).split(" ")[0].lstrip("#")
    if not word.isdigit():
        await ctx.say(ctx.t(f"duties.usage.{usage}"))
        return None
    row = await ctx.session.get(DutyOccurrence, int(word))
    duty = await ctx.session.get(Duty, row.duty_id) if row else None
    if row is None or duty is None:
        await ctx.say(ctx.t("duties.not_found", id=word))
        return None
    groups = await working_groups(ctx.session, ctx.app.settings)
    me = ctx.event.user.id
    allowed = is_assignee(duty, ctx.app.settings, groups, me) or access_of(ctx).sees_all
    if not allowed and duty.group not in access_of(ctx).groups:
        await ctx.say(ctx.t("duties.not_yours", id=word))
        return None
    return row, duty


async def mark_done(ctx: Context) -> None:
    found = await _occurrence(ctx, "done")
    if found is None:
        return
    row, duty = found
    if row.status == "done":
        await ctx.say(ctx.t("duties.already_done", id=row.id, title=duty.title))
        return
    now = ctx.app.clock.now()
    row.status, row.done_at, row.done_by = "done", now, ctx.event.user.id
    queries.audit(
        ctx.session,
        at=now,
        action="duty.done",
        subject_type="duty_occurrence",
        subject_id=row.id,
        actor=(ctx.event.adapter, ctx.event.user.id),
        detail={"duty": duty.title, "group": duty.group},
    )
    await ctx.say(ctx.t("duties.done", id=row.id, title=duty.title))


async def snooze(ctx: Context) -> None:
    found = await _occurrence(ctx, "snooze")
    if found is None:
        return
    row, duty = found
    parts = normalize(ctx.args).split(" ")
    days = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 1
    calendar = calendar_of(ctx.app)
    # The snooze button: nothing tomorrow (business day); reminders resume the business day after.
    skipped = calendar.add_business_days(calendar.today(ctx.app.clock.now()), max(1, days))
    row.snoozed_until = calendar.at(calendar.add_business_days(skipped, 1), 0, 0)
    await ctx.say(
        ctx.t(
            "duties.snoozed",
            id=row.id,
            title=duty.title,
            until=when_text(ctx.app, ctx.locale, row.snoozed_until),
        )
    )


async def overdue(ctx: Context) -> None:
    now = ctx.app.clock.now()
    groups = await working_groups(ctx.session, ctx.app.settings)
    rows = await ctx.session.execute(
        select(DutyOccurrence, Duty)
        .join(Duty, Duty.id == DutyOccurrence.duty_id)
        .where(DutyOccurrence.status == "open", DutyOccurrence.due_at < now)
        .order_by(DutyOccurrence.due_at)
    )
    lines = [
        _line(ctx, duty, row, overdue=True)
        + " "
        + ctx.t(
            "duties.assigned_to",
            people=", ".join(assignees(duty, ctx.app.settings, groups)[1]) or "-",
        )
        for row, duty in rows
    ]
    if not lines:
        await ctx.say(ctx.t("duties.no_overdue"))
        return
    await ctx.say("\n".join([ctx.t("duties.overdue_title", count=len(lines)), *lines]))


async def duty_command(ctx: Context) -> None:
    """``/dx duty list``; policy staff: ``add GROUP 「TITLE」 RULE [reminders:…] [assignee:…]``,
    ``change ID [RULE] [reminders:…] [assignee:…]`` and ``remove ID``."""
    action = normalize(ctx.args).partition(" ")[0]
    rest = ctx.args.strip().partition(" ")[2]
    if _is(ctx, action, "list"):
        await _list(ctx)
        return
    steering = {"add": _add, "change": _change, "remove": _remove}
    chosen = next((name for name in steering if _is(ctx, action, name)), None)
    if chosen is None:
        await ctx.say(ctx.t("duties.usage.duty"))
    elif not access_of(ctx).sees_all:
        command = f"/{ctx.app.command_name} duty {chosen}"
        await ctx.say(ctx.t("access.denied", command=command, role=ctx.t("roles.policy")))
    else:
        await steering[chosen](ctx, rest)


def _is(ctx: Context, word: str, action: str) -> bool:
    return word in [*ctx.app.catalog.words(f"duties.words.{action}"), action]


async def _duty_by_id(ctx: Context, text: str) -> tuple[Duty, str] | None:
    word, _, rest = normalize(text).partition(" ")
    duty = await ctx.session.get(Duty, int(word)) if word.isdigit() else None
    if duty is None or not duty.active:
        await ctx.say(ctx.t("duties.duty_not_found", id=word or "-"))
        return None
    return duty, rest


async def _change(ctx: Context, text: str) -> None:
    found = await _duty_by_id(ctx, text)
    if found is None:
        return
    duty, rest = found
    options, rule_text = _options(ctx, rest)
    try:
        rule = parse_rule(rule_text) if rule_text else None
        offsets = _offsets(options.get("reminders", ""))
        for offset in offsets:
            parse_offset(offset)
    except RuleError as error:
        await ctx.say(ctx.t(error.key, **error.values) + "\n" + ctx.t("duties.usage.duty"))
        return
    if rule is not None:
        duty.rule = rule.to_text()
        # Upcoming occurrences of the old rule go; the new rule's appear at the next tick.
        await ctx.session.execute(
            delete(DutyOccurrence).where(
                DutyOccurrence.duty_id == duty.id,
                DutyOccurrence.status == "open",
                DutyOccurrence.due_at >= ctx.app.clock.now(),
            )
        )
    if offsets:
        duty.reminders = {"offsets": offsets}
    if "assignee" in options:
        duty.assignee = options["assignee"]
    _audit_duty(ctx, duty, "duty.changed")
    when = describe(parse_rule(duty.rule), ctx.app.catalog, ctx.locale)
    await ctx.say(ctx.t("duties.changed", id=duty.id, title=duty.title, when=when))


async def _remove(ctx: Context, text: str) -> None:
    found = await _duty_by_id(ctx, text)
    if found is None:
        return
    duty, _ = found
    duty.active = False  # kept for the record; its reminders stop
    _audit_duty(ctx, duty, "duty.removed")
    await ctx.say(ctx.t("duties.removed", id=duty.id, title=duty.title))


def _audit_duty(ctx: Context, duty: Duty, action: str) -> None:
    queries.audit(
        ctx.session,
        at=ctx.app.clock.now(),
        action=action,
        subject_type="duty",
        subject_id=duty.id,
        actor=(ctx.event.adapter, ctx.event.user.id),
        detail={
            "group": duty.group,
            "title": duty.title,
            "rule": duty.rule,
            "assignee": duty.assignee,
            "reminders": duty.reminders,
        },
    )


async def _list(ctx: Context) -> None:
    duties = list(
        await ctx.session.scalars(
            select(Duty).where(Duty.active.is_(True)).order_by(Duty.group, Duty.id)
        )
    )
    if not duties:
        await ctx.say(ctx.t("duties.list_empty"))
        return
    lines = [ctx.t("duties.list_title")]
    for duty in duties:
        try:
            when = describe(parse_rule(duty.rule), ctx.app.catalog, ctx.locale)
        except RuleError:
            when = duty.rule
        lines.append(
            ctx.t("duties.list_line", id=duty.id, group=duty.group, title=duty.title, when=when)
        )
    await ctx.say("\n".join(lines))


def _options(ctx: Context, text: str) -> tuple[dict[str, str], str]:
    """``reminders:3bd@09:00,0d@09:00`` and ``assignee:leader:U1`` (catalogue names too)."""
    found: dict[str, str] = {}
    for name in ("reminders", "assignee"):
        words = [name, *ctx.app.catalog.words(f"duties.words.{name}")]
        pattern = re.compile(r"\s*(?:" + "|".join(map(re.escape, words)) + r")[:：](\S+)")
        match = pattern.search(text)
        if match:
            found[name] = match.group(1)
            text = pattern.sub("", text)
    return found, text.strip()


def _offsets(text: str) -> list[str]:
    """Reminder offsets as typed after ``通知:``; 「、」 and 「，」 separate them as 「,」 does."""
    return [offset for offset in _OFFSET_SEPARATOR.split(text) if offset]


async def _add(ctx: Context, text: str) -> None:
    options, text = _options(ctx, text)
    found = _QUOTED.match(text)
    if found is None:
        await ctx.say(ctx.t("duties.usage.duty"))
        return
    group, title, rule_text = found.groups()
    try:
        rule = parse_rule(rule_text)
        offsets = _offsets(options.get("reminders", ""))
        for offset in offsets:
            parse_offset(offset)
    except RuleError as error:
        await ctx.say(ctx.t(error.key, **error.values) + "\n" + ctx.t("duties.usage.duty"))
        return
    now = ctx.app.clock.now()
    duty = Duty(
        group=group,
        title=title,
        rule=rule.to_text(),
        assignee=options.get("assignee", "leaders"),
        reminders={"offsets": offsets},
        active=True,
        created_by=ctx.event.user.id,
        created_at=now,
    )
    ctx.session.add(duty)
    await ctx.session.flush()
    queries.audit(
        ctx.session,
        at=now,
        action="duty.created",
        subject_type="duty",
        subject_id=duty.id,
        actor=(ctx.event.adapter, ctx.event.user.id),
        detail={"group": group, "title": title, "rule": duty.rule},
    )
    await ctx.say(
        ctx.t(
            "duties.added",
            group=group,
            title=title,
            when=describe(rule, ctx.app.catalog, ctx.locale),
        )
    )


def register(app: App) -> None:
    app.subcommand("duties")(my_duties)
    app.subcommand("done")(mark_done)
    app.subcommand("snooze")(snooze)
    app.subcommand("overdue", role="policy")(overdue)
    app.subcommand("duty")(duty_command)
