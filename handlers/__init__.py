"""The municipality's features, registered on an App."""

from bot.app import App
from handlers import access, drafts, help, reports, settings


def register(app: App) -> None:
    """Add every feature's listeners to ``app`` (order matters: specific before general)."""
    access.register(app)
    help.register(app)
    reports.register(app)
    drafts.register(app)
    settings.register(app)


__all__ = ["register"]
