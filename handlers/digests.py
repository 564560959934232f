"""Scheduled digests (定期ダイジェスト) and ``/dx digest preview [部会名]``.

Every tick the job looks at the current week and month. A digest whose time has come is claimed
by its run key (``digest:weekly:{group}:{ISO week}``, ``digest:monthly:{YYYY-MM}``, the period it
is posted in) and queued in the same transaction, so several processes post it once. One missed
while the bot was down is still posted within ``digest.grace_hours`` of its time; a later one is
skipped and logged (its run key is taken all the same, so the skip is logged once).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from functools import partial

from bot.adapters.base import Capabilities
from bot.app import App
from bot.context import Context
from bot.jobs import JobContext
from bot.messages import Attachment
from bot.text import fold, normalize
from config.settings import WorkingGroupSettings
from handlers.access import Access, access_of
from handlers.audience import readers
from handlers.digest_chart import CONTENT_TYPE, FILENAME, pipeline_png
from handlers.digest_monthly import build_monthly
from handlers.digest_schedule import (
    Period,
    month_period,
    month_start,
    monthly_moment,
    previous_month,
    previous_weekly,
    week_key,
    week_start,
    weekly_day_and_time,
    weekly_moment,
)
from handlers.digest_text import Digest
from handlers.digest_weekly import build_weekly
from handlers.directory import working_group, working_groups
from handlers.duty_model import calendar_of, when_text
from handlers.reminders import sync_config_duties

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------- the job


async def post_due_digests(job: JobContext) -> None:
    """Post every digest that is due and not yet posted (or skipped) for its period."""
    if not job.app.settings.digest.enabled:
        return
    due = []
    for group in await working_groups(job.session, job.app.settings):
        period = await _weekly_due(job, group)
        if period is not None:
            due.append((group, period))
    if due:
        await sync_config_duties(job)  # the groups' duties, even before the reminder job ran
    for group, period in due:
        weekly = partial(build_weekly, job.session, job.app, group, period, job.now)
        # No channel: each leader in their direct chat, as the group's other notices go.
        users = () if group.channel else group.leaders
        await _post(job, weekly, group.adapter, group.channel, users)
    await _monthly(job)


async def _weekly_due(job: JobContext, group: WorkingGroupSettings) -> Period | None:
    """The period of the group's digest if it is due now and this process claimed it."""
    if not (group.channel or group.leaders):
        return None
    calendar = calendar_of(job.app)
    day, time = weekly_day_and_time(group, job.app.settings.digest)
    monday = week_start(calendar.today(job.now))
    moment = weekly_moment(calendar, monday, day, time)
    if moment is None or job.now < moment:
        return None
    if not await _claim_in_time(job, f"digest:weekly:{group.name}:{week_key(monday)}", moment):
        return None
    return Period(previous_weekly(calendar, moment, day, time, strict=True), moment)


async def _monthly(job: JobContext) -> None:
    settings = job.app.settings
    policy = settings.policy
    if not (policy.channel or policy.users):
        return
    calendar = calendar_of(job.app)
    first = month_start(calendar.today(job.now))
    moment = monthly_moment(
        calendar, first, settings.digest.monthly_business_day, settings.digest.monthly_time
    )
    if job.now < moment or not await _claim_in_time(job, f"digest:monthly:{first:%Y-%m}", moment):
        return
    period = month_period(calendar, previous_month(first))
    monthly = partial(build_monthly, job.session, job.app, period)
    await _post(job, monthly, policy.adapter, policy.channel, policy.users)


async def _claim_in_time(job: JobContext, key: str, moment: datetime) -> bool:
    """Claim the period's run key; True if the digest is to be posted now, not too late."""
    if not await job.claim(key):
        return False
    grace = timedelta(hours=job.app.settings.digest.grace_hours)
    late = job.now - moment
    if late > grace:
        log.warning("digest %s skipped: due at %s, %s late (grace %s)", key, moment, late, grace)
        return False
    return True


async def _post(
    job: JobContext,
    build: Callable[[str], Awaitable[Digest]],
    adapter: str,
    channel: str | None,
    users: Sequence[str],
) -> None:
    """The channel gets the digest in the town's language, each user in their own (written
    and charted once per language)."""
    default = job.app.default_locale
    digests = {default: await build(default)}
    if digests[default].empty and not job.app.settings.digest.post_empty:
        log.info("digest for %s: nothing new, nothing posted (digest.post_empty)", channel or users)
        return
    charts: dict[str, Attachment | None] = {}

    async def written_in(locale: str) -> tuple[Digest, Attachment | None]:
        if locale not in digests:
            digests[locale] = await build(locale)
        if locale not in charts:
            charts[locale] = chart_for(job.app, digests[locale], adapter, locale)
        return digests[locale], charts[locale]

    for reader in await readers(job.session, job.app, adapter, channel=channel, people=users):
        digest, chart = await written_in(reader.locale)
        await job.send(reader.message(digest.text, attachment=chart), adapter)


def chart_for(app: App, digest: Digest, adapter: str, locale: str) -> Attachment | None:
    """The pipeline chart where the platform shows images and matplotlib is installed."""
    images = app.capabilities.get(adapter, Capabilities()).images
    if not (digest.pipeline and images and app.settings.digest.chart):
        return None
    data = pipeline_png(digest.pipeline, app.catalog, locale)
    return Attachment(FILENAME, CONTENT_TYPE, data) if data else None


# --------------------------------------------------------------------- the preview


async def digest_command(ctx: Context) -> None:
    """``/dx digest preview [部会名]``: policy staff get the monthly digest (or the named
    group's weekly one), a leader their own group's weekly digest, as it would read now."""
    word, _, name = normalize(ctx.args).partition(" ")
    words = {fold(w) for w in ["preview", *ctx.app.catalog.words("digests.words.preview")]}
    if fold(word) not in words:
        await ctx.say(ctx.t("digests.usage.digest"))
        return
    access = access_of(ctx)
    if name.strip():
        await _preview_named(ctx, access, name.strip())
    elif access.sees_all:
        await _preview_monthly(ctx)
    else:
        known = await working_groups(ctx.session, ctx.app.settings)
        mine = [g for g in known if g.name in access.groups]
        if not mine:
            await ctx.say(ctx.t("digests.no_group"))
        for group in mine:
            await _preview_weekly(ctx, group)


async def _preview_named(ctx: Context, access: Access, name: str) -> None:
    """A named group's week: its own leaders and policy staff only."""
    group = await working_group(ctx.session, ctx.app.settings, name)
    if group is None:
        known = await working_groups(ctx.session, ctx.app.settings)
        names = ctx.t("forms.list_separator").join(g.name for g in known) or "-"
        await ctx.say(ctx.t("digests.unknown_group", group=name, groups=names))
    elif not (access.sees_all or group.name in access.groups):
        await ctx.say(ctx.t("digests.not_your_group", group=group.name))
    else:
        await _preview_weekly(ctx, group)


async def _preview_weekly(ctx: Context, group: WorkingGroupSettings) -> None:
    now = ctx.app.clock.now()
    await sync_config_duties(JobContext(ctx.app, ctx.session, now))
    day, time = weekly_day_and_time(group, ctx.app.settings.digest)
    start = previous_weekly(calendar_of(ctx.app), now, day, time, strict=False)
    digest = await build_weekly(ctx.session, ctx.app, group, Period(start, now), now, ctx.locale)
    await _say_preview(ctx, digest)


async def _preview_monthly(ctx: Context) -> None:
    now = ctx.app.clock.now()
    calendar = calendar_of(ctx.app)
    period = month_period(calendar, month_start(calendar.today(now)), end=now)
    await _say_preview(ctx, await build_monthly(ctx.session, ctx.app, period, ctx.locale))


async def _say_preview(ctx: Context, digest: Digest) -> None:
    note = ctx.t("digests.preview_note", when=when_text(ctx.app, ctx.locale, ctx.app.clock.now()))
    attachment = chart_for(ctx.app, digest, ctx.event.adapter, ctx.locale)
    await ctx.say(f"{note}\n{digest.text}", attachment=attachment)


def register(app: App) -> None:
    app.job("digests.post", seconds=app.settings.digest.tick_seconds)(post_due_digests)
    app.subcommand("digest", role="leader")(digest_command)
