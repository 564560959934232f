"""The issue lifecycle (the municipal method's stages) and what a status change does.

受付 → 課題整理 → 解決策検討 → 試験導入 → 本格導入 → 完了; 保留 and 見送り from any open
stage. One table says which moves are allowed; every move is kept in the history and the
audit trail, and the reporter and the working group are told.
"""

from __future__ import annotations

from collections.abc import Mapping

from bot.context import Context
from bot.text import fold
from handlers.audience import readers
from handlers.directory import working_group
from storage import issue_queries as queries
from storage.issues import STATUSES, Issue, IssueEvent

_FORWARD = ("received", "triage", "solution", "pilot", "implemented", "closed")
_PAUSABLE = ("received", "triage", "solution", "pilot", "implemented")

TRANSITIONS: dict[str, frozenset[str]] = {
    # one stage on or one back; hold or decline while open
    **{
        stage: frozenset(
            {_FORWARD[i + 1], *(_FORWARD[i - 1 : i] if i else ()), "on_hold", "declined"}
        )
        for i, stage in enumerate(_PAUSABLE)
    },
    "on_hold": frozenset(_PAUSABLE) | {"declined"},  # resume at any open stage
    "declined": frozenset({"received"}),  # reopen
    "closed": frozenset({"implemented"}),  # reopen the last stage
}


def allowed_moves(status: str) -> list[str]:
    """Allowed next statuses, in the method's order."""
    return [s for s in STATUSES if s in TRANSITIONS.get(status, frozenset())]


def parse_status(ctx: Context, text: str) -> str | None:
    """受付 / received / 1 … → the status key; aliases come from the catalogue."""
    wanted = fold(text)
    for status in STATUSES:
        words = [status, *ctx.app.catalog.words(f"status_aliases.{status}")]
        words += [
            ctx.app.catalog.t(locale, f"status.{status}") for locale in ctx.app.catalog.locales
        ]
        if wanted in {fold(w) for w in words}:
            return status
    return None


def record(
    ctx: Context,
    issue: Issue,
    kind: str,
    *,
    before: str | None,
    after: str | None,
    comment: str | None,
) -> None:
    """History row and audit record for one change, by the person handling this event."""
    now = ctx.app.clock.now()
    actor = (ctx.event.adapter, ctx.event.user.id)
    ctx.session.add(
        IssueEvent(
            issue_id=issue.id,
            at=now,
            actor_adapter=actor[0],
            actor_id=actor[1],
            actor_name=ctx.user.name if ctx.user else actor[1],
            kind=kind,
            from_value=before,
            to_value=after,
            comment=comment,
        )
    )
    queries.audit(
        ctx.session,
        at=now,
        action=f"issue.{kind}",
        subject_type="issue",
        subject_id=issue.id,
        actor=actor,
        detail={"number": issue.number, "from": before, "to": after},
        note=comment,
    )
    issue.updated_at = now


async def move(ctx: Context, issue: Issue, status: str, comment: str | None) -> None:
    """Change the status (already checked as allowed) and tell the people concerned."""
    before = issue.status
    issue.status = status
    record(ctx, issue, "status", before=before, after=status, comment=comment)
    await notify(
        ctx,
        issue,
        "lifecycle.status_changed",
        labels={"before": f"status.{before}", "after": f"status.{status}"},
        comment=comment or "",
    )


async def notify(
    ctx: Context,
    issue: Issue,
    key: str,
    *,
    labels: Mapping[str, str] | None = None,
    **values: str,
) -> None:
    """The reporter (in their direct chat, in their language) and the working group's channel
    (in the town's) hear of it. ``labels`` are catalogue keys, written in each reader's
    language (a status name, say)."""

    def text(locale: str) -> str:
        catalog = ctx.app.catalog
        named = {name: catalog.t(locale, label) for name, label in (labels or {}).items()}
        line = catalog.t(locale, key, number=issue.number, title=issue.title, **values, **named)
        if values.get("comment"):
            line += "\n" + catalog.t(locale, "lifecycle.comment_line", comment=values["comment"])
        return line

    acting = (ctx.event.adapter, ctx.event.user.id)
    reporter = [] if (issue.reporter_adapter, issue.reporter_id) == acting else [issue.reporter_id]
    for reader in await readers(ctx.session, ctx.app, issue.reporter_adapter, people=reporter):
        await ctx.send(reader.message(text(reader.locale)), issue.reporter_adapter)
    group = await working_group(ctx.session, ctx.app.settings, issue.working_group)
    if group is not None and group.channel and group.channel != ctx.event.conversation.id:
        for reader in await readers(ctx.session, ctx.app, group.adapter, channel=group.channel):
            await ctx.send(reader.message(text(reader.locale)), group.adapter)
