"""``/dx help`` and the ヘルプ keyword: what the bot can do, in the user's language."""

from __future__ import annotations

from bot.app import App
from bot.context import Context
from bot.messages import Choice
from handlers.keywords import keyword_pattern


def help_text(ctx: Context) -> str:
    name = ctx.app.command_name
    lines = [ctx.t("help.title"), ""]
    for sub in ctx.app.commands.subcommands:
        lines.append(
            ctx.t(
                "help.command_line", command=f"/{name} {sub.name}", summary=ctx.t(sub.summary_key)
            )
        )
    lines += ["", ctx.t("help.footer")]
    return "\n".join(lines)


async def show_help(ctx: Context) -> None:
    menu = [Choice(ctx.t(label_key), action_id) for label_key, action_id in ctx.app.menu]
    await ctx.say(help_text(ctx), choices=menu)


async def not_understood(ctx: Context) -> None:
    """Direct chats get a hint; group chats stay quiet unless the bot is addressed."""
    if ctx.event.is_direct:
        await ctx.say(ctx.t("help.not_understood"))


def register(app: App) -> None:
    app.subcommand("help")(show_help)
    app.message(keyword_pattern(app.catalog, "keywords.help"))(show_help)
    app.fallback(not_understood)
