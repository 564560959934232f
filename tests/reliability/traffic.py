"""Staff conversations as a chat platform delivers them: signed, retried until acknowledged."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from tests.builders import encode, relay_payload, signed_headers

REPORT = [
    "課題を報告",
    "市民課",
    None,  # 業務名: unique per person
    None,  # 現状の課題: unique, so no report looks like another's (no similar-issue step)
    None,  # あるべき姿
    "毎日",
    "３０分",
    "３人",
    "スキップ",
    "はい",
    "送信",
]


def _unique_text(person: str, part: int) -> str:
    rng = random.Random(f"{person}:{part}")
    return "".join(chr(0x4E00 + rng.randrange(20000)) for _ in range(20))


def script_for(person: str) -> list[dict[str, Any]]:
    """The relay payloads of one full report (each a unique event id)."""
    fill = iter([f"業務{person}", _unique_text(person, 1), _unique_text(person, 2)])
    texts = [t if t is not None else next(fill) for t in REPORT]
    return [relay_payload("message", text=text, user=person) for text in texts]


@dataclass
class Traffic:
    """Delivers events like a platform: retries on errors until a 200, may repeat."""

    http: aiohttp.ClientSession
    target: Callable[[], str]  # the base URL to post to now (changes with restarts)
    acked: list[str] = field(default_factory=list)
    repeats: int = 0
    refused: int = 0
    unavailable: int = 0

    async def deliver(self, payload: dict[str, Any]) -> None:
        body = encode(payload)
        while True:
            try:
                async with self.http.post(
                    f"{self.target()}/hooks/relay",
                    data=body,
                    headers=signed_headers(body),
                    timeout=aiohttp.ClientTimeout(total=5),
                ) as response:
                    if response.status == 200:
                        self.acked.append(payload["event_id"])
                        return
                    if response.status == 503:
                        self.unavailable += 1
                    else:
                        raise AssertionError(f"unexpected {response.status}")
            except (aiohttp.ClientError, TimeoutError):
                self.refused += 1
            await asyncio.sleep(0.05)

    async def converse(
        self, person: str, rng: random.Random, *, repeat: float = 0.0, pause: float = 0.0
    ) -> None:
        """One person's report, in order; some deliveries repeated now or later."""
        late: list[dict[str, Any]] = []
        for payload in script_for(person):
            await self.deliver(payload)
            if rng.random() < repeat:
                self.repeats += 1
                if rng.random() < 0.5:
                    await self.deliver(payload)
                else:
                    late.append(payload)
            if pause:
                await asyncio.sleep(rng.uniform(0, pause))
        for payload in late:  # retries that arrive after newer messages (out of order)
            await self.deliver(payload)
