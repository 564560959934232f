"""Who may see and do what: staff (own issues), leaders (their groups), policy and admin (all).

The role comes from the directory (``staff.role`` and the groups a person leads, loaded
into ``ctx.user`` by ``identify_user``) and from the configuration (group leaders, policy
users, admins); the strongest wins. Command checks run in one place, the
command router's guard, never as scattered ifs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, true

from bot.app import App
from bot.commands import Subcommand
from bot.context import Context
from storage.issues import Issue

log = logging.getLogger(__name__)

ROLES = ("staff", "leader", "policy", "admin")


@dataclass(frozen=True, slots=True)
class Access:
    role: str
    groups: tuple[str, ...]  # the working groups this person leads

    def at_least(self, role: str) -> bool:
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def sees_all(self) -> bool:
        return self.at_least("policy")


def access_of(ctx: Context) -> Access:
    """Synchronous on purpose: the directory's part was loaded with the user."""
    settings = ctx.app.settings
    me = ctx.event.user.id
    configured = [g.name for g in settings.groups if me in g.leaders]
    groups = tuple(dict.fromkeys([*configured, *(ctx.user.groups if ctx.user else ())]))
    candidates = [ctx.user.role if ctx.user else "staff"]
    if groups:
        candidates.append("leader")
    if me in settings.policy.users:
        candidates.append("policy")
    if me in settings.policy.admins:
        candidates.append("admin")
    role = max((r for r in candidates if r in ROLES), key=ROLES.index, default="staff")
    return Access(role=role, groups=groups)


def issue_scope(ctx: Context, access: Access | None = None) -> ColumnElement[bool]:
    """SQL condition for the issues this person may see."""
    access = access or access_of(ctx)
    if access.sees_all:
        return true()
    own = and_(Issue.reporter_adapter == ctx.event.adapter, Issue.reporter_id == ctx.event.user.id)
    led = Issue.working_group.in_(access.groups) if access.groups else false()
    assigned = Issue.assignee == ctx.event.user.id
    return or_(own, led, assigned)


def can_see(ctx: Context, issue: Issue, access: Access | None = None) -> bool:
    access = access or access_of(ctx)
    if access.sees_all:
        return True
    own = (issue.reporter_adapter, issue.reporter_id) == (ctx.event.adapter, ctx.event.user.id)
    return own or issue.working_group in access.groups or issue.assignee == ctx.event.user.id


def can_steer(ctx: Context, issue: Issue, access: Access | None = None) -> bool:
    """Move, assign within the group, comment as the group: leaders of its group and up."""
    access = access or access_of(ctx)
    if access.sees_all:
        return True
    return access.at_least("leader") and (
        issue.working_group in access.groups or issue.assignee == ctx.event.user.id
    )


async def guard(ctx: Context, subcommand: Subcommand) -> bool:
    """The router asks before running a subcommand; a refusal is explained and logged."""
    access = access_of(ctx)
    if access.at_least(subcommand.role):
        return True
    log.warning(
        "denied /%s %s to %s:%s (role %s, needs %s)",
        ctx.app.command_name,
        subcommand.name,
        ctx.event.adapter,
        ctx.event.user.id,
        access.role,
        subcommand.role,
    )
    await ctx.say(
        ctx.t(
            "access.denied",
            command=f"/{ctx.app.command_name} {subcommand.name}",
            role=ctx.t(f"roles.{subcommand.role}"),
        )
    )
    return False


async def deny_issue(ctx: Context, number: str) -> None:
    """Seeing or changing an issue outside one's scope: same polite answer, logged."""
    log.warning("denied access to issue %s for %s:%s", number, ctx.event.adapter, ctx.event.user.id)
    await ctx.say(ctx.t("access.issue_denied", number=number))


def register(app: App) -> None:
    app.commands.guard = guard
