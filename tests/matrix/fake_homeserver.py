"""A small fake of the Client-Server API calls dxbot makes, for tests without Synapse.

It keeps Synapse's promise for ``PUT …/send/{eventType}/{txnId}``: a txnId seen before gets
the first event id back and posts nothing. ``script`` holds the answers for the next sends:
``(status, body)`` or ``(status, body, headers)``; ``"lost"`` posts the message and then
answers 502, as when the homeserver's answer is lost on the way back.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

AS_TOKEN = "as-token-for-tests"
BOT = "@dxbot:localhost"
PREFIX = "/_matrix/client/v3"


@dataclass
class Posted:
    room_id: str
    txn_id: str
    content: dict[str, Any]
    event_id: str


@dataclass
class FakeHomeserver:
    script: deque[Any] = field(default_factory=deque)
    posted: list[Posted] = field(default_factory=list)
    joined: list[str] = field(default_factory=list)
    created: list[dict[str, Any]] = field(default_factory=list)
    members: dict[str, set[str]] = field(default_factory=dict)  # room → joined users
    membership: dict[tuple[str, str], str] = field(default_factory=dict)  # (room, user) → …
    direct: dict[str, list[str]] | None = None  # the bot's m.direct; None = never set
    names: dict[str, str] = field(default_factory=dict)  # user → display name
    fail_members: deque[int] = field(default_factory=deque)  # statuses for joined_members
    seen: list[tuple[str, str, str | None, str | None]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeHomeserver:
        app = web.Application(middlewares=[self._auth])
        routes = app.router
        routes.add_put(PREFIX + "/rooms/{room}/send/m.room.message/{txn}", self._send)
        routes.add_post(PREFIX + "/rooms/{room}/join", self._join)
        routes.add_get(PREFIX + "/rooms/{room}/joined_members", self._members)
        routes.add_get(PREFIX + "/rooms/{room}/state/m.room.member/{user}", self._member)
        routes.add_post(PREFIX + "/createRoom", self._create)
        routes.add_get(PREFIX + "/profile/{user}/displayname", self._name)
        routes.add_get(PREFIX + "/user/{user}/account_data/m.direct", self._get_direct)
        routes.add_put(PREFIX + "/user/{user}/account_data/m.direct", self._put_direct)
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

    @property
    def texts(self) -> list[str]:
        return [p.content["body"] for p in self.posted]

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        auth = request.headers.get("Authorization")
        self.seen.append((request.method, request.path, auth, request.query.get("user_id")))
        if auth != f"Bearer {AS_TOKEN}":
            return _error(401, "M_UNKNOWN_TOKEN")
        response: web.StreamResponse = await handler(request)
        return response

    async def _send(self, request: web.Request) -> web.Response:
        room, txn = request.match_info["room"], request.match_info["txn"]
        step = self.script.popleft() if self.script else "ok"
        if isinstance(step, tuple):
            status, body, *headers = step
            return web.json_response(body, status=status, headers=headers[0] if headers else None)
        known = next((p for p in self.posted if (p.room_id, p.txn_id) == (room, txn)), None)
        if known is None:
            known = Posted(room, txn, await request.json(), f"$event{len(self.posted) + 1}")
            self.posted.append(known)
        if step == "lost":
            return _error(502, "M_UNKNOWN")
        return web.json_response({"event_id": known.event_id})

    async def _join(self, request: web.Request) -> web.Response:
        room = request.match_info["room"]
        self.joined.append(room)
        self.members.setdefault(room, set()).add(BOT)
        return web.json_response({"room_id": room})

    async def _members(self, request: web.Request) -> web.Response:
        if self.fail_members:
            return _error(self.fail_members.popleft(), "M_UNKNOWN")
        users = self.members.get(request.match_info["room"])
        if users is None:
            return _error(403, "M_FORBIDDEN")
        return web.json_response({"joined": {user: {} for user in users}})

    async def _member(self, request: web.Request) -> web.Response:
        key = (request.match_info["room"], request.match_info["user"])
        if key not in self.membership:
            return _error(404, "M_NOT_FOUND")
        return web.json_response({"membership": self.membership[key]})

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.created.append(body)
        room = f"!created{len(self.created)}:localhost"
        for user in body.get("invite", []):
            self.membership[(room, user)] = "invite"
        self.members[room] = {BOT}
        return web.json_response({"room_id": room})

    async def _name(self, request: web.Request) -> web.Response:
        name = self.names.get(request.match_info["user"])
        if name is None:
            return _error(404, "M_NOT_FOUND")
        return web.json_response({"displayname": name})

    async def _get_direct(self, request: web.Request) -> web.Response:
        if self.direct is None:
            return _error(404, "M_NOT_FOUND")
        return web.json_response(self.direct)

    async def _put_direct(self, request: web.Request) -> web.Response:
        self.direct = await request.json()
        return web.json_response({})


def _error(status: int, errcode: str) -> web.Response:
    return web.json_response({"errcode": errcode, "error": errcode}, status=status)
