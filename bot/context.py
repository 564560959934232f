"""What a listener gets: the event, the user, text lookup, replies and the DB session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import choices, outbox
from bot.adapters.base import Capabilities
from bot.events import Event
from bot.messages import Attachment, Choice, OutgoingMessage

if TYPE_CHECKING:
    from bot.app import App


@dataclass(frozen=True, slots=True)
class UserInfo:
    """The person behind an event, as the directory knows them."""

    staff_id: int
    external_id: str
    name: str
    role: str
    locale: str
    groups: tuple[str, ...] = ()  # the working groups the directory says they lead


@dataclass(slots=True)
class Context:
    """One event being handled. Replies join ``session``'s transaction (the outbox)."""

    app: App
    event: Event
    session: AsyncSession
    user: UserInfo | None = None
    locale: str = "ja"
    args: str = ""
    matches: tuple[str, ...] = ()
    state: dict[str, Any] = field(default_factory=dict)
    # Conversations this transaction has seen hold no offered choices (saves a delete a reply).
    choices_clear: choices.KnownClear = field(default_factory=set)

    @property
    def capabilities(self) -> Capabilities:
        """What the platform this event came from can show (buttons, files, length)."""
        return self.app.capabilities.get(self.event.adapter, Capabilities())

    def today(self) -> date:
        """Today's date in the municipality's time zone (not the server's)."""
        return self.app.clock.now().astimezone(ZoneInfo(self.app.timezone)).date()

    def t(self, key: str, /, **values: Any) -> str:
        """Text for ``key`` in this user's language."""
        return self.app.catalog.t(self.locale, key, **values)

    async def say(
        self,
        text: str,
        *,
        choices: tuple[Choice, ...] | list[Choice] = (),
        attachment: Attachment | None = None,
    ) -> None:
        """Reply in the conversation the event came from."""
        await self.send(
            OutgoingMessage(
                text=text,
                choices=tuple(choices),
                attachment=attachment,
                conversation_id=self.event.conversation.id,
                in_reply_to=self.event.message_id,
            )
        )

    async def send(self, message: OutgoingMessage, adapter: str | None = None) -> None:
        """Queue any message (e.g. to another user); it goes out if this handling commits."""
        name = adapter or self.event.adapter
        now = self.app.clock.now()
        await outbox.enqueue(self.session, name, message, now)
        await choices.remember(self.session, name, message, now, self.choices_clear)
