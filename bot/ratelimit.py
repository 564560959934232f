"""Per-person rate limit: someone flooding the bot is slowed down, nobody else notices.

A token bucket per (platform, user) in this process; over the limit the event is
acknowledged and skipped, and the person is told once per burst to slow down.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.context import Context

Next = Callable[[], Awaitable[None]]
MAX_TRACKED = 10_000  # people remembered at once; the idlest are forgotten first


@dataclass(slots=True)
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class RateLimit:
    def __init__(self, per_second: float, burst: int) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[tuple[str, str], _Bucket] = {}

    def allow(self, key: tuple[str, str], now: float) -> tuple[bool, bool]:
        """(allowed, warn now): take a token if there is one."""
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_TRACKED:
                oldest = min(self._buckets, key=lambda k: self._buckets[k].updated)
                del self._buckets[oldest]
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    async def middleware(self, ctx: Context, next: Next) -> None:
        now = ctx.app.clock.now().timestamp()
        allowed, warn = self.allow((ctx.event.adapter, ctx.event.user.id), now)
        if allowed:
            await next()
        elif warn:
            await ctx.say(ctx.t("errors.slow_down"))
