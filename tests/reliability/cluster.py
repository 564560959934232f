"""Real ``dxbot serve`` processes for fault tests: start, kill -9, SIGTERM, restart."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import ClassVar

import aiohttp

from tests.builders import RELAY_SECRET

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServeProcess:
    """One ``dxbot serve`` on 127.0.0.1, configured by environment variables only."""

    started: ClassVar[list[ServeProcess]] = []  # so a failed test still stops them all

    def __init__(self, database_url: str, outbound: str, log: Path, **env: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "DXBOT_DATABASE_URL": database_url,
            "DXBOT_HTTP_PORT": str(self.port),
            "DXBOT_RELAY_SECRET": RELAY_SECRET,
            "DXBOT_RELAY_OUTBOUND_URL": outbound,
            "DXBOT_RELAY_OUTBOUND_TOKEN": "outbound-token",
            "DXBOT_RELAY_SEND_TIMEOUT_SECONDS": "2",
            "DXBOT_OUTBOX_BASE_DELAY_SECONDS": "0.05",
            "DXBOT_OUTBOX_MAX_DELAY_SECONDS": "1",
            "DXBOT_OUTBOX_MAX_ATTEMPTS": "50",
            "DXBOT_OUTBOX_POLL_INTERVAL_SECONDS": "0.1",
            "DXBOT_OUTBOX_LEASE_SECONDS": "3",
            "DXBOT_INBOX_POLL_INTERVAL_SECONDS": "0.1",
            "DXBOT_DATABASE_SQLITE_SYNCHRONOUS": "NORMAL",
            **env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    async def start(self, http: aiohttp.ClientSession, seconds: float = 30) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(  # noqa: ASYNC220 - returns at once
                [sys.executable, "-m", "bot.cli", "serve"],
                env=self.env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.starts += 1
        ServeProcess.started.append(self)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while loop.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"dxbot serve exited:\n{self.output()[-3000:]}")
            try:
                async with http.get(f"{self.url}/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("dxbot serve did not become healthy")

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    @classmethod
    def stop_all(cls) -> None:
        """Kill (by PID) every process a test started and left running."""
        for server in cls.started:
            if server.alive:
                server.kill(signal.SIGKILL)
        cls.started.clear()

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")
