"""The console adapter: a terminal chat with the bot through the real inbox and outbox."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.adapters.base import Capabilities, SentRef
from bot.events import Conversation, Event, EventType, User
from bot.messages import OutgoingMessage

Write = Callable[[str], None]


class ConsoleAdapter:
    """Prints what the bot sends. Choices arrive as numbered lines (no buttons)."""

    name = "console"
    capabilities = Capabilities(buttons=False, max_text_length=100_000)

    def __init__(self, write: Write = print) -> None:
        self._write = write

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        prefix = "dxbot> "
        self._write(prefix + message.text.replace("\n", "\n" + " " * len(prefix)))
        if message.attachment is not None:
            self._write(f"{' ' * len(prefix)}[{message.attachment.filename}]")
        return SentRef(message_id=idempotency_key)

    async def close(self) -> None:
        return None


def console_event(user: str, line: str, now: datetime | None = None) -> Event:
    """``/dx help`` → a command event; anything else → a message in the user's direct chat."""
    base = {
        "adapter": ConsoleAdapter.name,
        "event_id": uuid.uuid4().hex,
        "occurred_at": now or datetime.now(UTC),
        "user": User(id=user, name=user),
        "conversation": Conversation(id=f"console:{user}", kind="direct"),
    }
    if line.startswith("/") and len(line) > 1:
        name, _, rest = line[1:].partition(" ")
        return Event(**base, type=EventType.COMMAND, command=name, text=rest.strip())  # type: ignore[arg-type]
    return Event(**base, type=EventType.MESSAGE, text=line)  # type: ignore[arg-type]


class ConsoleChat:
    """Reads lines, stores each as an event, handles it and prints the replies.

    ``/as NAME`` switches who is typing; ``/quit`` (or end of input) leaves.
    """

    def __init__(
        self,
        accept: Callable[[Event], Awaitable[bool]],
        settle: Callable[[], Awaitable[None]],
        user: str,
        write: Write = print,
    ) -> None:
        self._accept = accept
        self._settle = settle
        self.user = user
        self._write = write

    async def handle_line(self, line: str) -> bool:
        """Process one typed line; False means the user asked to leave."""
        line = line.strip()
        if not line:
            return True
        if line in ("/quit", "/exit"):
            return False
        if line.startswith("/as "):
            self.user = line[4:].strip() or self.user
            self._write(f"-- {self.user}")
            return True
        await self._accept(console_event(self.user, line))
        await self._settle()
        return True

    async def run(self, read_line: Callable[[str], Awaitable[str | None]]) -> None:
        while True:
            line = await read_line(f"{self.user}> ")
            if line is None or not await self.handle_line(line):
                return
