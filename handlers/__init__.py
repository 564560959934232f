"""The municipality's features, registered on an App."""

from bot.app import App
from handlers import (
    access,
    digests,
    drafts,
    duties,
    export,
    help,
    issue_steering,
    issue_views,
    reminders,
    reports,
    settings,
)


def register(app: App) -> None:
    """Add every feature's listeners to ``app`` (order matters: specific before general)."""
    access.register(app)
    help.register(app)
    reports.register(app)
    issue_views.register(app)
    issue_steering.register(app)
    export.register(app)
    drafts.register(app)
    duties.register(app)
    reminders.register(app)
    digests.register(app)
    settings.register(app)


__all__ = ["register"]
