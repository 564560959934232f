"""LINE WORKS service-account tokens: a signed JWT exchanged for a cached access token.

Developer docs, "Service Account 認証 (JWT)": the JWT is RS256 with ``iss`` = client id,
``sub`` = service account, ``iat``/``exp`` in unix seconds (``exp`` at most 60 minutes after
``iat``). It is posted form-encoded to the token endpoint with ``grant_type``
``urn:ietf:params:oauth:grant-type:jwt-bearer``, ``client_id``, ``client_secret`` and
``scope``; the answer holds ``access_token`` and ``expires_in`` (seconds, sent as text).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from bot.adapters.base import DeliveryError
from bot.adapters.relay import parse_retry_after
from bot.clock import Clock, SystemClock

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPE = "bot"  # enough to send bot messages; nothing else is asked for
ASSERTION_LIFETIME = timedelta(minutes=30)  # well inside the documented 60-minute limit
# Refresh this long before the platform's expiry, so a token never dies mid-send.
REFRESH_MARGIN = timedelta(minutes=5)
DEFAULT_LIFETIME = timedelta(hours=1)  # the shorter of the two documented lifetimes


def load_private_key(path: str | Path) -> RSAPrivateKey:
    """The PEM private key issued in the Developer Console; ``ValueError`` says why not."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read the private key file {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{path} is not an RSA private key (RS256 needs one)")
    return key


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The app credentials from the Developer Console (アプリ → 認証情報)."""

    client_id: str
    client_secret: str
    service_account: str
    private_key: RSAPrivateKey

    def assertion(self, now: datetime) -> str:
        """The signed JWT that asks for an access token."""
        issued = int(now.timestamp())
        claims = {
            "iss": self.client_id,
            "sub": self.service_account,
            "iat": issued,
            "exp": issued + int(ASSERTION_LIFETIME.total_seconds()),
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256")


@dataclass(frozen=True, slots=True)
class _Token:
    value: str
    refresh_at: datetime


class AccessTokens:
    """One access token shared by all sends; the lock makes concurrent sends fetch once.

    A new token is always obtained with a fresh JWT rather than the refresh token: it needs
    nothing stored, and the private key is at hand anyway.
    """

    def __init__(
        self,
        account: ServiceAccount,
        auth_url: str,
        *,
        timeout: aiohttp.ClientTimeout,
        clock: Clock | None = None,
        scope: str = SCOPE,
    ) -> None:
        self._account = account
        self._auth_url = auth_url
        self._timeout = timeout
        self._clock: Clock = clock or SystemClock()
        self._scope = scope
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def get(self, http: aiohttp.ClientSession) -> str:
        """A valid access token, fetched only when none is cached or it is about to expire."""
        token = self._current()
        if token is not None:
            return token
        async with self._lock:
            token = self._current()  # another send may have fetched it while we waited
            if token is not None:
                return token
            fresh = await self._fetch(http)
            self._token = fresh
            return fresh.value

    def invalidate(self, value: str) -> None:
        """The platform refused ``value``; forget it unless a newer one already replaced it."""
        if self._token is not None and self._token.value == value:
            self._token = None

    def _current(self) -> str | None:
        if self._token is None or self._clock.now() >= self._token.refresh_at:
            return None
        return self._token.value

    async def _fetch(self, http: aiohttp.ClientSession) -> _Token:
        now = self._clock.now()
        form = {
            "assertion": self._account.assertion(now),
            "grant_type": GRANT_TYPE,
            "client_id": self._account.client_id,
            "client_secret": self._account.client_secret,
            "scope": self._scope,
        }
        try:
            async with http.post(self._auth_url, data=form, timeout=self._timeout) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                data = await read_json(response)
        except (aiohttp.ClientError, TimeoutError) as exc:
            reason = f"LINE WORKS token endpoint unreachable: {type(exc).__name__}"
            raise DeliveryError(reason, retryable=True) from exc
        if status == 200 and isinstance(data, dict) and isinstance(data.get("access_token"), str):
            return _Token(data["access_token"], _refresh_at(now, data))
        raise _token_error(status, data, retry_after)


def _refresh_at(now: datetime, data: dict[str, Any]) -> datetime:
    """When to fetch again: ahead of ``expires_in`` by the margin (or half a short life)."""
    try:
        seconds = float(data.get("expires_in", ""))
    except (TypeError, ValueError):
        seconds = math.nan
    lifetime = timedelta(seconds=seconds) if math.isfinite(seconds) and seconds > 0 else None
    lifetime = lifetime or DEFAULT_LIFETIME
    return now + lifetime - min(REFRESH_MARGIN, lifetime / 2)


def _token_error(status: int, data: object, retry_after: str | None) -> DeliveryError:
    detail = ""
    if isinstance(data, dict):
        detail = " ".join(str(data[k]) for k in ("error", "error_description") if k in data)
    reason = f"LINE WORKS token request answered HTTP {status} {detail}".rstrip()
    if status == 429:
        return DeliveryError(reason, retryable=True, retry_after=parse_retry_after(retry_after))
    if status >= 500 or status == 408 or status == 200:
        return DeliveryError(reason, retryable=True)
    # 400/401: wrong client id/secret, service account or key, or a badly skewed clock.
    return DeliveryError(reason + " (check the LINE WORKS app credentials)", retryable=False)


async def read_json(response: aiohttp.ClientResponse) -> Any:
    """The JSON body, or None when there is none (LINE WORKS answers 201 with no body)."""
    try:
        return await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return None
