"""A fake LINE WORKS on 127.0.0.1 (token and bot message endpoints) and callback builders.

The token endpoint checks the service-account JWT with the test public key, as the real one
does with the key registered in the Developer Console; the message endpoints accept only
tokens it issued and has not revoked. Both record what they got and can be told to fail.
"""

from __future__ import annotations

import asyncio
import functools
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from bot.adapters.lineworks import BOT_ID_HEADER, SIGNATURE_HEADER, LineWorksAdapter, sign
from bot.adapters.lineworks_auth import GRANT_TYPE, ServiceAccount
from bot.clock import Clock

BOT_ID = "2000001"
BOT_SECRET = "test-lineworks-bot-secret-0123"
CLIENT_ID = "dxbotTestClientId"
CLIENT_SECRET = "dxbotTestClientSecret"
SERVICE_ACCOUNT = "a1b2c.serviceaccount@town.example.lg.jp"
DOMAIN_ID = 40029600
PAYLOADS = Path(__file__).parent / "bot" / "adapters" / "lineworks_payloads"


@functools.cache
def private_key() -> rsa.RSAPrivateKey:
    """One RSA key per test run: generating is slow, and any key proves the same thing."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_key_pem() -> bytes:
    """The key as the Developer Console hands it out (PKCS#8 PEM, unencrypted)."""
    return private_key().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def service_account() -> ServiceAccount:
    return ServiceAccount(CLIENT_ID, CLIENT_SECRET, SERVICE_ACCOUNT, private_key())


@dataclass
class Delivery:
    """One message the bot sent: ``kind`` is ``users`` or ``channels``."""

    kind: str
    target: str
    content: dict[str, Any]
    authorization: str

    @property
    def text(self) -> str:
        return str(self.content.get("text") or self.content.get("contentText") or "")

    @property
    def choices(self) -> dict[str, str]:
        """Label → postback of the buttons or quick replies offered."""
        actions = self.content.get("actions") or [
            item["action"] for item in self.content.get("quickReply", {}).get("items", [])
        ]
        return {a["label"]: a["postback"] for a in actions}


@dataclass
class FakeLineWorks:
    """``script``/``token_script`` hold the next answers: an int status, ``(429, seconds)``
    (``None`` seconds: no rateLimit-reset), ``"hang"`` (hold for ``hang_seconds``), or 401 for
    an expired token. Nothing scripted: success."""

    script: deque[Any] = field(default_factory=deque)
    token_script: deque[Any] = field(default_factory=deque)
    hang_seconds: float = 1.0
    token_delay: float = 0.0
    expires_in: str = "86400"
    clock: Clock | None = None  # the platform's time; share the adapter's to move both
    deliveries: list[Delivery] = field(default_factory=list)
    assertions: list[dict[str, Any]] = field(default_factory=list)
    token_forms: list[dict[str, str]] = field(default_factory=list)
    message_requests: int = 0
    issued: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)
    url: str = ""
    _runner: web.AppRunner | None = None

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1.0"

    @property
    def auth_url(self) -> str:
        return f"{self.url}/oauth2/v2.0/token"

    @property
    def token_requests(self) -> int:
        return len(self.token_forms)

    async def start(self) -> FakeLineWorks:
        app = web.Application()
        app.router.add_post("/oauth2/v2.0/token", self._token)
        app.router.add_post("/v1.0/bots/{bot}/{kind:users|channels}/{target}/messages", self._send)
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

    def revoke_tokens(self) -> None:
        """Every token issued so far now answers 401, as an expired one would."""
        self.revoked.update(self.issued)

    def texts(self) -> list[str]:
        return [d.text for d in self.deliveries]

    async def _token(self, request: web.Request) -> web.Response:
        if request.content_type != "application/x-www-form-urlencoded":
            return _oauth_error("invalid_request", "form-encoded body expected")
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.token_forms.append(form)
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        failure = await self._scripted(self.token_script)
        if failure is not None:
            return failure
        if (form.get("grant_type"), form.get("scope")) != (GRANT_TYPE, "bot"):
            return _oauth_error("invalid_request", "grant_type or scope")
        if (form.get("client_id"), form.get("client_secret")) != (CLIENT_ID, CLIENT_SECRET):
            return _oauth_error("invalid_client", "unknown client", status=401)
        try:
            claims = jwt.decode(
                form.get("assertion", ""),
                private_key().public_key(),
                algorithms=["RS256"],
                options={"require": ["iss", "sub", "iat", "exp"], "verify_exp": False},
                leeway=timedelta(days=3650) if self.clock else timedelta(0),
            )
        except jwt.InvalidTokenError as exc:
            return _oauth_error("invalid_grant", str(exc))
        now = (self.clock.now() if self.clock else datetime.now(UTC)).timestamp()
        if not claims["iat"] - 5 <= now < claims["exp"]:
            return _oauth_error("invalid_grant", "iat/exp do not cover the current time")
        if claims["iss"] != CLIENT_ID or claims["sub"] != SERVICE_ACCOUNT:
            return _oauth_error("invalid_grant", "iss/sub")
        if not 0 < claims["exp"] - claims["iat"] <= 3600:
            return _oauth_error("invalid_grant", "exp must be within 60 minutes of iat")
        self.assertions.append(claims)
        token = f"lw-token-{len(self.issued) + 1}"
        self.issued.append(token)
        body = {
            "access_token": token,
            "refresh_token": f"refresh-{token}",
            "scope": "bot",
            "token_type": "Bearer",
            "expires_in": self.expires_in,
        }
        return web.json_response(body)

    async def _send(self, request: web.Request) -> web.Response:
        self.message_requests += 1
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ")
        if token not in self.issued or token in self.revoked:
            return _api_error(401, "UNAUTHORIZED", "Authentication failed")
        if request.match_info["bot"] != BOT_ID:
            return _api_error(404, "NOT_FOUND", "bot not found")
        body = await request.json()
        failure = await self._scripted(self.script)
        if failure is not None:
            return failure
        kind, target = request.match_info["kind"], request.match_info["target"]
        self.deliveries.append(Delivery(kind, target, body["content"], authorization))
        return web.Response(status=201)

    async def _scripted(self, script: deque[Any]) -> web.Response | None:
        step = script.popleft() if script else None
        if step == "hang":
            await asyncio.sleep(self.hang_seconds)
            return None
        if isinstance(step, tuple):
            status, seconds = step
            # As LINE WORKS does: the seconds left in the window, in rateLimit-reset.
            headers = {} if seconds is None else {"rateLimit-reset": str(seconds)}
            return _api_error(status, "TOO_MANY_REQUESTS", "rate limited", headers=headers)
        if step == 401:
            return _api_error(401, "UNAUTHORIZED", "Authentication failed")
        if step == 403:
            return _api_error(403, "UNAUTHORIZED", "Authentication failed")
        if isinstance(step, int):
            return _api_error(step, "SERVER_ERROR" if step >= 500 else "INVALID_PARAMETER", "x")
        return None


def _api_error(
    status: int, code: str, description: str, *, headers: dict[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"code": code, "description": description}, status=status, headers=headers
    )


def _oauth_error(error: str, description: str, *, status: int = 400) -> web.Response:
    return web.json_response({"error": error, "error_description": description}, status=status)


def make_adapter(
    platform: FakeLineWorks, *, timeout: float = 5.0, clock: Clock | None = None
) -> LineWorksAdapter:
    return LineWorksAdapter(
        BOT_ID,
        BOT_SECRET,
        service_account(),
        api_url=platform.api_url,
        auth_url=platform.auth_url,
        send_timeout_seconds=timeout,
        clock=clock,
    )


# -- callbacks ---------------------------------------------------------------------------

_last_issued = datetime.now(UTC)


def issued_time() -> str:
    """Now, as LINE WORKS writes it, strictly later than the last one built (a real user
    cannot send two messages in the same millisecond, and dedupe keys depend on it)."""
    global _last_issued
    _last_issued = max(datetime.now(UTC), _last_issued + timedelta(milliseconds=1))
    return _last_issued.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def callback(
    kind: str = "message",
    *,
    user: str = "U001",
    channel: str | None = None,
    text: str = "ヘルプ",
    postback: str | None = None,
    data: str = "",
) -> dict[str, Any]:
    """A callback body in the documented shape; ``channel=None`` is a 1:1 chat."""
    source: dict[str, Any] = {"userId": user, "domainId": DOMAIN_ID}
    if channel is not None:
        source["channelId"] = channel
    body: dict[str, Any] = {"type": kind, "source": source, "issuedTime": issued_time()}
    if kind == "message":
        body["content"] = {"type": "text", "text": text}
        if postback is not None:
            body["content"]["postback"] = postback
    elif kind == "postback":
        body["data"] = data
    return body


def recorded(name: str, **changes: Any) -> dict[str, Any]:
    """A recorded callback from ``lineworks_payloads/``, with top-level fields replaced."""
    body: dict[str, Any] = json.loads((PAYLOADS / f"{name}.json").read_text("utf-8"))
    return {**body, **changes}


def encode(body: dict[str, Any]) -> bytes:
    # Compact, non-ASCII kept: the shape LINE WORKS sends; signatures cover these bytes.
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_headers(
    body: bytes, *, secret: str = BOT_SECRET, bot_id: str = BOT_ID
) -> dict[str, str]:
    return {
        "Content-Type": "application/json; charset=UTF-8",
        BOT_ID_HEADER: bot_id,
        SIGNATURE_HEADER: sign(secret, body),
    }
