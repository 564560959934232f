"""Steering issues: ``/dx move``, ``/dx assign``, ``/dx comment``; and ``/dx whoami``."""

from __future__ import annotations

from bot.app import App
from bot.context import Context
from bot.text import fold, normalize
from handlers.access import access_of, can_see, can_steer, deny_issue
from handlers.audience import readers
from handlers.directory import working_groups
from handlers.issue_refs import find_issue
from handlers.lifecycle import allowed_moves, move, notify, parse_status, record
from storage.issues import Issue


async def _target(ctx: Context, usage: str, *, steer: bool) -> tuple[Issue, list[str]] | None:
    """The issue named first in the arguments, checked against the person's scope."""
    parts = normalize(ctx.args).split(" ", 1) if ctx.args.strip() else []
    if not parts:
        await ctx.say(ctx.t(f"issues.usage.{usage}"))
        return None
    issue = await find_issue(ctx, parts[0])
    if issue is None:
        await ctx.say(ctx.t("issues.not_found", ref=parts[0]))
        return None
    allowed = can_steer(ctx, issue) if steer else can_see(ctx, issue)
    if not allowed:
        await deny_issue(ctx, issue.number)
        return None
    return issue, parts[1:]


async def move_issue(ctx: Context) -> None:
    found = await _target(ctx, "move", steer=True)
    if found is None:
        return
    issue, rest = found
    if not rest:
        await ctx.say(ctx.t("issues.usage.move"))
        return
    word, _, comment = rest[0].partition(" ")
    status = parse_status(ctx, word)
    if status is None:
        await ctx.say(ctx.t("issues.unknown_status", status=word, allowed=_labels(ctx, issue)))
        return
    if status not in allowed_moves(issue.status):
        await ctx.say(
            ctx.t(
                "issues.move_refused",
                number=issue.number,
                current=ctx.t(f"status.{issue.status}"),
                wanted=ctx.t(f"status.{status}"),
                allowed=_labels(ctx, issue),
            )
        )
        return
    before = issue.status
    await move(ctx, issue, status, comment.strip() or None)
    await ctx.say(
        ctx.t(
            "issues.moved",
            number=issue.number,
            before=ctx.t(f"status.{before}"),
            after=ctx.t(f"status.{status}"),
        )
    )


def _labels(ctx: Context, issue: Issue) -> str:
    return (
        ctx.t("forms.list_separator").join(
            ctx.t(f"status.{s}") for s in allowed_moves(issue.status)
        )
        or "-"
    )


async def assign_issue(ctx: Context) -> None:
    found = await _target(ctx, "assign", steer=True)
    if found is None:
        return
    issue, rest = found
    if not rest:
        await ctx.say(ctx.t("issues.usage.assign"))
        return
    target = rest[0].strip()
    before = issue.assignee or issue.working_group or ""
    if target.startswith("@") and len(target) > 1:
        issue.assignee = target[1:]
        after = target
    elif not access_of(ctx).sees_all:
        await ctx.say(ctx.t("issues.group_change_denied", number=issue.number))
        return
    else:
        known = await working_groups(ctx.session, ctx.app.settings)
        group = {fold(g.name): g.name for g in known}.get(fold(target))
        if group is None:
            names = ctx.t("forms.list_separator").join(g.name for g in known) or "-"
            await ctx.say(ctx.t("issues.unknown_group", group=target, groups=names))
            return
        issue.working_group, issue.assignee = group, None
        after = group
    record(ctx, issue, "assign", before=before or None, after=after, comment=None)
    await notify(ctx, issue, "lifecycle.assigned", to=after)
    if issue.assignee and issue.assignee != ctx.event.user.id:
        await _tell_assignee(ctx, issue, issue.assignee)
    await ctx.say(ctx.t("issues.assigned", number=issue.number, to=after))


async def _tell_assignee(ctx: Context, issue: Issue, person: str) -> None:
    """The person now in charge hears of it directly, in their language (same platform)."""
    adapter = ctx.event.adapter
    name = ctx.user.name if ctx.user else ctx.event.user.id
    for reader in await readers(ctx.session, ctx.app, adapter, people=[person]):
        text = ctx.app.catalog.t(
            reader.locale,
            "lifecycle.assigned_to_you",
            number=issue.number,
            title=issue.title,
            name=name,
        )
        await ctx.send(reader.message(text), adapter)


async def comment_issue(ctx: Context) -> None:
    found = await _target(ctx, "comment", steer=False)
    if found is None:
        return
    issue, rest = found
    text = rest[0].strip() if rest else ""
    if not text:
        await ctx.say(ctx.t("issues.usage.comment"))
        return
    reporter = (issue.reporter_adapter, issue.reporter_id) == (ctx.event.adapter, ctx.event.user.id)
    if not (reporter or can_steer(ctx, issue)):
        await deny_issue(ctx, issue.number)
        return
    record(ctx, issue, "comment", before=None, after=None, comment=text)
    await notify(
        ctx, issue, "lifecycle.commented", name=ctx.user.name if ctx.user else "", comment=text
    )
    await ctx.say(ctx.t("issues.commented", number=issue.number))


async def whoami(ctx: Context) -> None:
    access = access_of(ctx)
    groups = ctx.t("forms.list_separator").join(access.groups) or "-"
    await ctx.say(
        ctx.t(
            "issues.whoami",
            name=ctx.user.name if ctx.user else ctx.event.user.id,
            id=ctx.event.user.id,
            platform=_named(ctx, "platforms", ctx.event.adapter),
            role=ctx.t(f"roles.{access.role}"),
            groups=groups,
            language=_named(ctx, "languages", ctx.locale),
        )
    )


def _named(ctx: Context, table: str, name: str) -> str:
    """A platform's or language's name for people, or its code where the catalogue has none
    (an adapter added by a site)."""
    key = f"{table}.{name}"
    return ctx.t(key) if ctx.app.catalog.has(ctx.locale, key) else name


def register(app: App) -> None:
    app.subcommand("move", role="leader")(move_issue)
    app.subcommand("assign", role="leader")(assign_issue)
    app.subcommand("comment")(comment_issue)
    app.subcommand("whoami")(whoami)
