"""A TCP proxy in front of PostgreSQL that a test can cut (the database "goes away": sockets
close) or freeze (a firewall forgets the connections: packets vanish, nothing closes)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from tests.reliability.cluster import free_port


class CuttableProxy:
    def __init__(self, target_port: int = 5432) -> None:
        self.port = free_port()
        self._target = target_port
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()
        self._open: set[asyncio.StreamWriter] = set()  # every socket, until really closed
        self._accepted = 0  # connections so far; each has its number
        self._dead_below = 0  # connections numbered below this forward nothing, ever
        self._frozen = False

    def url_for(self, url: str) -> str:
        """``url`` (a database on 127.0.0.1:5432) reached through this proxy."""
        return url.replace("127.0.0.1:5432", f"127.0.0.1:{self.port}")

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def cut(self) -> None:
        """Refuse new connections and drop the open ones."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._pipes):
            writer.close()
        self._pipes.clear()
        await self.close_all()

    def freeze(self) -> None:
        """Silently drop every open connection for good, and new ones until ``thaw``: what was
        sent is never delivered, and neither side hears of it (no FIN, no RST)."""
        self._frozen = True
        self._dead_below = self._accepted

    def thaw(self) -> None:
        """New connections work again; those dropped by ``freeze`` stay dead."""
        self._frozen = False
        self._dead_below = self._accepted

    def _dead(self, number: int) -> bool:
        return self._frozen or number < self._dead_below

    async def close_all(self) -> None:
        writers, self._open = list(self._open), set()
        for writer in writers:
            writer.close()
        await asyncio.gather(*(w.wait_closed() for w in writers), return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self._target)
        except OSError:
            writer.close()
            return
        self._pipes |= {writer, up_writer}
        self._open |= {writer, up_writer}
        number, self._accepted = self._accepted, self._accepted + 1
        await asyncio.gather(
            self._pump(reader, up_writer, number),
            self._pump(up_reader, writer, number),
            return_exceptions=True,
        )

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int
    ) -> None:
        try:
            while data := await reader.read(65536):
                if self._dead(number):
                    continue  # lost on the way
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            self._pipes.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()


@pytest.fixture(name="proxy")
async def proxy_fixture() -> AsyncIterator[CuttableProxy]:
    """A started proxy in front of the machine's PostgreSQL, cut at the end of the test."""
    started = CuttableProxy()
    await started.start()
    yield started
    await started.cut()
