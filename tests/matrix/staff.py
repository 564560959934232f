"""A staff member's Matrix client (matrix-nio), as a person would use Element."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable

import nio

PASSWORD = "correct horse battery staple"
REPLY_TIMEOUT = 20.0


class Staff:
    """Logs in, opens a direct chat with the bot, says things and reads the bot's answers."""

    def __init__(self, client: nio.AsyncClient, bot_user_id: str) -> None:
        self.client = client
        self.bot = bot_user_id
        self.inbox: defaultdict[str, list[str]] = defaultdict(list)  # room → bot's messages
        self.invites: list[str] = []

    @classmethod
    async def login(cls, homeserver_url: str, user_id: str, bot_user_id: str) -> Staff:
        client = nio.AsyncClient(homeserver_url, user_id)
        answer = await client.login(PASSWORD)
        assert isinstance(answer, nio.LoginResponse), answer
        staff = cls(client, bot_user_id)
        await staff.sync()  # from here on, only what is new
        return staff

    async def open_direct_chat(self) -> str:
        """Element's "Start chat" with the bot: a private room marked direct, bot invited."""
        created = await self.client.room_create(
            is_direct=True, invite=[self.bot], preset=nio.RoomPreset.trusted_private_chat
        )
        assert isinstance(created, nio.RoomCreateResponse), created
        room_id = created.room_id
        await self.sync_until(lambda: self._bot_joined(room_id), "the bot to join")
        return room_id

    async def say(self, room_id: str, text: str, *, expect: int = 1) -> list[str]:
        """Send ``text`` as m.text; the bot's next ``expect`` messages in that room."""
        sent = await self.client.room_send(
            room_id, "m.room.message", {"msgtype": "m.text", "body": text}
        )
        assert isinstance(sent, nio.RoomSendResponse), sent
        return await self.replies(room_id, expect)

    async def replies(self, room_id: str, count: int) -> list[str]:
        inbox = self.inbox[room_id]
        await self.sync_until(lambda: len(inbox) >= count, f"{count} bot message(s)")
        taken = inbox[:count]
        del inbox[:count]
        return taken

    async def accept_invite(self) -> str:
        """Join the first room the bot invited this person to."""
        await self.sync_until(lambda: bool(self.invites), "an invite")
        room_id = self.invites.pop(0)
        joined = await self.client.join(room_id)
        assert isinstance(joined, nio.JoinResponse), joined
        return room_id

    async def sync_until(self, done: Callable[[], bool], what: str) -> None:
        async with asyncio.timeout(REPLY_TIMEOUT):
            while not done():
                await self.sync()
        assert done(), what

    async def sync(self) -> None:
        answer = await self.client.sync(timeout=500)
        assert isinstance(answer, nio.SyncResponse), answer
        for room_id, info in answer.rooms.join.items():
            for event in info.timeline.events:
                said = isinstance(event, nio.RoomMessageNotice | nio.RoomMessageText)
                if said and event.sender == self.bot:
                    self.inbox[room_id].append(event.body)
        self.invites.extend(answer.rooms.invite)

    def _bot_joined(self, room_id: str) -> bool:
        room = self.client.rooms.get(room_id)
        return room is not None and self.bot in room.users and self.bot not in room.invited_users

    async def close(self) -> None:
        await self.client.close()
