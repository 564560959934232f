"""A platform's send pace: a token bucket a little below its rate limit, slowed by 429s.

Used by the outbox dispatcher (``bot.dispatcher``), one per adapter.
"""

from __future__ import annotations

import asyncio
import math

from config.settings import RateLimitSettings

PACE = 0.98  # share of a platform's limit aimed at, so timing jitter does not earn 429s
SLOWEST = 0.5  # repeated 429s never slow an adapter below this share of its limit
SLOW_DOWN = 0.9  # a 429 multiplies the share by this ...
SPEED_UP = 0.002  # ... and each delivered message gives this much back, up to PACE
TOKEN_SLACK = 1e-6  # float rounding of timestamps must not leave a token forever at 0.9999…


class Pacer:
    """One adapter's send pace: a token bucket below its rate limit, and 429 pauses.

    Times are seconds (the dispatcher's clock, as a timestamp). Tokens are taken when a
    send starts, not when it is planned, so a send delayed by a busy event loop cannot be
    followed by one that "catches up" inside the platform's window. ``lock`` queues the
    senders: one waits on the clock at a time, the others behind it in claim order.
    """

    def __init__(self, limit: RateLimitSettings | None, now: float, max_pause: float) -> None:
        self.limit = limit.per_minute / 60 if limit is not None else None
        # One token of the platform's burst is kept in reserve: it absorbs the jitter in
        # arrival times that would otherwise turn a send on the dot into a 429.
        self.burst = max(1, limit.burst - 1) if limit is not None else 0
        self.max_pause = max_pause
        # Start as if just slowed by a 429: how full the platform's own bucket is, is unknown
        # (another process, a restart), and the first sends open new connections, which
        # bunches their arrivals. The pace reaches PACE within about 50 deliveries.
        self.share = PACE * SLOW_DOWN
        self.tokens = float(self.burst)
        self.updated = now
        self.blocked_until = 0.0
        self.waiting: set[int] = set()  # claimed rows that have not started sending yet
        self.lock = asyncio.Lock()

    @property
    def rate(self) -> float | None:
        """Sends a second aimed at now, or None when the adapter is not paced."""
        return None if self.limit is None else self.limit * self.share

    def _refill(self, now: float) -> None:
        if now < self.updated:  # the clock was set back: count from here, pause no longer
            self.updated = now
            self.blocked_until = min(self.blocked_until, now + self.max_pause)
            return
        rate = self.rate
        if rate is not None:
            since = max(self.updated, min(self.blocked_until, now))  # nothing refills in a pause
            self.tokens = min(float(self.burst), self.tokens + (now - since) * rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until a send may start; 0 when one may start now."""
        self._refill(now)
        blocked = max(0.0, self.blocked_until - now)
        rate = self.rate
        if rate is None or self.tokens >= 1 - TOKEN_SLACK:
            return blocked
        # Whole microseconds, rounded up: the clock has no finer steps.
        return max(blocked, math.ceil((1 - self.tokens) / rate * 1e6 + 1) / 1e6)

    def take(self, now: float) -> None:
        self._refill(now)
        if self.rate is not None:
            self.tokens -= 1

    def allowance(self, now: float, horizon: float) -> int | None:
        """Rows worth claiming: what can start within ``horizon``; None means no limit."""
        if now < self.blocked_until:
            return 0
        rate = self.rate
        if rate is None:
            return None
        self._refill(now)
        return max(0, math.floor(self.tokens + rate * horizon) - len(self.waiting))

    def limited(self, now: float, pause: float) -> None:
        """The platform answered 429: nothing before ``pause`` is over, then a slower pace."""
        self._refill(now)
        self.blocked_until = max(self.blocked_until, now + pause)
        if self.limit is not None:
            self.share = max(SLOWEST, self.share * SLOW_DOWN)
            self.tokens = 1.0  # Retry-After means one send is welcome when the pause ends

    def delivered(self) -> None:
        if self.limit is not None:
            self.share = min(PACE, self.share + SPEED_UP)
