"""dxbot's framework: App, events, context, adapters, inbox, outbox and server."""

from bot.app import App
from bot.clock import Clock, FrozenClock, SystemClock
from bot.context import Context, UserInfo
from bot.events import Conversation, Event, EventType, User
from bot.i18n import Catalog
from bot.messages import Attachment, Choice, OutgoingMessage

__all__ = [
    "App",
    "Attachment",
    "Catalog",
    "Choice",
    "Clock",
    "Context",
    "Conversation",
    "Event",
    "EventType",
    "FrozenClock",
    "OutgoingMessage",
    "SystemClock",
    "User",
    "UserInfo",
]
