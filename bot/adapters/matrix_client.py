"""The few Client-Server API calls the Matrix adapter makes, as its application service user.

Every call carries the ``as_token`` (``Authorization: Bearer``) and ``user_id`` = the bot, the
application service's identity assertion. Failures become ``DeliveryError``: a rate limit
(``M_LIMIT_EXCEEDED``, 429) and the homeserver's own trouble (5xx, timeouts) are retryable;
a refusal (``M_FORBIDDEN``, ``M_UNKNOWN_TOKEN`` …) is not, and its errcode is kept as the reason.
"""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import quote

import aiohttp

from bot.adapters.base import DeliveryError
from bot.adapters.relay import MAX_RETRY_AFTER, parse_retry_after

CLIENT_API = "/_matrix/client/v3"
DIRECT_EVENT = "m.direct"
MAX_NAME = 255


class HomeserverClient:
    """Calls to one homeserver as one application-service user, over an injected session."""

    def __init__(
        self, homeserver_url: str, as_token: str, user_id: str, timeout: aiohttp.ClientTimeout
    ) -> None:
        self._base = homeserver_url.rstrip("/") + CLIENT_API
        self._headers = {"Authorization": f"Bearer {as_token}"}
        self._user_id = user_id
        self._timeout = timeout

    async def send_message(
        self, http: aiohttp.ClientSession, room_id: str, txn_id: str, content: dict[str, Any]
    ) -> str | None:
        """The event id; the homeserver posts one txnId once, however often it is sent."""
        path = f"/rooms/{_seg(room_id)}/send/m.room.message/{_seg(txn_id)}"
        answer = await self._call(http, "PUT", path, content)
        event_id = answer.get("event_id")
        return event_id if isinstance(event_id, str) else None

    async def join(self, http: aiohttp.ClientSession, room_id: str) -> None:
        """Accept an invite; joining a room the bot is already in changes nothing."""
        await self._call(http, "POST", f"/rooms/{_seg(room_id)}/join", {})

    async def create_direct_room(self, http: aiohttp.ClientSession, user_id: str) -> str:
        """A private room marked as a direct chat, with ``user_id`` invited."""
        body = {"is_direct": True, "invite": [user_id], "preset": "trusted_private_chat"}
        answer = await self._call(http, "POST", "/createRoom", body)
        room_id = answer.get("room_id")
        if not isinstance(room_id, str):
            raise DeliveryError("matrix createRoom returned no room_id", retryable=True)
        return room_id

    async def joined_members(self, http: aiohttp.ClientSession, room_id: str) -> set[str]:
        answer = await self._call(http, "GET", f"/rooms/{_seg(room_id)}/joined_members")
        joined = answer.get("joined")
        return set(joined) if isinstance(joined, dict) else set()

    async def membership(self, http: aiohttp.ClientSession, room_id: str, user_id: str) -> str:
        """``join``, ``invite``, ``leave`` …; "" when unknown or the bot may not look."""
        path = f"/rooms/{_seg(room_id)}/state/m.room.member/{_seg(user_id)}"
        try:
            answer = await self._call(http, "GET", path)
        except DeliveryError as exc:
            if exc.retryable:
                raise
            return ""
        value = answer.get("membership")
        return value if isinstance(value, str) else ""

    async def display_name(self, http: aiohttp.ClientSession, user_id: str) -> str | None:
        """The person's display name; "" when unset, None when the homeserver did not answer."""
        try:
            answer = await self._call(http, "GET", f"/profile/{_seg(user_id)}/displayname")
        except DeliveryError as exc:
            return None if exc.retryable else ""
        name = answer.get("displayname")
        return name[:MAX_NAME] if isinstance(name, str) else ""

    async def direct_rooms(self, http: aiohttp.ClientSession) -> dict[str, list[str]]:
        """The bot's ``m.direct`` account data: user id → its direct rooms, oldest first."""
        path = f"/user/{_seg(self._user_id)}/account_data/{DIRECT_EVENT}"
        try:
            answer = await self._call(http, "GET", path)
        except DeliveryError as exc:
            if exc.reason.endswith("M_NOT_FOUND"):
                return {}
            raise
        return {
            user: [room for room in rooms if isinstance(room, str)]
            for user, rooms in answer.items()
            if isinstance(rooms, list)
        }

    async def set_direct_rooms(
        self, http: aiohttp.ClientSession, rooms: dict[str, list[str]]
    ) -> None:
        path = f"/user/{_seg(self._user_id)}/account_data/{DIRECT_EVENT}"
        await self._call(http, "PUT", path, rooms)

    async def _call(
        self,
        http: aiohttp.ClientSession,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self._base + path
        params = {"user_id": self._user_id}
        try:
            async with http.request(
                method,
                url,
                params=params,
                json=body,
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                try:
                    data = await response.json(content_type=None)
                except (ValueError, aiohttp.ContentTypeError):
                    data = None
                answer = data if isinstance(data, dict) else {}
                if 200 <= response.status < 300:
                    return answer
                raise failure(response.status, answer, response.headers.get("Retry-After"))
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"matrix homeserver unreachable: {type(exc).__name__}"
            raise DeliveryError(reason, retryable=True) from exc


def failure(status: int, body: dict[str, Any], retry_after: str | None) -> DeliveryError:
    """The homeserver's refusal as a DeliveryError (reason ends with the errcode)."""
    errcode = body.get("errcode")
    code = errcode if isinstance(errcode, str) else "no errcode"
    reason = f"matrix answered HTTP {status} {code}"
    if status == 429 or code == "M_LIMIT_EXCEEDED":
        # Retry-After (Matrix 1.10) first; retry_after_ms is the older, deprecated form.
        wait = parse_retry_after(retry_after)
        if wait is None:
            wait = _seconds_from_ms(body.get("retry_after_ms"))
        return DeliveryError(reason, retryable=True, retry_after=wait)
    return DeliveryError(reason, retryable=status >= 500 or status == 408)


def _seconds_from_ms(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return min(max(0.0, value / 1000), MAX_RETRY_AFTER)


def _seg(value: str) -> str:
    """One path segment: room ids (``!a:b``), user ids (``@a:b``) and txn ids escaped."""
    return quote(value, safe="")
