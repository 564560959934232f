"""A fake Slack for tests: signs requests as Slack does and serves the Web API dxbot calls.

Inbound, the builders start from the recorded payloads in
``tests/bot/adapters/slack_payloads/`` (shaped after Slack's documentation) and sign them with
v0 HMAC-SHA256 like Slack. Outbound, ``FakeSlack`` is an aiohttp server on 127.0.0.1 with
``chat.postMessage``, ``conversations.open`` and the three steps of ``files_upload_v2``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from aiohttp import web

SIGNING_SECRET = "test-slack-signing-secret-0123456789"
BOT_TOKEN = "xoxb-test-0000-token"
BOT_USER = "UBOT00001"
PAYLOADS = Path(__file__).parent / "bot" / "adapters" / "slack_payloads"
_ids = itertools.count(1)


# -- inbound: what Slack sends ----------------------------------------------------------


def recorded(name: str) -> Any:
    """A recorded payload: ``*.json`` parsed, anything else as bytes."""
    path = PAYLOADS / name
    return json.loads(path.read_text("utf-8")) if path.suffix == ".json" else path.read_bytes()


def slack_signature(secret: str, timestamp: str, body: bytes) -> str:
    """Slack's v0 signature, computed here independently of slack_sdk."""
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
    form: bool = False,
    retry: int | None = None,
) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    headers = {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": slack_signature(secret, ts, body),
        "Content-Type": "application/x-www-form-urlencoded" if form else "application/json",
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def unique(prefix: str) -> str:
    return f"{prefix}{next(_ids)}x{time.monotonic_ns()}"


def message_im(text: str, *, user: str = "U001", channel: str | None = None) -> dict[str, Any]:
    """A person's direct message to the bot (``message.im``)."""
    body = recorded("message_im.json")
    body["event_id"] = unique("Ev")
    body["event"].update(text=text, user=user, channel=channel or dm_channel(user))
    return body


def app_mention(text: str, *, user: str = "U001", channel: str = "C0GROUP01") -> dict[str, Any]:
    """``@dxbot text`` in a channel (``app_mention``)."""
    body = recorded("app_mention.json")
    body["event_id"] = unique("Ev")
    body["event"].update(text=f"<@{BOT_USER}> {text}", user=user, channel=channel)
    return body


def slash_command(
    text: str,
    *,
    user: str = "U001",
    channel: str | None = None,
    command: str = "/dx",
    direct: bool | None = None,
) -> bytes:
    """The form body of ``/dx text``: in the bot's direct chat with ``user`` unless ``channel``
    is given (a channel, or with ``direct`` another direct chat, Slack's "directmessage")."""
    direct = channel is None if direct is None else direct
    fields = dict(_form(recorded("slash_command.txt")))
    fields.update(
        command=command,
        text=text,
        user_id=user,
        channel_id=channel or dm_channel(user),
        channel_name="directmessage" if direct else "dx-general",
        trigger_id=unique("13345224609."),
    )
    return urlencode(fields).encode("ascii")


def block_actions(value: str, *, user: str = "U001", channel: str, message_ts: str) -> bytes:
    """The form body of a button press on the message ``message_ts``."""
    payload = recorded("block_actions.json")
    payload["user"]["id"] = user
    payload["container"].update(channel_id=channel, message_ts=message_ts)
    payload["channel"]["id"] = channel
    payload["actions"][0].update(value=value, action_ts=f"{time.time():.6f}")
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode("ascii")


def dm_channel(user: str) -> str:
    """The fake's id for the bot's direct chat with ``user`` (Slack's start with D)."""
    return f"D{user}"


def encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


def _form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode("ascii"), keep_blank_values=True)


# -- outbound: the Web API ---------------------------------------------------------------


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    authorization: str | None
    result: dict[str, Any] = field(default_factory=dict)

    @property
    def shown(self) -> str:
        """What a person reads: the section's plain text, else the ``text`` fallback."""
        for block in self.args.get("blocks") or []:
            if block.get("type") == "section":
                return str(block["text"]["text"])
        return str(self.args.get("text", ""))

    @property
    def buttons(self) -> dict[str, str]:
        """Label → value of every button in the message."""
        return {
            element["text"]["text"]: element["value"]
            for block in self.args.get("blocks") or []
            if block.get("type") == "actions"
            for element in block["elements"]
        }


@dataclass
class FakeSlack:
    """Slack's Web API on 127.0.0.1, recording every call; failures on demand.

    ``script`` holds answers for the next API calls (not uploads): an int HTTP status, ``(429,
    seconds)`` for a rate limit, an error code such as ``"invalid_auth"`` (HTTP 200, ``ok:
    false``, as Slack answers) or ``"hang"`` to answer nothing for ``hang_seconds``.
    ``outside`` holds conversations the bot is not in (a direct chat between two people, a
    private channel it was not invited to): posting there fails as Slack answers it,
    ``channel_not_found``.
    """

    token: str = BOT_TOKEN
    script: deque[Any] = field(default_factory=deque)
    hang_seconds: float = 5.0
    calls: list[ApiCall] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    outside: set[str] = field(default_factory=set)
    requests: int = 0
    root: str = ""
    _runner: web.AppRunner | None = None
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        """The Web API base, as ``SlackSettings.api_url``."""
        return f"{self.root}/api/"

    async def start(self) -> FakeSlack:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.root = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()

    def posted(self, channel: str | None = None) -> list[ApiCall]:
        """``chat.postMessage`` calls that succeeded, optionally to one channel."""
        return [
            c
            for c in self.calls
            if c.method == "chat.postMessage" and c.result.get("ok")
            if channel is None or c.args.get("channel") == channel
        ]

    @property
    def texts(self) -> list[str]:
        return [c.shown for c in self.posted()]

    async def _api(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        step = self.script.popleft() if self.script else "ok"
        if step == "hang":
            # Slack never answers: the client gives up; nothing is recorded as delivered.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.hang_seconds)
            return web.Response(status=504)
        if isinstance(step, tuple):
            status, retry_after = step
            body = {"ok": False, "error": "ratelimited"}
            return web.json_response(body, status=status, headers={"Retry-After": str(retry_after)})
        if isinstance(step, int):
            page = "<html>Slack is down</html>"
            return web.Response(status=step, text=page, content_type="text/html")
        method = request.match_info["method"]
        call = ApiCall(method, await _arguments(request), request.headers.get("Authorization"))
        self.calls.append(call)
        if call.authorization != f"Bearer {self.token}":
            call.result = {"ok": False, "error": "invalid_auth"}
        elif step != "ok":
            call.result = {"ok": False, "error": step}
        else:
            call.result = self._answer(method, call.args, request)
        return web.json_response(call.result)

    def _answer(self, method: str, args: dict[str, Any], request: web.Request) -> dict[str, Any]:
        if method == "chat.postMessage" and args.get("channel") in self.outside:
            return {"ok": False, "error": "channel_not_found"}
        if method == "chat.postMessage":
            ts = f"{1_700_000_000 + len(self.calls)}.{len(self.calls):06d}"
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": {"ts": ts}}
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": dm_channel(str(args["users"]))}}
        if method == "files.getUploadURLExternal":
            file_id = f"F{len(self.calls):08d}"
            return {"ok": True, "file_id": file_id, "upload_url": f"{self.root}/upload/{file_id}"}
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"])
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        return {"ok": False, "error": "unknown_method"}

    async def _upload(self, request: web.Request) -> web.Response:
        data = await request.read()
        self.uploads[request.match_info["file_id"]] = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Query, form and JSON arguments together, as Slack accepts any of them."""
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        args.update(await request.json())
    elif request.can_read_body:
        args.update(await request.post())
    return args
