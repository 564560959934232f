"""``/dx lang ja|en``: each person chooses the language the bot speaks to them."""

from __future__ import annotations

from sqlalchemy import update

from bot.app import App
from bot.context import Context
from bot.text import fold
from storage.models import Staff


async def set_language(ctx: Context) -> None:
    wanted = fold(ctx.args)
    locales = ctx.app.catalog.locales
    if wanted not in locales or ctx.user is None:
        await ctx.say(ctx.t("lang.usage", locales=" / ".join(locales)))
        return
    await ctx.session.execute(
        update(Staff).where(Staff.id == ctx.user.staff_id).values(locale=wanted)
    )
    ctx.locale = wanted
    await ctx.say(ctx.t("lang.changed"))


def register(app: App) -> None:
    app.subcommand("lang")(set_language)
