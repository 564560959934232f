"""LINE WORKS Bot API 2.0: signed callbacks in, bot messages out (docs/adapters/lineworks.md).

Inbound, the platform POSTs one event per request, signed with ``X-WORKS-Signature`` =
base64(HMAC-SHA256(bot secret, raw body)) and naming the bot in ``X-WORKS-BotId``. There is
no timestamp header and no event id, and a failed callback is never resent. So:

- the dedupe key is derived from the event itself (a SHA-256 of its canonical JSON): a
  delivery that arrives twice, or a captured request replayed, finds its key in the inbox
  and is acknowledged without being handled again;
- ``issuedTime`` sits inside the signed body, so an event older (or newer) than
  ``max_event_age_seconds`` is refused: a replay is limited to that window even if the inbox
  were ever pruned.

Conversation ids: a group room (トークルーム) is its ``channelId``; a 1:1 chat with the bot has
no channel id in callbacks, so it is ``"dm:" + userId`` and ``send`` posts such a message to
the user endpoint. Choices go out as a button template (message actions whose ``postback``
is the choice's wire value), as quick replies when the template's limits are exceeded, and as
numbered text beyond those. LINE WORKS has no slash commands: a text ``/dx mine`` is read as
the command ``dx`` with ``mine``. Files are not uploaded (``files=False``): the core offers a
download link instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.adapters.base import (
    Ack,
    Capabilities,
    DeliveryError,
    PayloadError,
    RawRequest,
    SentRef,
    SignatureError,
)
from bot.adapters.lineworks_auth import (
    AccessTokens,
    ServiceAccount,
    load_private_key,
    read_json,
)
from bot.adapters.payload import get_object as _object
from bot.adapters.payload import get_string as _string
from bot.adapters.payload import load_object as _load_object
from bot.adapters.relay import parse_retry_after
from bot.clock import Clock
from bot.events import Conversation, Event, EventType, User
from bot.messages import Choice, OutgoingMessage
from bot.render import numbered_choices
from config.settings import Settings

SIGNATURE_HEADER = "X-WORKS-Signature"
BOT_ID_HEADER = "X-WORKS-BotId"
DIRECT_PREFIX = "dm:"
# Others (join, leave, joined, left, and types added later) need no answer: acknowledged only.
EVENT_TYPES = ("message", "postback")
START_POSTBACK = "start"  # the 利用開始 button of a new 1:1 chat: a greeting, not one of ours
MAX_ID_LENGTH = 255
MAX_TEXT = 2000  # text message
MAX_TEMPLATE_TEXT = 1000  # button template contentText
MAX_BUTTONS = 10  # button template actions
MAX_QUICK_REPLIES = 13
MAX_LABEL = 20  # action label
MAX_POSTBACK = 300  # sent: conservative, the documented limit of postback action data
MAX_POSTBACK_IN = 1000  # received: room for postbacks of menus set up in the console
DEFAULT_RETRY_AFTER = 30.0  # rate limits are per minute; a 429 that says no wait waits this
# LINE WORKS tells the seconds left in the rate-limit window in this header, not Retry-After
# (https://developers.worksmobile.com/jp/docs/rate-limits).
RESET_HEADER = "rateLimit-reset"
MAX_EVENT_AGE = 3600.0


def sign(secret: str, body: bytes) -> str:
    """The ``X-WORKS-Signature`` LINE WORKS sends with ``body``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class LineWorksAdapter:
    """One LINE WORKS bot: verifies and parses its callbacks, sends as it."""

    name = "lineworks"
    capabilities = Capabilities(buttons=True, images=False, files=False, max_text_length=MAX_TEXT)

    def __init__(
        self,
        bot_id: str,
        bot_secret: str,
        account: ServiceAccount,
        *,
        api_url: str = "https://www.worksapis.com/v1.0",
        auth_url: str = "https://auth.worksmobile.com/oauth2/v2.0/token",
        send_timeout_seconds: float = 10.0,
        max_event_age_seconds: float = MAX_EVENT_AGE,
        http: aiohttp.ClientSession | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._bot_id = bot_id
        self._secret = bot_secret
        self._api_url = api_url.rstrip("/")
        self._max_age = max_event_age_seconds
        self._timeout = aiohttp.ClientTimeout(total=send_timeout_seconds)
        self._tokens = AccessTokens(account, auth_url, timeout=self._timeout, clock=clock)
        self._http = http
        self._owns_http = http is None

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: RawRequest, now: float) -> None:
        signature = _header(request.headers, SIGNATURE_HEADER)
        bot_id = _header(request.headers, BOT_ID_HEADER)
        if not signature or not bot_id:
            raise SignatureError(f"missing {SIGNATURE_HEADER} or {BOT_ID_HEADER}")
        if bot_id != self._bot_id:
            raise SignatureError(f"{BOT_ID_HEADER} is not this bot")
        expected = sign(self._secret, request.body).encode("ascii")
        if not hmac.compare_digest(expected, signature.encode("utf-8", "replace")):
            raise SignatureError("signature does not match")
        issued = _issued_at(request.body)
        if issued is not None and abs(now - issued) > self._max_age:
            raise SignatureError("issuedTime outside the allowed window")

    def parse(self, request: RawRequest) -> Event | Ack:
        data = _load_object(request.body)
        kind = _string(data, "type")
        if kind not in EVENT_TYPES:
            return Ack(200, {"ok": True, "ignored": kind})
        source = _object(data, "source")
        user_id = _string(source, "userId", "source.userId", limit=MAX_ID_LENGTH)
        if source.get("channelId") is not None:
            channel = _string(source, "channelId", "source.channelId", limit=MAX_ID_LENGTH)
            conversation = Conversation(id=channel, kind="group")
        else:
            conversation = Conversation(id=DIRECT_PREFIX + user_id, kind="direct")
        event = Event(
            adapter=self.name,
            event_id=dedupe_key(data),
            type=EventType.MESSAGE,
            occurred_at=_timestamp(data.get("issuedTime")),
            user=User(id=user_id),
            conversation=conversation,
        )
        if kind == "postback":
            return event.as_action(_string(data, "data", limit=MAX_POSTBACK_IN))
        return _from_content(event, _object(data, "content"))

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        """Post ``message``; a refused token is replaced once, within this same send.

        The API takes no idempotency key, so a send that timed out after the platform
        accepted it is shown twice when retried: delivery is at least once.
        """
        url = f"{self._api_url}/bots/{quote(self._bot_id, safe='')}{_target(message)}/messages"
        body = {"content": content_for(message)}
        http = self._session()
        answer = await self._post(http, url, body)
        if answer.token_refused:
            answer = await self._post(http, url, body)
        return _result(answer)

    async def _post(self, http: aiohttp.ClientSession, url: str, body: dict[str, Any]) -> _Answer:
        token = await self._tokens.get(http)
        headers = {"Authorization": f"Bearer {token}"}
        try:
            async with http.post(url, json=body, headers=headers, timeout=self._timeout) as resp:
                wait = resp.headers.get(RESET_HEADER) or resp.headers.get("Retry-After")
                answer = _Answer(resp.status, wait, await read_json(resp))
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"LINE WORKS unreachable: {type(exc).__name__}"
            raise DeliveryError(reason, retryable=True) from exc
        if answer.token_refused:
            self._tokens.invalidate(token)
        return answer

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            # trust_env: a closed network reaches LINE WORKS through HTTPS_PROXY.
            self._http = aiohttp.ClientSession(trust_env=True)
            self._owns_http = True
        return self._http

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


def from_settings(settings: Settings) -> LineWorksAdapter | None:
    """The adapter when a bot secret is set; ``ValueError`` names each missing variable."""
    lw = settings.lineworks
    if not lw.enabled or lw.bot_secret is None:
        return None
    secret = lw.client_secret.get_secret_value() if lw.client_secret else ""
    required = {
        "BOT_ID": lw.bot_id,
        "CLIENT_ID": lw.client_id,
        "CLIENT_SECRET": secret,
        "SERVICE_ACCOUNT": lw.service_account,
        "PRIVATE_KEY_PATH": lw.private_key_path,
    }
    missing = [f"DXBOT_LINEWORKS_{name}" for name, value in required.items() if not value]
    if missing:
        raise ValueError(
            "LINE WORKS is enabled (DXBOT_LINEWORKS_BOT_SECRET is set) but these are not set: "
            + ", ".join(missing)
        )
    try:
        key = load_private_key(str(lw.private_key_path))
    except ValueError as exc:
        raise ValueError(f"DXBOT_LINEWORKS_PRIVATE_KEY_PATH: {exc}") from exc
    account = ServiceAccount(str(lw.client_id), secret, str(lw.service_account), key)
    return LineWorksAdapter(
        str(lw.bot_id),
        lw.bot_secret.get_secret_value(),
        account,
        api_url=lw.api_url,
        auth_url=lw.auth_url,
        send_timeout_seconds=lw.send_timeout_seconds,
    )


def dedupe_key(data: Mapping[str, Any]) -> str:
    """The same event, however often delivered or re-serialized, gets the same key."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return "lw-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# -- inbound helpers ---------------------------------------------------------------------


def _from_content(event: Event, content: dict[str, Any]) -> Event:
    kind = _string(content, "type", "content.type")
    if kind != "text":  # image, file, sticker, location …: an empty message, answered as such
        return replace(event, extra={"content_type": kind})
    text = _string(content, "text", "content.text", allow_empty=True)
    if content.get("postback") not in (None, "", START_POSTBACK):
        wire = _string(content, "postback", "content.postback", limit=MAX_POSTBACK_IN)
        return replace(event, text=text).as_action(wire)
    words = text[1:].split(maxsplit=1) if text.startswith("/") else []
    if words:
        rest = words[1].strip() if len(words) > 1 else ""
        return replace(event, type=EventType.COMMAND, command=words[0], text=rest)
    return replace(event, text=text)


def _header(headers: Mapping[str, str], name: str) -> str:
    """Header names are case-insensitive, and the docs warn their spelling may change."""
    found = headers.get(name)
    if found is not None:
        return found
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), "")


def _issued_at(body: bytes) -> float | None:
    """``issuedTime`` in unix seconds, or None when absent or unreadable (parse says why)."""
    try:
        data = json.loads(body.decode("utf-8"))
        return _timestamp(data["issuedTime"]).timestamp()
    except (ValueError, KeyError, TypeError, RecursionError, PayloadError):
        return None


def _timestamp(value: object) -> datetime:
    """``issuedTime``: ISO 8601 as documented (``2022-01-04T05:16:05.716Z``) or epoch ms."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(value / 1000, UTC)
    if not isinstance(value, str):
        raise PayloadError("issuedTime", "required date-time")
    try:
        when = datetime.fromisoformat(value)
    except ValueError as exc:
        raise PayloadError("issuedTime", "not an ISO 8601 date-time") from exc
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


# -- outbound helpers --------------------------------------------------------------------


def _target(message: OutgoingMessage) -> str:
    """``/users/{id}`` for a user or a 1:1 chat (``dm:`` id), else ``/channels/{id}``."""
    if message.user_id is not None:
        kind, target = "users", message.user_id
    elif str(message.conversation_id).startswith(DIRECT_PREFIX):
        kind, target = "users", str(message.conversation_id)[len(DIRECT_PREFIX) :]
    else:
        kind, target = "channels", str(message.conversation_id)
    if not target:
        raise DeliveryError("LINE WORKS message has an empty recipient", retryable=False)
    return f"/{kind}/{quote(target, safe='@')}"


def content_for(message: OutgoingMessage) -> dict[str, Any]:
    """The message's ``content``: button template, quick replies or text, whichever fits."""
    text, choices = message.text, message.choices
    if not choices:
        return {"type": "text", "text": _clip(text, MAX_TEXT)}
    carried = all(len(c.wire_value) <= MAX_POSTBACK for c in choices)
    if carried and len(choices) <= MAX_BUTTONS and 0 < len(text) <= MAX_TEMPLATE_TEXT:
        actions = [_action(c) for c in choices]
        return {"type": "button_template", "contentText": text, "actions": actions}
    if carried and len(choices) <= MAX_QUICK_REPLIES and 0 < len(text) <= MAX_TEXT:
        items = [{"action": _action(c)} for c in choices]
        return {"type": "text", "text": text, "quickReply": {"items": items}}
    # Typed numbers and labels still select (bot.choices remembers what was offered).
    return {"type": "text", "text": _clip(numbered_choices(message).text, MAX_TEXT)}


def _action(choice: Choice) -> dict[str, str]:
    """A message action: pressing it sends the label as text and our wire value as postback."""
    return {
        "type": "message",
        "label": _clip(choice.label, MAX_LABEL),
        "postback": choice.wire_value,
    }


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class _Answer:
    status: int
    retry_after: str | None
    body: Any

    @property
    def token_refused(self) -> bool:
        """401, or 403 with code UNAUTHORIZED, which LINE WORKS' own samples treat alike."""
        code = self.body.get("code") if isinstance(self.body, dict) else None
        return self.status == 401 or (self.status == 403 and code == "UNAUTHORIZED")


def _result(answer: _Answer) -> SentRef:
    if 200 <= answer.status < 300:
        return SentRef()  # 201 Created, with no message id in the body
    raise _delivery_error(answer)


def _delivery_error(answer: _Answer) -> DeliveryError:
    status, body = answer.status, answer.body
    detail = ""
    if isinstance(body, dict):
        detail = " ".join(str(body[k]) for k in ("code", "description") if k in body)
    reason = f"LINE WORKS answered HTTP {status} {detail[:200]}".rstrip()
    if status == 429:
        retry_after = parse_retry_after(answer.retry_after)
        # A window that resets "in 0 s" may not have reset yet when the retry arrives.
        wait = DEFAULT_RETRY_AFTER if retry_after is None else max(1.0, retry_after)
        return DeliveryError(reason, retryable=True, retry_after=wait)
    # A token refused even when fresh is likely the platform's hiccup: try again later.
    retryable = status >= 500 or status == 408 or answer.token_refused
    return DeliveryError(reason, retryable=retryable)
