"""Drive dxbot through its HTTP edge with real signed relay requests and a fake gateway."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from bot.adapters.relay import RelayAdapter
from bot.clock import Clock
from bot.runtime import Register, Runtime
from bot.server import build_web_app
from storage.models import InboxEvent
from tests.builders import RELAY_SECRET, encode, relay_payload, signed_headers
from tests.conftest import fast_settings
from tests.fakes import FakeRelayPlatform

MAX_BODY = 2048


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]


async def read_reply(response: Any) -> Reply:
    async with response as resp:
        # .json() raises unless the answer is application/json: never a bare HTML error
        return Reply(resp.status, await resp.json(), resp.headers)


@dataclass
class Edge:
    runtime: Runtime
    client: TestClient[Any, Any]
    platform: FakeRelayPlatform

    async def post(
        self,
        body: bytes | dict[str, Any],
        *,
        headers: Mapping[str, str] | None = None,
        path: str = "/hooks/relay",
    ) -> Reply:
        raw = body if isinstance(body, bytes) else encode(body)
        sent = signed_headers(raw) if headers is None else headers
        return await read_reply(self.client.post(path, data=raw, headers=sent))

    async def get(self, path: str) -> Reply:
        return await read_reply(self.client.get(path))

    async def inbox(self) -> list[InboxEvent]:
        async with self.runtime.sessions() as session:
            return list((await session.scalars(select(InboxEvent).order_by(InboxEvent.id))).all())

    async def settle(self) -> None:
        await self.runtime.worker.handle_pending()
        await self.runtime.dispatcher.drain(5)

    async def say(self, text: str, *, user: str = "U001", **kw: Any) -> list[str]:
        """A staff member types ``text`` in their direct chat; the texts the bot answered."""
        return await self._exchange(relay_payload("message", text=text, user=user, **kw))

    async def command(self, text: str, *, user: str = "U001", **kw: Any) -> list[str]:
        return await self._exchange(relay_payload("command", text=text, user=user, **kw))

    async def press(self, label: str, *, user: str = "U001") -> list[str]:
        """Press the button labelled ``label`` on the last message this user got."""
        value = self.last_choices(user)[label]
        return await self._exchange(relay_payload("action", value=value, user=user))

    def last_choices(self, user: str = "U001") -> dict[str, str]:
        for delivery in reversed(self.platform.deliveries):
            if delivery.body.get("conversation_id") == f"dm-{user}":
                return {c["label"]: c["value"] for c in delivery.body.get("choices", [])}
        return {}

    async def _exchange(self, payload: dict[str, Any]) -> list[str]:
        before = len(self.platform.deliveries)
        reply = await self.post(payload)
        assert reply.status == 200, reply.body
        await self.settle()
        return [d.body["text"] for d in self.platform.deliveries[before:]]


async def start_client(runtime: Runtime) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(build_web_app(runtime), host="127.0.0.1"))
    await client.start_server()
    return client


@asynccontextmanager
async def edge(
    database_url: str,
    *,
    register: Register | None = None,
    clock: Clock | None = None,
    buttons: bool = True,
    max_body: int = MAX_BODY,
    **settings: Any,
) -> AsyncIterator[Edge]:
    """dxbot behind a real HTTP server on 127.0.0.1, sending to a fake relay gateway."""
    platform = await FakeRelayPlatform().start()
    relay = RelayAdapter(
        RELAY_SECRET, outbound_url=platform.url, outbound_token=platform.token, buttons=buttons
    )
    runtime = Runtime(
        fast_settings(database_url, http={"max_body_bytes": max_body}, **settings),
        register=register,
        clock=clock,
        webhooks={"relay": relay},
    )
    try:
        await runtime.prepare()
        client = await start_client(runtime)
        try:
            yield Edge(runtime, client, platform)
        finally:
            await client.close()
    finally:
        await runtime.stop(flush_seconds=0)
        await platform.stop()
