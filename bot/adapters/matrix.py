"""Matrix (Synapse and other homeservers) as an application service (docs/adapters/matrix.md).

The homeserver pushes ``PUT /_matrix/app/v1/transactions/{txnId}`` with ``Authorization:
Bearer <hs_token>``; dxbot answers with the as_token through the Client-Server API. Why an
application service and not a logged-in client: no /sync loop to keep alive, no access token
that expires with a password, and a homeserver that queues and resends what dxbot missed.

Choices made here, and why:

- A transaction's events are stored one Event per Matrix event, keyed by the event id, which
  is globally unique. A resent transaction (same txnId) therefore stores nothing twice, across
  restarts and instances, without keeping txnIds. ``200 {}`` is sent once all are stored.
- Direct or group: a room whose joined members are at most the bot and one person is direct.
  Member counts are looked up before parsing and forgotten whenever a member event arrives;
  ``is_direct`` on an invite is only a client's hint, and it is recorded in the bot's
  ``m.direct`` account data so reminders reuse the room the person opened.
- Invites of the bot are joined before the transaction is acknowledged: a failed join makes
  the homeserver resend it, instead of leaving the bot outside a person's DM for good.
- ``/dx …`` and ``!dx …`` are commands (Element keeps ``/`` for its own commands and asks
  before sending an unknown one; ``!`` is the usual prefix of Matrix bots).
- Replies are ``m.notice`` (the spec's type for automated messages, which other bots must not
  answer); the outbox key is the send txnId, so a retried send is shown once.
- No buttons in plain Matrix clients: choices go out as numbered lines (``buttons=False``).
- A writer's name comes from member events, else once from the profile API; a name lookup
  that fails never holds up a transaction.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Mapping

import aiohttp

from bot.adapters.base import (
    Ack,
    Batch,
    Capabilities,
    DeliveryError,
    PayloadError,
    RawRequest,
    SentRef,
    SignatureError,
)
from bot.adapters.matrix_client import HomeserverClient
from bot.adapters.matrix_inbound import (
    ADAPTER,
    IGNORED,
    Invite,
    Membership,
    endpoint,
    invites,
    membership_changes,
    message_rooms,
    message_senders,
    not_found,
    read_messages,
    transaction_events,
    unrecognized,
)
from bot.events import ConversationKind
from bot.messages import OutgoingMessage
from bot.render import numbered_choices
from config.settings import Settings

log = logging.getLogger(__name__)

# A Matrix event is at most 65,536 bytes; 10,000 characters stay under it even in 4-byte UTF-8.
MAX_TEXT = 10_000
GONE = ("leave", "ban")
# Application-service endpoints and the method each takes.
METHODS = {"transactions": "PUT", "users": "GET", "rooms": "GET", "ping": "POST"}


class MatrixAdapter:
    """One application service: reads the homeserver's transactions, posts as the bot user."""

    name = ADAPTER
    capabilities = Capabilities(buttons=False, images=False, files=False, max_text_length=MAX_TEXT)

    def __init__(
        self,
        hs_token: str,
        as_token: str,
        bot_user_id: str,
        *,
        homeserver_url: str = "http://127.0.0.1:8008",
        send_timeout_seconds: float = 10.0,
        http: aiohttp.ClientSession | None = None,
    ) -> None:
        if not hs_token.strip():
            raise ValueError("the Matrix hs_token must not be empty")
        self._hs_token = hs_token
        self.bot_user_id = bot_user_id
        timeout = aiohttp.ClientTimeout(total=send_timeout_seconds)
        self._client = HomeserverClient(homeserver_url, as_token, bot_user_id, timeout)
        self._http = http
        self._owns_http = http is None
        self._kinds: dict[str, ConversationKind] = {}  # room id → direct/group
        self._direct: dict[str, str] = {}  # user id → the direct room replies go to
        self._names: dict[str, str] = {}  # user id → display name
        self._account_data = asyncio.Lock()

    # -- inbound -------------------------------------------------------------------------

    def verify(self, request: RawRequest, now: float) -> None:
        """The hs_token from ``Authorization: Bearer`` and/or the legacy ``access_token``."""
        supplied = [t for t in (_bearer(request.headers), request.query.get("access_token")) if t]
        if not supplied:
            raise SignatureError("no hs_token in Authorization or access_token", status=401)
        expected = self._hs_token.encode("utf-8")
        for token in supplied:  # both must match when both are sent
            if not hmac.compare_digest(token.encode("utf-8", "replace"), expected):
                raise SignatureError("hs_token does not match", status=403)

    async def prepare(self, request: RawRequest) -> None:
        """Before parsing: join invites, count each messaged room, look up each writer's name."""
        if endpoint(request.path)[0] != "transactions" or request.method != "PUT":
            return
        try:
            events = transaction_events(request.body)
        except PayloadError:
            return  # ``parse`` answers 400
        http = self._session()
        for invite in invites(events, self.bot_user_id):
            await self._join(http, invite)
        for change in membership_changes(events):
            self._forget(change)
        for room_id in message_rooms(events, self.bot_user_id) - self._kinds.keys():
            self._kinds[room_id] = await self._kind(http, room_id)
        for user_id in message_senders(events, self.bot_user_id) - self._names.keys():
            name = await self._client.display_name(http, user_id)  # a name is worth no 503
            if name is not None:
                self._names[user_id] = name

    def parse(self, request: RawRequest) -> Ack | Batch:
        kind, arg = endpoint(request.path)
        if kind not in METHODS:
            return unrecognized()
        if request.method != METHODS[kind]:
            return unrecognized(405)
        if kind == "users":
            return IGNORED if arg == self.bot_user_id else not_found("user")
        if kind == "rooms":
            return not_found("room alias")  # dxbot claims no aliases
        if kind == "ping":
            return IGNORED
        events = transaction_events(request.body)
        # A room ``prepare`` could not count is a group: a form never starts there by mistake.
        messages = read_messages(
            events, self.bot_user_id, lambda r: self._kinds.get(r, "group"), self._names.get
        )
        return Batch(messages, IGNORED)

    async def _join(self, http: aiohttp.ClientSession, invite: Invite) -> None:
        try:
            await self._client.join(http, invite.room_id)
            if invite.is_direct and invite.inviter:
                await self._remember_direct(http, invite.inviter, invite.room_id)
        except DeliveryError as exc:
            if exc.retryable:
                raise  # 503: the homeserver resends the invite
            log.warning("could not join matrix room %s: %s", invite.room_id, exc.reason)

    def _forget(self, change: Membership) -> None:
        """A member event: the room's size may differ, a left DM is not a DM any more."""
        self._kinds.pop(change.room_id, None)
        if change.display_name:
            self._names[change.user_id] = change.display_name
        if change.membership in GONE:
            gone = change.user_id
            for user_id, room_id in list(self._direct.items()):
                if room_id == change.room_id and gone in (user_id, self.bot_user_id):
                    del self._direct[user_id]

    async def _kind(self, http: aiohttp.ClientSession, room_id: str) -> ConversationKind:
        try:
            members = await self._client.joined_members(http, room_id)
        except DeliveryError as exc:
            if exc.retryable:
                raise
            log.warning("could not count matrix room %s: %s", room_id, exc.reason)
            return "group"
        return "direct" if len(members - {self.bot_user_id}) <= 1 else "group"

    # -- outbound ------------------------------------------------------------------------

    async def send(self, message: OutgoingMessage, idempotency_key: str) -> SentRef:
        """Post as ``m.notice``; the outbox key is the txnId, so a retry is not shown twice."""
        http = self._session()
        room_id = message.conversation_id or await self._direct_room(http, message.user_id)
        content = {"msgtype": "m.notice", "body": numbered_choices(message).text}
        event_id = await self._client.send_message(http, room_id, idempotency_key, content)
        return SentRef(message_id=event_id)

    async def _direct_room(self, http: aiohttp.ClientSession, user_id: str | None) -> str:
        """The bot's direct room with ``user_id``: remembered, from ``m.direct``, or new."""
        if not user_id:
            raise DeliveryError("matrix message has no room and no user", retryable=False)
        known = self._direct.get(user_id)
        if known is not None:
            return known
        async with self._account_data:
            rooms = (await self._client.direct_rooms(http)).get(user_id, [])
            for room_id in reversed(rooms):  # the newest first
                if await self._client.membership(http, room_id, user_id) in ("join", "invite"):
                    self._direct[user_id] = room_id
                    return room_id
            room_id = await self._client.create_direct_room(http, user_id)
            await self._record_direct(http, user_id, room_id)
        return room_id

    async def _remember_direct(self, http: aiohttp.ClientSession, user_id: str, room: str) -> None:
        async with self._account_data:
            await self._record_direct(http, user_id, room)

    async def _record_direct(self, http: aiohttp.ClientSession, user_id: str, room: str) -> None:
        """Add ``room`` to ``m.direct`` (read, change, write: hold ``_account_data``)."""
        self._direct[user_id] = room
        rooms = await self._client.direct_rooms(http)
        if room not in rooms.get(user_id, []):
            rooms[user_id] = [*rooms.get(user_id, []), room]
            await self._client.set_direct_rooms(http, rooms)

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession()
            self._owns_http = True
        return self._http

    async def close(self) -> None:
        if self._owns_http and self._http is not None:
            await self._http.close()


def from_settings(settings: Settings) -> MatrixAdapter | None:
    """The adapter when an hs_token is set; ``ValueError`` names each missing variable."""
    mx = settings.matrix
    if not mx.enabled or mx.hs_token is None:
        return None
    as_token = mx.as_token.get_secret_value() if mx.as_token else ""
    missing = [
        name
        for name, value in (
            ("DXBOT_MATRIX_AS_TOKEN", as_token.strip()),
            ("DXBOT_MATRIX_BOT_USER_ID", mx.bot_user_id),
        )
        if not value
    ]
    if missing or mx.bot_user_id is None:
        raise ValueError(
            "Matrix is enabled (DXBOT_MATRIX_HS_TOKEN is set) but these are not set: "
            + ", ".join(missing)
        )
    return MatrixAdapter(
        mx.hs_token.get_secret_value(),
        as_token,
        mx.bot_user_id,
        homeserver_url=mx.homeserver_url,
        send_timeout_seconds=mx.send_timeout_seconds,
    )


def _bearer(headers: Mapping[str, str]) -> str:
    """The token of ``Authorization: Bearer …`` (header name and scheme are case-insensitive)."""
    value = next((v for k, v in headers.items() if k.lower() == "authorization"), "")
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
