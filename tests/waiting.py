"""Waiting in tests for something that happens in the background (a loop, a server)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

POLL_SECONDS = 0.01


async def eventually(
    condition: Callable[[], bool | Awaitable[bool]], seconds: float = 15.0
) -> None:
    """Return once ``condition()`` (plain or a coroutine function) is true; fail after
    ``seconds``. The bound only stops a hang: it is not what the test measures."""
    deadline = time.monotonic() + seconds
    while True:
        held = condition()
        if inspect.isawaitable(held):
            held = await held
        if held:
            return
        if time.monotonic() >= deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(POLL_SECONDS)
