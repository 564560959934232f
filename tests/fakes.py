"""Fake chat platforms that record what dxbot sent; they can be told to fail."""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.adapters.base import Capabilities, DeliveryError, SentRef
from bot.messages import OutgoingMessage


@dataclass
class Delivery:
    idempotency_key: str
    body: dict[str, Any]
    authorization: str | None = None


class RecordingSender:
    """An in-memory adapter: records messages; ``fail_next`` queues DeliveryErrors."""

    def __init__(self, name: str = "relay", *, buttons: bool = True, max_text: int = 4000) -> None:
        self.name = name
        self.capabilities = Capabilities(buttons=buttons, max_text_length=max_text)
        self.sent: list[tuple[str, OutgoingMessage]] = []
        self.fail_next: deque[DeliveryError] = deque()
        self.attempts = 0

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        self.attempts += 1
        if self.fail_next:
            raise self.fail_next.popleft()
        self.sent.append((idempotency_key, message))
        return SentRef(message_id=f"m{len(self.sent)}")

    async def close(self) -> None:
        return None

    @property
    def texts(self) -> list[str]:
        return [message.text for _, message in self.sent]


@dataclass
class FakeRelayPlatform:
    """A relay gateway on 127.0.0.1: ``POST /messages`` recorded, failures on demand.

    ``script`` holds the answers for the next requests: an int status, ``(429, seconds)``
    for a rate limit, or ``"hang"`` to hold the request for ``hang_seconds``.
    """

    token: str = "outbound-token"
    script: deque[Any] = field(default_factory=deque)
    hang_seconds: float = 30.0
    deliveries: list[Delivery] = field(default_factory=list)
    requests: int = 0
    _runner: web.AppRunner | None = None
    url: str = ""

    async def start(self) -> FakeRelayPlatform:
        app = web.Application()
        app.router.add_post("/messages", self._messages)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _messages(self, request: web.Request) -> web.Response:
        self.requests += 1
        step = self.script.popleft() if self.script else 200
        if step == "hang":
            await asyncio.sleep(self.hang_seconds)
            step = 200
        if isinstance(step, tuple):
            status, retry_after = step
            return web.json_response(
                {"error": "rate"}, status=status, headers={"Retry-After": str(retry_after)}
            )
        if step != 200:
            return web.json_response({"error": "fail"}, status=step)
        body = await request.json()
        key = request.headers.get("Idempotency-Key", "")
        self.deliveries.append(Delivery(key, body, request.headers.get("Authorization")))
        return web.json_response({"ok": True, "message_id": f"r{len(self.deliveries)}"})

    @property
    def texts(self) -> list[str]:
        return [d.body["text"] for d in self.deliveries]

    def unique_keys(self) -> set[str]:
        return {d.idempotency_key for d in self.deliveries}
