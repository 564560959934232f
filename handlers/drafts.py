"""``/dx drafts`` and ``/dx resume``: forms left idle are kept as drafts, never lost."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bot.app import App
from bot.context import Context
from bot.forms import store
from bot.forms.definition import pick
from bot.text import normalize


async def list_drafts(ctx: Context) -> None:
    found = await store.drafts(ctx.session, ctx.event.adapter, ctx.event.user.id)
    if not found or ctx.app.forms is None:
        await ctx.say(ctx.t("drafts.none"))
        return
    zone = ZoneInfo(ctx.app.timezone)
    lines = [ctx.t("drafts.title")]
    for n, draft in enumerate(found, start=1):
        form = ctx.app.forms.forms.get(draft.form)
        title = pick(form.title, ctx.locale) if form else draft.form
        started = draft.started_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(
            ctx.t("drafts.line", n=n, title=title, started=started, answered=len(draft.answers))
        )
    lines.append(ctx.t("drafts.footer"))
    keep_days = ctx.app.settings.forms.keep_days
    if keep_days > 0:
        lines.append(ctx.t("drafts.kept_days", days=keep_days))
    await ctx.say("\n".join(lines))


async def resume(ctx: Context) -> None:
    if ctx.app.forms is None:
        return
    wanted = normalize(ctx.args)
    draft_id = None
    if wanted.isdigit():
        found = await store.drafts(ctx.session, ctx.event.adapter, ctx.event.user.id)
        index = int(wanted) - 1
        draft_id = found[index].id if 0 <= index < len(found) else -1
    if not await ctx.app.forms.resume(ctx, draft_id):
        await ctx.say(ctx.t("drafts.cannot_resume"))


def register(app: App) -> None:
    app.subcommand("drafts")(list_drafts)
    app.subcommand("resume")(resume)
