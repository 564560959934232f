"""`dxbot serve` as a real process: env-only start, signed traffic, kill -9, SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp

from tests.builders import RELAY_SECRET, encode, relay_payload, signed_headers
from tests.fakes import FakeRelayPlatform
from tests.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    def __init__(self, database_url: str, outbound: str, log: Path) -> None:
        self.port = _free_port()
        self.log = log
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DXBOT_DATABASE_URL": database_url,
            "DXBOT_HTTP_PORT": str(self.port),
            "DXBOT_RELAY_SECRET": RELAY_SECRET,
            "DXBOT_RELAY_OUTBOUND_URL": outbound,
            "DXBOT_RELAY_OUTBOUND_TOKEN": "outbound-token",
            "DXBOT_RELAY_SEND_TIMEOUT_SECONDS": "1",
            "DXBOT_OUTBOX_BASE_DELAY_SECONDS": "0.05",
            "DXBOT_OUTBOX_POLL_INTERVAL_SECONDS": "0.1",
            "DXBOT_OUTBOX_LEASE_SECONDS": "2",
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self, http: aiohttp.ClientSession) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - starts at once, never waits
                [sys.executable, "-m", "bot.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        for _ in range(200):
            try:
                async with http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            if self.proc.poll() is not None:
                raise AssertionError(self.output())
            await asyncio.sleep(0.05)
        raise AssertionError("server did not become healthy")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@asynccontextmanager
async def platform() -> AsyncIterator[FakeRelayPlatform]:
    fake = await FakeRelayPlatform().start()
    try:
        yield fake
    finally:
        await fake.stop()


async def _post(http: aiohttp.ClientSession, server: Server, payload: dict) -> int:  # type: ignore[type-arg]
    body = encode(payload)
    async with http.post(
        f"{server.url}/hooks/relay", data=body, headers=signed_headers(body)
    ) as response:
        return response.status


async def test_serve_from_env_alone_answers_and_stops_gracefully(
    database_url: str, tmp_path: Path
) -> None:
    async with platform() as fake, aiohttp.ClientSession() as http:
        server = Server(database_url, fake.url, tmp_path / "serve.log")
        await server.start(http)
        assert await _post(http, server, relay_payload(text="ヘルプ")) == 200
        await eventually(lambda: len(fake.deliveries) == 1)
        delivery = fake.deliveries[0]
        assert delivery.authorization == "Bearer outbound-token"
        assert delivery.body["conversation_id"] == "dm-U001"
        assert "できること" in delivery.body["text"]
        assert server.kill(signal.SIGTERM) == 0
        log = server.output()
        assert "stopped" in log
        assert RELAY_SECRET not in log and "outbound-token" not in log


async def test_kill_9_after_ack_loses_nothing_and_sends_once(
    database_url: str, tmp_path: Path
) -> None:
    """Replies stuck behind a hanging platform survive kill -9 and go out after restart."""
    async with platform() as fake, aiohttp.ClientSession() as http:
        fake.hang_seconds = 3
        fake.script.extend(["hang"] * 3)
        server = Server(database_url, fake.url, tmp_path / "serve.log")
        await server.start(http)
        users = [f"U{i}" for i in range(5)]
        for user in users:
            assert await _post(http, server, relay_payload(text="ヘルプ", user=user)) == 200
        await eventually(lambda: fake.requests >= 1)
        server.kill(signal.SIGKILL)
        fake.script.clear()

        restarted = Server(database_url, fake.url, tmp_path / "serve.log")
        await restarted.start(http)
        await eventually(lambda: len({d.body["conversation_id"] for d in fake.deliveries}) == 5)
        await asyncio.sleep(0.5)
        assert restarted.kill(signal.SIGTERM) == 0
    by_conversation: dict[str, set[str]] = {}
    for delivery in fake.deliveries:
        by_conversation.setdefault(delivery.body["conversation_id"], set()).add(
            delivery.idempotency_key
        )
    # Every user got the reply; any repeat carried the same idempotency key.
    assert sorted(by_conversation) == sorted(f"dm-{u}" for u in users)
    assert all(len(keys) == 1 for keys in by_conversation.values())
